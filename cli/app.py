"""The ``carscout`` command: a thin typer app over the library functions.

Each stage keeps its commands in ``cli/commands/<stage>.py`` with a ``register(app)``
function; this module wires them up explicitly so the call graph stays visible.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperArgument, TyperOption

from pipeline import process_env
from pipeline.errors import CarscoutError

app = typer.Typer(
    name="carscout",
    help="Build a car-model image classifier from the open web: scrape, catalog, dedup, "
    "review, split and train.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


@app.callback()
def _global_options(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            help="Data home holding catalog.sqlite and the image store "
            "(default: $CARSCOUT_HOME, then carscout.toml, then ./data).",
        ),
    ] = None,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Show the full traceback of an error (for bug reports)."),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            help="Let TensorFlow's and absl's own log lines through (hidden by default).",
        ),
    ] = False,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="Dask scheduler (tcp://HOST:8786) that run, import, dedup, score and schedule "
            "spread their heavy stages over; 'local' for none (default: $CARSCOUT_CLUSTER, "
            "then carscout.toml).",
        ),
    ] = None,
) -> None:
    """Options shared by every command."""
    if verbose:  # main() has set the environment already; this is for in-process callers
        process_env.configure(verbose=True)
    ctx.obj = {"home": home, "debug": debug, "cluster": cluster, "verbose": verbose}


def _register_commands() -> None:
    from cli.commands import catalog_cmds

    catalog_cmds.register(app)
    from cli.commands import split_cmds

    split_cmds.register(app)
    from cli.commands import demo_site

    demo_site.register(app)
    from cli.commands import scrape_cmds

    scrape_cmds.register(app)

    from cli.commands import training_cmds

    training_cmds.register(app)
    from cli.commands import flow_cmds

    flow_cmds.register(app)
    from cli.commands import schedule_cmds

    schedule_cmds.register(app)
    from cli.commands import review_cmds

    review_cmds.register(app)
    from cli.commands import dedup_cmds

    dedup_cmds.register(app)


_register_commands()

# Global options (``--home X``, ``--debug``, ``--verbose``) may also follow the command:
# ``carscout scrape --home X`` works like ``carscout --home X scrape``.
GLOBAL_VALUE_OPTIONS = ("--home", "--cluster")
GLOBAL_FLAGS = ("--debug", "--verbose")


def hoist_global_options(args: list[str], command: Any = None) -> list[str]:
    """Return ``args`` with global options found after the command moved in front of it.

    ``["scrape", "--home", "x", "--site", "demo"]`` → ``["--home", "x", "scrape", "--site",
    "demo"]``. Arguments after ``--`` stay where they are, and so does an option with no value.
    Given the click ``command`` tree, the value of a subcommand's own option stays with it even
    when it reads ``--home`` (``review apply --note --home f.csv`` keeps ``--home`` as the note).
    """
    position = 0
    while position < len(args):  # skip the global options already in front
        arg = args[position]
        if arg in GLOBAL_VALUE_OPTIONS:
            position += 2
        elif arg in GLOBAL_FLAGS or arg.split("=", 1)[0] in GLOBAL_VALUE_OPTIONS:
            position += 1
        else:
            break
    front, rest, moved = args[:position], [], []
    group = command
    takes_value: set[str] = set()
    own_flags: set[str] = set()  # a command's own --verbose stays its own
    index = position
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest.extend(args[index:])
            break
        if arg in takes_value and arg not in GLOBAL_VALUE_OPTIONS and index + 1 < len(args):
            rest += args[index : index + 2]
            index += 2
            continue
        if arg in GLOBAL_VALUE_OPTIONS and index + 1 < len(args):
            moved += args[index : index + 2]
            index += 2
            continue
        if (
            arg in GLOBAL_FLAGS
            and arg not in own_flags
            or (arg.split("=", 1)[0] in GLOBAL_VALUE_OPTIONS and "=" in arg)
        ):
            moved.append(arg)
        else:
            rest.append(arg)
            if not arg.startswith("-") and hasattr(group, "commands"):
                group = group.commands.get(arg)
                takes_value |= _options_taking_a_value(group)
                own_flags |= _option_names(group) & set(GLOBAL_FLAGS)
        index += 1
    return front + moved + rest


def _options_taking_a_value(command: Any) -> set[str]:
    """Return the option strings of the click ``command`` that take a value (flags excluded)."""
    # Duck-typed: typer vendors its own click, so click's classes are not the ones used here.
    return {
        name
        for param in getattr(command, "params", ())
        if getattr(param, "is_flag", True) is False and not getattr(param, "count", False)
        for name in (*param.opts, *param.secondary_opts)
        if name.startswith("-")
    }


def _option_names(command: Any) -> set[str]:
    """Return every option string of the click ``command``, flags included."""
    return {
        name
        for param in getattr(command, "params", ())
        for name in (*param.opts, *param.secondary_opts)
        if name.startswith("-")
    }


class _FlagOption(TyperOption):
    """A flag: its help shows no ``<bool>`` value, since it takes none."""

    def display_type_rich(self, ctx: typer.Context) -> str | None:  # type: ignore[override]
        """Return None: a flag takes no value to describe."""
        return None


class _Argument(TyperArgument):
    """A positional argument shown as ``NAME`` in the usage line and the help alike."""

    @property
    def display_name_raw(self) -> str:
        """Return the argument's name in capitals (``FOLDER``), as help texts refer to it."""
        return self.metavar or (self.name or "").upper()

    def _usage_display_name(self) -> str:
        name = self.display_name_raw + ("..." if self.nargs != 1 else "")
        return name if self.required else f"[{name}]"

    def display_type_rich(self, ctx: typer.Context) -> str | None:  # type: ignore[override]
        """Return the type of one value (``<path>``), not of the list a variadic one takes."""
        label = self.display_type(ctx)
        return label.replace("list[", "").replace("]", "").lower() if "list[" in label else label


