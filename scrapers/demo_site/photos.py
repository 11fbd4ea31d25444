"""Turn one planned photo into JPEG bytes: scene, camera look (light, blur, noise), encoding.

These functions run in worker processes, so they take and return plain picklable values.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageChops

from scrapers.demo_site.backgrounds import BACKGROUNDS, paint_background
from scrapers.demo_site.cars import place_car
from scrapers.demo_site.wrong_photos import WRONG_PAINTERS

REPOST_KINDS: tuple[str, ...] = ("identical", "resized", "recompressed", "cropped", "brightened")
MAX_SIZE = (2048, 1536)
_NOISE_LEVELS = (3.0, 6.0, 10.0)


@dataclass(frozen=True)
class PhotoJob:
    """An original photo to draw: ``content`` is a model name or a wrong-photo kind."""

    photo_id: str
    content: str
    width: int
    height: int
    seed: int


@dataclass(frozen=True)
class RepostJob:
    """A photo made from another photo's JPEG file by one of :data:`REPOST_KINDS`."""

    photo_id: str
    source: str
    kind: str
    seed: int


@cache
def _noise_tile(level: int) -> Image.Image:
    """Return a fixed grain image (mean 128) big enough for any photo, for one noise level."""
    rng = np.random.default_rng(9000 + level)
    block = rng.normal(128.0, _NOISE_LEVELS[level], size=(512, 512, 3))
    block = np.clip(block, 0, 255).astype(np.uint8)
    reps = (MAX_SIZE[1] + 512) // 512 + 1, (MAX_SIZE[0] + 512) // 512 + 1, 1
    return Image.fromarray(np.tile(block, reps), "RGB")


def camera_look(rng: random.Random, img: Image.Image) -> Image.Image:
    """Return ``img`` with random exposure, contrast, colour cast, focus blur and sensor grain."""
    gain = rng.uniform(0.78, 1.15)
    contrast = rng.uniform(0.82, 1.12)
    gamma = rng.uniform(0.8, 1.25)
    cast = np.array([rng.uniform(0.93, 1.07) for _ in range(3)])[:, None]
    x = (np.arange(256) / 255.0) ** gamma
    x = ((x - 0.5) * contrast + 0.5) * gain * cast
    img = img.point(np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8).ravel().tolist())
    if rng.random() < 0.25:
        # A missed focus. Halving and bilinear upscaling costs a third of a Gaussian blur.
        img = img.reduce(2).resize(img.size, Image.Resampling.BILINEAR)
    if rng.random() < 0.6:
        tile = _noise_tile(rng.randrange(len(_NOISE_LEVELS)))
        ox, oy = rng.randrange(512), rng.randrange(512)
        grain = tile.crop((ox, oy, ox + img.width, oy + img.height))
        img = ImageChops.add(img, grain, scale=1.0, offset=-128)
    return img


def encode_jpeg(img: Image.Image, quality: int) -> bytes:
    """Return ``img`` as baseline JPEG bytes at ``quality``."""
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def draw_photo(job: PhotoJob) -> bytes:
    """Return the JPEG bytes of an original photo; same job, same bytes."""
    rng = random.Random(job.seed)
    size = (job.width, job.height)
    painter = WRONG_PAINTERS.get(job.content)
    if painter is not None:
        img = painter(rng, size)
    else:
        img, ground = paint_background(rng, rng.choice(BACKGROUNDS), size)
        place_car(rng, img, job.content, ground)
    img = camera_look(rng, img)
    return encode_jpeg(img, rng.randint(62, 95))


def repost_photo(job: RepostJob, source: bytes) -> bytes:
    """Return the JPEG bytes of a repost of ``source`` transformed by ``job.kind``."""
    if job.kind == "identical":
        return source
    rng = random.Random(job.seed)
    img = Image.open(io.BytesIO(source))
    img.load()
    w, h = img.size
    if job.kind == "resized":
        s = rng.uniform(0.55, 0.85)
        img = img.resize((int(w * s), int(h * s)), Image.Resampling.BICUBIC)
        quality = rng.randint(72, 92)
    elif job.kind == "recompressed":
        quality = rng.randint(35, 60)
    elif job.kind == "cropped":
        # A few percent only, like a site trimming a watermark; more would break pHash.
        fx, fy = rng.uniform(0.02, 0.05), rng.uniform(0.02, 0.05)
        left, top = int(w * fx * rng.random()), int(h * fy * rng.random())
        img = img.crop((left, top, left + int(w * (1 - fx)), top + int(h * (1 - fy))))
        quality = rng.randint(75, 92)
    elif job.kind == "brightened":
        gain, lift = rng.uniform(1.08, 1.2), rng.randint(4, 14)
        img = img.point([min(255, int(v * gain) + lift) for v in range(256)] * 3)
        quality = rng.randint(78, 92)
    else:
        raise ValueError(f"unknown repost kind {job.kind!r}")
    return encode_jpeg(img, quality)
