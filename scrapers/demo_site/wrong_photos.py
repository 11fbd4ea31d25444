"""Wrong photos for the demo marketplace's listings: an interior, a document, a close-up, or
a scene with no car, each drawn like the real ones so only its content tells it apart."""

from __future__ import annotations

import math
import random

from PIL import Image, ImageFont

from scrapers.demo_site.backgrounds import BACKGROUNDS, paint_background
from scrapers.demo_site.canvas import Canvas, chaikin, jitter, shade, vertical_gradient
from scrapers.demo_site.cars import CAR_COLOURS

WRONG_KINDS: tuple[str, ...] = ("interior", "document", "closeup", "no_car")


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, TypeError, ValueError):
        return ImageFont.load_default()


def paint_interior(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """Return a dashboard view: windscreen, dash, instrument cluster and steering wheel."""
    w, h = size
    img, _ = paint_background(rng, rng.choice(["road", "grass", "sky"]), size)
    d = Canvas(img)
    trim = jitter(
        rng, rng.choice([(35, 35, 38), (120, 105, 85), (70, 60, 55), (150, 140, 125)]), 12
    )
    dash_y = int(h * rng.uniform(0.38, 0.55))
    d.polygon([(0, 0), (w, 0), (w, h * 0.08), (0, h * 0.14)], fill=shade(trim, 0.6))
    d.polygon([(0, 0), (w * 0.08, 0), (w * 0.02, dash_y), (0, dash_y)], fill=shade(trim, 0.7))
    d.rectangle((0, dash_y, w, h), fill=trim)
    d.rectangle((0, dash_y, w, dash_y + h * 0.02), fill=shade(trim, 1.3))
    wheel_left = rng.random() < 0.5
    cx = w * (0.3 if wheel_left else 0.7) + rng.uniform(-0.05, 0.05) * w
    cy = h * rng.uniform(0.75, 0.95)
    R = h * rng.uniform(0.32, 0.45)
    d.ellipse(
        (cx - R * 0.55, dash_y + h * 0.03, cx + R * 0.55, dash_y + h * 0.2), fill=(15, 15, 18)
    )
    for k in range(2):
        gx = cx - R * 0.28 + k * R * 0.56
        gr = R * 0.17
        d.ellipse(
            (gx - gr, dash_y + h * 0.115 - gr, gx + gr, dash_y + h * 0.115 + gr),
            outline=(220, 220, 230),
            width=2,
        )
    d.ellipse((cx - R, cy - R, cx + R, cy + R), outline=(20, 20, 22), width=max(4, int(R * 0.14)))
    for a in (200, 340, 90):
        t = math.radians(a)
        d.line(
            (cx, cy, cx + math.cos(t) * R, cy - math.sin(t) * R * -1),
            fill=(25, 25, 28),
            width=max(3, int(R * 0.12)),
        )
    d.ellipse((cx - R * 0.25, cy - R * 0.2, cx + R * 0.25, cy + R * 0.2), fill=(30, 30, 34))
    sx = w * (0.62 if wheel_left else 0.18)
    d.rectangle(
        (sx, dash_y + h * 0.06, sx + w * 0.2, dash_y + h * 0.2),
        fill=(10, 12, 20),
        outline=(90, 90, 95),
    )
    d.rectangle(
        (sx + w * 0.01, dash_y + h * 0.07, sx + w * 0.12, dash_y + h * 0.12),
        fill=jitter(rng, (40, 90, 150), 30),
    )
    for k in range(3):
        vx = w * rng.uniform(0.4, 0.6) + k * w * 0.03
        d.rectangle((vx, dash_y + h * 0.25, vx + w * 0.02, dash_y + h * 0.3), fill=shade(trim, 0.5))
    return img


def paint_document(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """Return a photographed paper: registration card or price sheet lying on a desk."""
    w, h = size
    desk = jitter(
        rng, rng.choice([(120, 85, 55), (160, 130, 95), (90, 90, 95), (200, 195, 185)]), 15
    )
    img = vertical_gradient((w, h), [(0.0, shade(desk, 1.1)), (1.0, shade(desk, 0.85))])
    pw, ph = int(w * rng.uniform(0.5, 0.75)), int(h * rng.uniform(0.75, 0.95))
    paper = Image.new("RGBA", (pw, ph), (*jitter(rng, (246, 244, 236), 8), 255))
    d = Canvas(paper)
    heading = rng.choice(
        [
            "PRICE LIST",
            "REGISTRATION CERTIFICATE",
            "INSURANCE POLICY",
            "SERVICE RECORD",
            "TAX INVOICE",
            "ON-ROAD PRICE",
        ]
    )
    d.text((pw * 0.08, ph * 0.05), heading, fill=(30, 30, 40), font=_font(max(10, ph // 18)))
    accent = jitter(rng, rng.choice([(30, 60, 140), (150, 30, 30), (30, 110, 60)]), 20)
    d.rectangle((pw * 0.08, ph * 0.14, pw * 0.92, ph * 0.155), fill=accent)
    y = ph * 0.2
    table = rng.random() < 0.5
    small = _font(max(8, ph // 40))
    while y < ph * 0.88:
        if table:
            d.line((pw * 0.08, y, pw * 0.92, y), fill=(150, 150, 150), width=1)
            d.text(
                (pw * 0.1, y + ph * 0.008),
                rng.choice(["Ex-showroom", "RTO", "Insurance", "Accessories", "Handling", "Total"]),
                fill=(40, 40, 40),
                font=small,
            )
            d.text(
                (pw * 0.7, y + ph * 0.008),
                f"{rng.randint(1, 999):,},{rng.randint(0, 999):03d}",
                fill=(40, 40, 40),
                font=small,
            )
            y += ph * 0.055
        else:
            bar = pw * rng.uniform(0.4, 0.84)
            d.rectangle((pw * 0.08, y, pw * 0.08 + bar, y + ph * 0.012), fill=(95, 95, 105))
            y += ph * rng.uniform(0.03, 0.05)
    if rng.random() < 0.5:
        r = pw * 0.09
        sx, sy = pw * 0.75, ph * 0.82
        d.ellipse((sx - r, sy - r, sx + r, sy + r), outline=(*accent, 255), width=3)
    paper = paper.rotate(rng.uniform(-12, 12), resample=Image.Resampling.BILINEAR, expand=True)
    img.paste(
        paper,
        (rng.randint(0, max(0, w - paper.width)), rng.randint(0, max(0, h - paper.height))),
        paper,
    )
    return img


def paint_closeup(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """Return a close-up of a wheel or a headlight filling most of the frame."""
    w, h = size
    colour = jitter(rng, rng.choice(CAR_COLOURS), 12)
    img = vertical_gradient((w, h), [(0.0, shade(colour, 1.1)), (1.0, shade(colour, 0.7))])
    d = Canvas(img)
    cx, cy = w * rng.uniform(0.35, 0.65), h * rng.uniform(0.4, 0.65)
    if rng.random() < 0.5:
        R = h * rng.uniform(0.38, 0.55)
        # A big wheel low in the frame pushes the road strip below the bottom edge.
        d.rectangle((0, min(cy + R * 0.7, h), w, h), fill=(80, 80, 84))
        d.ellipse((cx - R * 1.12, cy - R * 1.12, cx + R * 1.12, cy + R * 1.12), fill=(15, 15, 16))
        d.ellipse((cx - R, cy - R, cx + R, cy + R), fill=(32, 32, 34))
        rr = R * 0.64
        rim = jitter(rng, (175, 177, 182), 20)
        d.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=rim)
        n = rng.choice([5, 6, 7, 10])
        for k in range(n):
            a = 2 * math.pi * k / n + rng.random()
            d.line(
                (cx, cy, cx + math.cos(a) * rr, cy + math.sin(a) * rr),
                fill=shade(rim, 0.45),
                width=int(R * 0.1),
            )
        d.ellipse(
            (cx - R * 0.14, cy - R * 0.14, cx + R * 0.14, cy + R * 0.14), fill=shade(rim, 0.6)
        )
        for k in range(5):
            a = 2 * math.pi * k / 5
            bx, by = cx + math.cos(a) * R * 0.24, cy + math.sin(a) * R * 0.24
            d.ellipse(
                (bx - R * 0.03, by - R * 0.03, bx + R * 0.03, by + R * 0.03), fill=(60, 60, 60)
            )
    else:
        lw, lh = w * rng.uniform(0.5, 0.8), h * rng.uniform(0.3, 0.5)
        pts = chaikin(
            [
                (cx - lw / 2, cy - lh / 3),
                (cx + lw / 2, cy - lh / 2),
                (cx + lw / 2.2, cy + lh / 2),
                (cx - lw / 2, cy + lh / 3),
            ],
            3,
            0.2,
        )
        d.polygon(pts, fill=(235, 236, 240), outline=(40, 40, 40))
        for k in range(rng.choice([1, 2, 3])):
            r = lh * 0.25
            x = cx - lw * 0.25 + k * lw * 0.22
            d.ellipse(
                (x - r, cy - r, x + r, cy + r),
                fill=(250, 250, 255),
                outline=(150, 155, 165),
                width=3,
            )
            d.ellipse((x - r / 3, cy - r / 3, x + r / 3, cy + r / 3), fill=(200, 205, 215))
        d.line(
            (cx - lw / 2, cy + lh / 2 + 10, cx + lw / 2, cy + lh / 2 + 30),
            fill=shade(colour, 0.6),
            width=4,
        )
    return img


def paint_no_car(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """Return an empty scene: a street, field or showroom floor with no car in it."""
    img, ground = paint_background(rng, rng.choice(BACKGROUNDS), size)
    w, h = size
    d = Canvas(img)
    for _ in range(rng.randint(0, 3)):
        x, y = rng.randint(0, w), int(h * rng.uniform(ground + 0.05, 0.95))
        s = int(h * rng.uniform(0.05, 0.12))
        d.polygon([(x, y - s), (x - s // 2, y), (x + s // 2, y)], fill=(235, 110, 30))
    if rng.random() < 0.5:
        x = rng.randint(w // 10, w - w // 10)
        d.rectangle((x, int(h * 0.2), x + max(3, w // 120), int(h * ground) + 5), fill=(70, 70, 70))
        d.rectangle(
            (x - w // 20, int(h * 0.2), x + w // 20, int(h * 0.28)),
            fill=jitter(rng, (30, 100, 50), 30),
        )
    return img


WRONG_PAINTERS = {
    "interior": paint_interior,
    "document": paint_document,
    "closeup": paint_closeup,
    "no_car": paint_no_car,
}
