"""Finding and checking the long-running Prefect server that scheduled runs need.

The temporary server Prefect starts for a single flow call cannot schedule, so
:func:`require_server` refuses to go on without a reachable one (``prefect server start`` and
``PREFECT_API_URL``); :func:`open_client` opens a sync API client after that check.
"""

from __future__ import annotations

from typing import Any

from pipeline.errors import ConfigError

_SERVER_FIX = (
    "start one with `prefect server start` (keep it running) and point carscout at it with "
    "`prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api`"
)


def prefect_api_url() -> str | None:
    """Return the configured ``PREFECT_API_URL`` (environment or Prefect profile), or None."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


def require_server(timeout: float = 5.0) -> str:
    """Return the API URL of a reachable, long-running Prefect server.

    Raises ConfigError (naming the fix) when ``PREFECT_API_URL`` is unset, so Prefect would
    start a temporary server that never schedules anything, or when nothing answers there.
    """
    import httpx

    url = prefect_api_url()
    if not url:
        raise ConfigError(
            "scheduled runs need a long-running Prefect server and PREFECT_API_URL is not set: "
            + _SERVER_FIX
        )
    try:
        response = httpx.get(url.rstrip("/") + "/health", timeout=timeout)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        reason = type(exc).__name__ if not str(exc) else str(exc)
        raise ConfigError(
            f"no Prefect server answers at PREFECT_API_URL={url} ({reason}): " + _SERVER_FIX
        ) from None
    return url


def open_client() -> Any:
    """Return a sync Prefect API client for the checked server (use it as a context manager)."""
    from prefect.client.orchestration import get_client

    require_server()
    return get_client(sync_client=True)
