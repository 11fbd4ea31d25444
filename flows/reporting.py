"""Prefect artifacts for the flows: Markdown tables of counts and metrics."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from prefect.artifacts import create_markdown_artifact
from prefect.context import get_run_context


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Return a GitHub-style Markdown table, e.g. ``| a | b |`` / ``|---|---|`` / rows."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value).replace("|", "\\|")


def publish(key: str, title: str, body: str) -> str | None:
    """Attach a Markdown artifact to the running flow or task; return its markdown.

    Outside a Prefect run (a plain function call) nothing is published and None is returned.
    """
    try:
        get_run_context()
    except RuntimeError:
        return None
    markdown = f"# {title}\n\n{body}\n"
    create_markdown_artifact(markdown=markdown, key=key, description=title)
    return markdown
