"""``carscout demo-site``: serve the local used-car marketplace with synthetic photos."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cli.commands.context import comma_list
from pipeline.errors import ConfigError


def _size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit():
        raise ConfigError(f"image size {text!r} must look like 640x480")
    return int(w), int(h)


def register(app: typer.Typer) -> None:
    """Add the ``demo-site`` command to ``app``."""

    @app.command("demo-site")
    def demo_site(
        port: Annotated[
            int, typer.Option(help="Port on 127.0.0.1; 0 picks a free one.", min=0, max=65535)
        ] = 8000,
        faults: Annotated[
            str,
            typer.Option(
                help="none, all, or name=share,... e.g. server_error=0.1,slow=0.05 "
                "(server_error, rate_limit, slow, truncated_jpeg, html_as_jpeg, huge_image, "
                "missing_photo, redirect_loop, retry_after_s, slow_delay_s, seed)."
            ),
        ] = "none",
        seed: Annotated[int, typer.Option(help="Seed of the generated content.")] = 0,
        models: Annotated[str, typer.Option(help="Comma-separated car models.")] = "swift,wagonr",
        listings_per_model: Annotated[
            int | None, typer.Option(help="Listings per model (default about 2,400 photos).")
        ] = None,
        image_size: Annotated[
            str | None, typer.Option(help="Photo size range, e.g. 640x480-1280x960 or 320x240.")
        ] = None,
        cache_dir: Annotated[
            Path | None,
            typer.Option(
                help="Where generated sites are cached (default $CARSCOUT_CACHE/demo-site "
                "or ~/.cache/carscout/demo-site)."
            ),
        ] = None,
        serve_seconds: Annotated[
            float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
        ] = None,
    ) -> None:
        """Serve a used-car marketplace with generated photos on 127.0.0.1 (no internet needed)."""
        from scrapers.demo_site import DemoSite, FaultConfig, SiteConfig

        console = Console()
        options: dict[str, object] = {
            "seed": seed,
            "models": tuple(comma_list(models)),
        }
        if listings_per_model is not None:
            options["listings_per_model"] = listings_per_model
        if image_size is not None:
            lo, _, hi = image_size.partition("-")
            options["image_size"] = (_size(lo), _size(hi or lo))
        config = SiteConfig(**options)  # type: ignore[arg-type]
        fault_config = FaultConfig.parse(faults)
        console.print("preparing the site (first run draws the photos, later runs use the cache)…")
        site = DemoSite(config, port=port, faults=fault_config, cache_dir=cache_dir)
        generated = site.generated
        source = "cache" if generated.from_cache else "generated"
        console.print(
            f"{len(generated.listings)} listings, {len(generated.photos)} photos "
            f"({source} in {generated.seconds:.1f} s) in {generated.root}"
        )
        url = site.start()
        console.print(f"serving on [bold]{url}/[/]  faults: {faults}  (Ctrl-C stops)")
        try:
            threading.Event().wait(serve_seconds)
        except KeyboardInterrupt:
            console.print("stopping")
        finally:
            site.stop()
