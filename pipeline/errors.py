"""Exceptions that carscout raises for problems a user can fix.

The CLI prints any :class:`CarscoutError` as one line (no traceback) and exits non-zero,
so every message should say what went wrong *and* what to do about it.
"""


class CarscoutError(Exception):
    """A problem with the user's input, configuration or data that they can fix."""


class ConfigError(CarscoutError):
    """Settings, a spec file or a command-line option is wrong."""


class CatalogError(CarscoutError):
    """The catalog cannot be opened, upgraded or written."""


class IntakeRejected(CarscoutError):
    """An image was not stored; ``reason`` is a short machine-friendly code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
