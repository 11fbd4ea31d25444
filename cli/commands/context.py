"""What every command needs from the invocation: the settings and an open workspace."""

from __future__ import annotations

import shlex

import typer

from pipeline.settings import Settings, load_settings
from pipeline.workspace import Workspace

# Commands that may start a data home from nothing; every other one needs its catalog to exist
# already, so that a mistyped --home is an error instead of a new, empty catalog.
CREATING_COMMANDS = frozenset({"import", "scrape", "run"})


def settings_from(ctx: typer.Context) -> Settings:
    """Return the settings for this invocation, honouring the global ``--home``."""
    home = (ctx.find_root().obj or {}).get("home")
    return load_settings(home=home)


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
