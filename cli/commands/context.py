"""What every command needs from the invocation: the settings and an open workspace."""

from __future__ import annotations

import shlex

import typer

from pipeline.errors import ConfigError
from pipeline.settings import Settings, load_settings
from pipeline.workspace import Workspace

# Commands that may start a data home from nothing; every other one needs its catalog to exist
# already, so that a mistyped --home is an error instead of a new, empty catalog.
CREATING_COMMANDS = frozenset({"import", "scrape", "run"})


# Commands whose heavy stages a --cluster flag spreads (status shows the runner).
CLUSTER_COMMANDS = frozenset(
    {"run", "import", "dedup", "score", "split", "check-leaks", "status"}
    | {"schedule scrape", "schedule retrain"}
)


def settings_from(ctx: typer.Context) -> Settings:
    """Return the settings for this invocation, honouring the global ``--home`` and
    ``--cluster`` (refused, with one line, on a command that has nothing to spread)."""
    root = ctx.find_root().obj or {}
    cluster = root.get("cluster")
    command = " ".join(ctx.command_path.split()[1:])
    if cluster is not None and command not in CLUSTER_COMMANDS:
        raise ConfigError(
            f"--cluster does nothing for `carscout {command}`: it applies to run, import, "
            "dedup, score, split, check-leaks and schedule scrape|retrain"
        )
    return load_settings(home=root.get("home"), cluster=cluster)


def workspace_from(ctx: typer.Context, *, create: bool | None = None) -> Workspace:
    """Return an open workspace for this invocation (use it as a context manager).

    ``create`` None lets the command decide: ``import``, ``scrape`` and ``run`` create a missing
    catalog, the others raise "no catalog at X" (see :func:`pipeline.workspace.require_catalog`).
    """
    if create is None:
        create = ctx.info_name in CREATING_COMMANDS
    return Workspace.open(settings_from(ctx), create=create)


def global_options(ctx: typer.Context) -> str:
    """Return the global options in force, ready to repeat in a hint (``"--home /x "`` or "")."""
    home = (ctx.find_root().obj or {}).get("home")
    return f"--home {shlex.quote(str(home))} " if home is not None else ""


def hint(ctx: typer.Context, command: str) -> str:
    """Return ``carscout <global options><command>``, e.g. ``carscout --home x review``."""
    return f"carscout {global_options(ctx)}{command}"


def comma_list(text: str | None) -> list[str]:
    """Return the non-empty, stripped items of a comma-separated option (``"a, b,"`` → a, b)."""
    return [item.strip() for item in (text or "").split(",") if item.strip()]
