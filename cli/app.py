"""The ``carscout`` command: a thin typer app over the library functions.

Each stage keeps its commands in ``cli/commands/<stage>.py`` with a ``register(app)``
function; this module wires them up explicitly so the call graph stays visible.
"""

from __future__ import annotations

import os
import sys

# TensorFlow reads this when it is first imported, wherever that happens.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

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
) -> None:
    """Options shared by every command."""
    ctx.obj = {"home": home}


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
    from cli.commands import review_cmds

    review_cmds.register(app)
    from cli.commands import dedup_cmds

    dedup_cmds.register(app)


_register_commands()


def main() -> None:
    """Console entry point: run the app, turning user mistakes into one clear line."""
    try:
        app()  # standalone mode: typer itself reports usage errors (exit 2)
    except CarscoutError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