def tidy_help(command: object) -> object:
    """Return ``command`` (a click command tree) with flags and arguments shown plainly.

    Typer's help shows ``<bool>`` after every flag, ``<list[Path]>`` for a variadic argument
    and ``{folder}`` in usage lines while help texts say FOLDER; the parameters are switched to
    subclasses that only change how they are displayed.
    """
    help_option = command.get_help_option(typer.Context(command))  # type: ignore[attr-defined]
    for param in [*getattr(command, "params", []), help_option]:
        if isinstance(param, TyperOption) and param.is_flag:
            param.__class__ = _FlagOption
        elif isinstance(param, TyperArgument):
            param.__class__ = _Argument
    for sub in (getattr(command, "commands", None) or {}).values():
        tidy_help(sub)
    return command


def _debug_requested(args: list[str]) -> bool:
    return "--debug" in args[: args.index("--")] if "--" in args else "--debug" in args


def main() -> None:
    """Console entry point: run the app, turning user mistakes into one clear line.

    A :class:`CarscoutError` prints as ``error: …`` (exit 1); any other exception prints one
    line naming it as a bug (the traceback only with ``--debug``); Ctrl-C exits 130.
    """
    # Before any command imports TensorFlow or Prefect, which read the environment once.
    process_env.configure(verbose=process_env.verbose_requested(sys.argv[1:]))
    command = tidy_help(typer.main.get_command(app))
    args = hoist_global_options(sys.argv[1:], command)
    debug = _debug_requested(args)
    try:
        # standalone mode: click itself reports usage errors (exit 2) and Ctrl-C (exit 1)
        command.main(args=args, prog_name="carscout")  # type: ignore[attr-defined]
    except CarscoutError as exc:
        if debug:
            traceback.print_exc()
        _error(str(exc))
        sys.exit(1)
    except OSError as exc:
        # A file problem that no command anticipated: still one line, naming the file.
        if debug:
            traceback.print_exc()
        where = f" {exc.filename}" if exc.filename else ""
        _error(f"{exc.strerror or exc}:{where} (rerun with --debug for the details)")
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - the last line of defence against a traceback
        if debug:
            traceback.print_exc()
        _error(
            f"unexpected {type(exc).__name__}: {exc} — a carscout bug; rerun with --debug and "
            "report the traceback"
        )
        sys.exit(1)


def _error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
