"""Backgrounds of the demo marketplace's photos: road, sky, showroom and grass scenes."""

from __future__ import annotations

import random

from PIL import Image

from scrapers.demo_site.canvas import Canvas, jitter, shade, vertical_gradient

BACKGROUNDS: tuple[str, ...] = ("road", "sky", "showroom", "grass")


def paint_background(
    rng: random.Random, kind: str, size: tuple[int, int]
) -> tuple[Image.Image, float]:
    """Return a background of ``size`` and the ground line as a fraction of the height."""
    w, h = size
    sw, sh = w, h
    horizon = rng.uniform(0.38, 0.58)
    hy = int(sh * horizon)
    if kind == "showroom":
        wall = jitter(rng, rng.choice([(205, 200, 190), (170, 180, 195), (225, 225, 225)]), 15)
        floor = jitter(rng, rng.choice([(160, 160, 165), (190, 180, 170), (90, 90, 100)]), 15)
        img = vertical_gradient(
            (sw, sh),
            [
                (0.0, shade(wall, 0.85)),
                (horizon, wall),
                (horizon + 0.001, floor),
                (1.0, shade(floor, 0.8)),
            ],
        )
        d = Canvas(img)
        for _ in range(rng.randint(2, 5)):
            x = rng.randint(0, sw)
            d.ellipse((x - sw // 12, -sh // 20, x + sw // 12, sh // 12), fill=(250, 250, 240))
        step = rng.randint(sw // 10, sw // 5)
        for x in range(-sw, 2 * sw, step):
            d.line(
                (sw // 2 + (x - sw // 2) * 0.4, hy, x, sh),
                fill=shade(floor, 0.9),
                width=max(1, w // 300),
            )
        for _ in range(rng.randint(0, 2)):
            x = rng.randint(0, sw)
            d.rectangle(
                (x, hy - sh // 3, x + sw // 6, hy - sh // 10), fill=jitter(rng, (60, 90, 140), 40)
            )
    else:
        sky_top = jitter(rng, rng.choice([(90, 140, 210), (150, 175, 200), (200, 210, 220)]), 20)
        sky_low = shade(sky_top, 1.25)
        if kind == "sky":
            horizon = rng.uniform(0.65, 0.8)
            hy = int(sh * horizon)
        ground = {
            "road": (85, 85, 88),
            "grass": (70, 125, 50),
            "sky": rng.choice([(120, 110, 95), (80, 120, 60), (95, 95, 100)]),
        }[kind]
        ground = jitter(rng, ground, 15)
        img = vertical_gradient(
            (sw, sh),
            [
                (0.0, sky_top),
                (horizon, sky_low),
                (horizon + 0.001, shade(ground, 0.9)),
                (1.0, shade(ground, 1.15)),
            ],
        )
        d = Canvas(img)
        for _ in range(rng.randint(1 if kind == "sky" else 0, 5)):
            cx, cy = rng.randint(0, sw), rng.randint(0, max(1, hy - 4))
            rx, ry = rng.randint(sw // 20, sw // 6), rng.randint(sh // 40 + 1, sh // 14 + 2)
            d.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=jitter(rng, (240, 242, 245), 10))
        if kind == "road":
            for _ in range(rng.randint(0, 6)):
                bw, bh = rng.randint(sw // 12, sw // 5), rng.randint(sh // 10, sh // 3)
                x = rng.randint(-bw // 2, sw)
                d.rectangle((x, hy - bh, x + bw, hy), fill=jitter(rng, (150, 140, 130), 50))
            d.rectangle((0, hy, sw, hy + max(1, sh // 40)), fill=(170, 170, 165))
            lane_y = hy + int((sh - hy) * rng.uniform(0.75, 0.92))
            for x in range(rng.randint(-20, 0), sw, max(6, sw // 8)):
                d.rectangle(
                    (x, lane_y, x + sw // 16, lane_y + max(1, sh // 90)), fill=(235, 235, 220)
                )
        elif kind == "grass":
            for _ in range(rng.randint(2, 8)):
                x, r = rng.randint(0, sw), rng.randint(sw // 30 + 1, sw // 10 + 2)
                d.ellipse(
                    (x - r, hy - 2 * r, x + r, hy + r // 2), fill=jitter(rng, (40, 90, 40), 20)
                )
    return img, horizon
