"""Whether a process still runs, for code that cleans up after a killed one."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """Return True when a process with ``pid`` exists (one owned by another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
