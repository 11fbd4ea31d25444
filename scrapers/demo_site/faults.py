"""Fault switches for the demo site, and the deterministic dice that decide when they fire.

Transport faults (``server_error``, ``rate_limit``, ``slow``) are drawn per request and path
attempt, and never fire more than ``max_consecutive`` times in a row on one path, so a client
that retries always gets through. Photo faults (``truncated_jpeg``, ``html_as_jpeg``,
``huge_image``, ``missing_photo``, ``redirect_loop``) are fixed per photo id and apply to the
full-size URL only, so a test can know in advance which photos are broken.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, fields, replace

from pipeline.errors import ConfigError

TRANSPORT_FAULTS: tuple[str, ...] = ("server_error", "rate_limit", "slow")
PHOTO_FAULTS: tuple[str, ...] = (
    "truncated_jpeg",
    "html_as_jpeg",
    "huge_image",
    "missing_photo",
    "redirect_loop",
)


@dataclass(frozen=True)
class FaultConfig:
    """Shares (0..1) of requests or photos that misbehave; all off by default."""

    server_error: float = 0.0
    rate_limit: float = 0.0
    slow: float = 0.0
    truncated_jpeg: float = 0.0
    html_as_jpeg: float = 0.0
    huge_image: float = 0.0
    missing_photo: float = 0.0
    redirect_loop: float = 0.0
    retry_after_s: int = 1
    slow_delay_s: float = 5.0
    max_consecutive: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (*TRANSPORT_FAULTS, *PHOTO_FAULTS):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"fault share {name}={value} must be between 0 and 1")
        photo_total = sum(getattr(self, name) for name in PHOTO_FAULTS)
        if photo_total > 1.0:
            raise ConfigError(
                f"photo fault shares add up to {photo_total:.2f}; keep their sum at most 1"
            )
        if self.retry_after_s < 0 or self.slow_delay_s < 0 or self.max_consecutive < 1:
            raise ConfigError(
                "retry_after_s and slow_delay_s must be >= 0 and max_consecutive >= 1"
            )

    @property
    def enabled(self) -> bool:
        """Return True when any fault can fire."""
        return any(getattr(self, name) > 0 for name in (*TRANSPORT_FAULTS, *PHOTO_FAULTS))

    @classmethod
    def preset_all(cls) -> FaultConfig:
        """Return every fault switched on at a share a retrying scraper should survive."""
        return cls(
            server_error=0.05,
            rate_limit=0.03,
            slow=0.02,
            truncated_jpeg=0.02,
            html_as_jpeg=0.01,
            huge_image=0.01,
            missing_photo=0.02,
            redirect_loop=0.01,
        )

    @classmethod
    def parse(cls, spec: str) -> FaultConfig:
        """Return the faults named in ``spec``: ``none``, ``all``, or ``name=value,...``.

        ``all`` may be followed by overrides, e.g. ``all,slow=0``.
        """
        config = cls()
        known = {f.name: f.type for f in fields(cls)}
        for raw in (part.strip() for part in spec.split(",")):
            if not raw or raw == "none":
                continue
            if raw == "all":
                config = replace(cls.preset_all(), seed=config.seed)
                continue
            name, sep, value = raw.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or name not in known:
                raise ConfigError(
                    f"unknown fault {raw!r}; use none, all, or name=value with name one of "
                    + ", ".join(known)
                )
            try:
                parsed: float | int = (
                    int(value)
                    if name in {"retry_after_s", "max_consecutive", "seed"}
                    else float(value)
                )
            except ValueError as exc:
                raise ConfigError(f"fault {name} needs a number, got {value!r}") from exc
            config = replace(config, **{name: parsed})
        return config


def _unit(*parts: object) -> float:
    """Return a stable pseudo-random number in [0, 1) for ``parts``."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class FaultInjector:
    """Decides, thread-safely, which fault (if any) a request or photo gets."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._attempts: dict[str, int] = {}
        self._streak: dict[str, int] = {}

    def transport_fault(self, path: str) -> str | None:
        """Return the transport fault (or None) for this request of ``path``."""
        c = self.config
        if not (c.server_error or c.rate_limit or c.slow):
            return None
        with self._lock:
            attempt = self._attempts.get(path, 0)
            self._attempts[path] = attempt + 1
            streak = self._streak.get(path, 0)
            u = _unit(c.seed, "transport", path, attempt)
            fault: str | None = None
            edge = 0.0
            if streak < c.max_consecutive:
                for name in TRANSPORT_FAULTS:
                    edge += getattr(c, name)
                    if u < edge:
                        fault = name
                        break
            self._streak[path] = streak + 1 if fault else 0
            return fault

    def photo_fault(self, photo_id: str) -> str | None:
        """Return the permanent fault of the full-size photo ``photo_id``, or None."""
        u = _unit(self.config.seed, "photo", photo_id)
        edge = 0.0
        for name in PHOTO_FAULTS:
            edge += getattr(self.config, name)
            if u < edge:
                return name
        return None
