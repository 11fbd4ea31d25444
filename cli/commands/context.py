"""What every command needs from the invocation: the settings and an open workspace."""

from __future__ import annotations

import typer

from pipeline.settings import Settings, load_settings
from pipeline.workspace import Workspace


def settings_from(ctx: typer.Context) -> Settings:
    """Return the settings for this invocation, honouring the global ``--home``."""
    home = (ctx.find_root().obj or {}).get("home")
    return load_settings(home=home)


def workspace_from(ctx: typer.Context) -> Workspace:
    """Return an open workspace for this invocation (use it as a context manager)."""
    return Workspace.open(settings_from(ctx))
