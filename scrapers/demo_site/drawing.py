"""Pillow painters for the demo marketplace: car bodies, backgrounds and wrong photos.

Every painter draws only with the ``random.Random`` it is given, so one seed gives one
picture. Cars are drawn as side profiles from a polygon per body style; rounding comes from
Chaikin corner cutting, so a hatchback with three cuts is round and one with one cut is boxy.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFont

RGB = tuple[int, int, int]
Point = tuple[float, float]

BACKGROUNDS: tuple[str, ...] = ("road", "sky", "showroom", "grass")
WRONG_KINDS: tuple[str, ...] = ("interior", "document", "closeup", "no_car")

CAR_COLOURS: tuple[RGB, ...] = (
    (235, 235, 232),  # white
    (190, 192, 196),  # silver
    (110, 112, 118),  # grey
    (28, 28, 32),  # black
    (178, 24, 30),  # red
    (30, 70, 160),  # blue
    (22, 34, 78),  # dark blue
    (120, 80, 50),  # brown
    (230, 120, 20),  # orange
    (40, 110, 60),  # green
    (240, 200, 40),  # yellow
    (120, 20, 40),  # maroon
)


@dataclass(frozen=True)
class BodyStyle:
    """A side profile in car-length units (x: 0 rear .. 1 front, y: 0 ground .. up)."""

    outline: tuple[Point, ...]
    windows: tuple[Point, ...]
    wheel_x: tuple[float, float]
    wheel_r: float
    roundness: int  # Chaikin iterations
    pillar_x: float
    roof_rails: bool = False
    bed: tuple[float, float, float] | None = None  # pickup bed: x0, x1, top y


BODY_STYLES: dict[str, BodyStyle] = {
    # Low rounded hatchback: sloping hatch, domed roof, long raked windscreen.
    "swift": BodyStyle(
        outline=(
            (0.0, 0.09),
            (0.0, 0.22),
            (0.05, 0.31),
            (0.13, 0.375),
            (0.33, 0.395),
            (0.50, 0.385),
            (0.70, 0.245),
            (0.92, 0.205),
            (1.0, 0.15),
            (0.995, 0.085),
        ),
        windows=((0.1, 0.25), (0.14, 0.345), (0.33, 0.368), (0.5, 0.358), (0.66, 0.25)),
        wheel_x=(0.17, 0.8),
        wheel_r=0.088,
        roundness=3,
        pillar_x=0.42,
    ),
    # Tall boxy hatchback: upright tail, flat roof, steep windscreen, stubby bonnet.
    "wagonr": BodyStyle(
        outline=(
            (0.0, 0.08),
            (0.0, 0.47),
            (0.015, 0.545),
            (0.74, 0.55),
            (0.86, 0.31),
            (0.985, 0.275),
            (1.0, 0.2),
            (1.0, 0.08),
        ),
        windows=((0.035, 0.31), (0.04, 0.515), (0.725, 0.52), (0.835, 0.31)),
        wheel_x=(0.15, 0.83),
        wheel_r=0.078,
        roundness=1,
        pillar_x=0.45,
    ),
    "sedan": BodyStyle(
        outline=(
            (0.0, 0.1),
            (0.0, 0.21),
            (0.03, 0.235),
            (0.2, 0.24),
            (0.32, 0.315),
            (0.56, 0.32),
            (0.7, 0.225),
            (0.95, 0.2),
            (1.0, 0.15),
            (0.995, 0.09),
        ),
        windows=((0.23, 0.245), (0.33, 0.3), (0.55, 0.305), (0.67, 0.23)),
        wheel_x=(0.16, 0.81),
        wheel_r=0.07,
        roundness=2,
        pillar_x=0.45,
    ),
    "suv": BodyStyle(
        outline=(
            (0.0, 0.13),
            (0.0, 0.5),
            (0.03, 0.56),
            (0.68, 0.56),
            (0.8, 0.38),
            (0.99, 0.35),
            (1.0, 0.13),
        ),
        windows=((0.04, 0.38), (0.05, 0.53), (0.67, 0.53), (0.77, 0.38)),
        wheel_x=(0.17, 0.8),
        wheel_r=0.1,
        roundness=1,
        pillar_x=0.42,
        roof_rails=True,
    ),
    "pickup": BodyStyle(
        outline=(
            (0.0, 0.12),
            (0.0, 0.3),
            (0.52, 0.3),
            (0.54, 0.52),
            (0.74, 0.52),
            (0.82, 0.34),
            (0.99, 0.32),
            (1.0, 0.12),
        ),
        windows=((0.56, 0.34), (0.565, 0.49), (0.73, 0.49), (0.79, 0.34)),
        wheel_x=(0.17, 0.82),
        wheel_r=0.095,
        roundness=1,
        pillar_x=0.65,
        bed=(0.01, 0.51, 0.3),
    ),
}


Box = tuple[float, float, float, float]
Ink = int | tuple[int, ...] | str | None


def ordered_box(box: Box) -> Box:
    """Return ``box`` (x0, y0, x1, y1) with each pair swapped where it runs backwards.

    A box that was already in order comes back as the very same numbers, so it draws the
    very same pixels; a reversed one (say, a road strip that starts below the frame) becomes
    a valid box instead of a ``ValueError``.
    """
    x0, y0, x1, y1 = box
    if x1 < x0:
        x0, x1 = x1, x0
    if y1 < y0:
        y0, y1 = y1, y0
    return x0, y0, x1, y1


class Canvas(ImageDraw.ImageDraw):
    """An ``ImageDraw`` whose rectangles and ellipses accept corners in either order.

    Pillow refuses a box whose second corner lies above or left of the first; random sizes
    and positions make such boxes rare but certain, so every painter draws through this.
    """

    def rectangle(  # type: ignore[override]
        self, xy: Box, fill: Ink = None, outline: Ink = None, width: int = 1
    ) -> None:
        """Draw the rectangle ``xy`` (corners in any order)."""
        super().rectangle(ordered_box(xy), fill, outline, width)

    def ellipse(  # type: ignore[override]
        self, xy: Box, fill: Ink = None, outline: Ink = None, width: int = 1
    ) -> None:
        """Draw the ellipse inside the box ``xy`` (corners in any order)."""
        super().ellipse(ordered_box(xy), fill, outline, width)


def jitter(rng: random.Random, colour: RGB, amount: int) -> RGB:
    """Return ``colour`` with each channel moved by up to ``amount``, clipped to 0..255."""
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in colour)  # type: ignore[return-value]


def shade(colour: RGB, factor: float) -> RGB:
    """Return ``colour`` scaled by ``factor`` (darker below 1, lighter above)."""
    return tuple(max(0, min(255, int(c * factor))) for c in colour)  # type: ignore[return-value]


def chaikin(points: tuple[Point, ...] | list[Point], iterations: int, cut: float) -> list[Point]:
    """Return a closed polygon with its corners cut ``iterations`` times (rounder)."""
    pts = list(points)
    for _ in range(iterations):
        out: list[Point] = []
        for i, (x0, y0) in enumerate(pts):
            x1, y1 = pts[(i + 1) % len(pts)]
            out.append((x0 + (x1 - x0) * cut, y0 + (y1 - y0) * cut))
            out.append((x0 + (x1 - x0) * (1 - cut), y0 + (y1 - y0) * (1 - cut)))
        pts = out
    return pts


def vertical_gradient(size: tuple[int, int], stops: list[tuple[float, RGB]]) -> Image.Image:
    """Return an RGB image of ``size`` fading through ``stops`` (position 0..1, colour)."""
    w, h = size
    t = np.linspace(0.0, 1.0, h)
    pos = [p for p, _ in stops]
    column = np.stack([np.interp(t, pos, [c[k] for _, c in stops]) for k in range(3)], axis=-1)
    strip = Image.fromarray(column.astype(np.uint8).reshape(h, 1, 3), "RGB")
    return strip.resize((w, h), Image.Resampling.NEAREST)


# --- backgrounds -------------------------------------------------------------------------


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


# --- cars ------------------------------------------------------------------------------


def draw_car(rng: random.Random, model: str, length: int, colour: RGB) -> Image.Image:
    """Return an RGBA side view of ``model`` facing right, ``length`` pixels long."""
    style = BODY_STYLES[model]
    ss = 1
    L = length * ss
    top = max(y for _, y in style.outline) + 0.04
    H = int(L * top) + 4
    pad = int(L * 0.04)
    layer = Image.new("RGBA", (L + 2 * pad, H + pad), (0, 0, 0, 0))
    d = Canvas(layer)

    def px(p: Point) -> tuple[float, float]:
        return (pad + p[0] * L, H - p[1] * L)

    shadow_y = H - 0.005 * L
    d.ellipse(
        (pad - 0.02 * L, shadow_y - 0.03 * L, pad + 1.02 * L, shadow_y + 0.025 * L),
        fill=(0, 0, 0, 110),
    )
    if style.roof_rails:
        ry = top - 0.035
        d.rectangle((*px((0.05, ry + 0.018)), *px((0.66, ry))), fill=(40, 40, 40, 255))
    outline = [px(p) for p in chaikin(style.outline, style.roundness, 0.22)]
    d.polygon(outline, fill=(*colour, 255))
    lower = [px(p) for p in ((0.0, 0.16), (1.0, 0.16), (1.0, 0.0), (0.0, 0.0))]
    d.polygon(lower, fill=(*shade(colour, 0.82), 255))
    d.polygon(outline, outline=(*shade(colour, 0.6), 255))
    if style.bed is not None:
        x0, x1, y = style.bed
        d.line(
            (*px((x0, y - 0.01)), *px((x1, y - 0.01))),
            fill=(*shade(colour, 0.5), 255),
            width=ss * 2,
        )
    # Shoulder highlight: the light catching the crease below the windows.
    belt = min(y for _, y in style.windows) - 0.02
    d.line(
        (*px((0.03, belt)), *px((0.95, belt - 0.02))), fill=(*shade(colour, 1.3), 255), width=ss * 2
    )
    glass = jitter(rng, (40, 52, 64), 12)
    windows = [px(p) for p in chaikin(style.windows, max(1, style.roundness - 1), 0.2)]
    d.polygon(windows, fill=(*glass, 255))
    wx0, wx1 = style.windows[0][0], style.windows[-1][0]
    span = wx1 - wx0
    reflect = [
        px((wx0 + span * 0.3, 0.9)),
        px((wx0 + span * 0.45, 0.9)),
        px((wx0 + span * 0.3, belt)),
        px((wx0 + span * 0.15, belt)),
    ]
    # The sky reflection is a band clipped to the glass: draw it on a window-sized mask only.
    bx0, by0 = int(min(x for x, _ in windows)), int(min(y for _, y in windows))
    bx1, by1 = int(max(x for x, _ in windows)) + 1, int(max(y for _, y in windows)) + 1
    box_size = (max(1, bx1 - bx0), max(1, by1 - by0))
    win_mask = Image.new("L", box_size, 0)
    Canvas(win_mask).polygon([(x - bx0, y - by0) for x, y in windows], fill=255)
    band = Image.new("L", box_size, 0)
    Canvas(band).polygon([(x - bx0, y - by0) for x, y in reflect], fill=60)
    layer.paste((200, 215, 230, 255), (bx0, by0), ImageChops.multiply(band, win_mask))
    pillar_w = 0.025
    pillar_top = max(y for _, y in style.windows) + 0.01
    d.rectangle(
        (
            *px((style.pillar_x - pillar_w / 2, pillar_top)),
            *px((style.pillar_x + pillar_w / 2, belt)),
        ),
        fill=(*shade(colour, 0.35 if style.roundness == 3 else 0.9), 255),
    )
    door_top, door_bottom = belt + 0.01, 0.12
    for dx in (
        style.pillar_x - 0.005,
        style.pillar_x + (style.windows[-1][0] - style.pillar_x) * 0.95,
    ):
        d.line(
            (*px((dx, door_top)), *px((dx - 0.01, door_bottom))),
            fill=(*shade(colour, 0.55), 255),
            width=ss,
        )
    for hx in (style.pillar_x - 0.08, style.pillar_x + 0.12):
        d.rectangle(
            (*px((hx, belt - 0.035)), *px((hx + 0.04, belt - 0.045))),
            fill=(*shade(colour, 0.6), 255),
        )
    mirror = style.windows[-1]
    d.ellipse(
        (*px((mirror[0] - 0.05, mirror[1] + 0.035)), *px((mirror[0] + 0.0, mirror[1] - 0.005))),
        fill=(*shade(colour, 0.8), 255),
    )
    head_y = max(y for x, y in style.outline if x > 0.9) - 0.04
    d.polygon(
        [
            px((0.93, head_y + 0.02)),
            px((0.995, head_y)),
            px((0.99, head_y - 0.04)),
            px((0.94, head_y - 0.035)),
        ],
        fill=(245, 240, 215, 255),
    )
    tail_y = 0.2 if style.roundness >= 2 else 0.26
    d.rectangle((*px((0.0, tail_y + 0.05)), *px((0.025, tail_y))), fill=(190, 20, 25, 255))
    d.rectangle((*px((-0.005, 0.12)), *px((0.02, 0.09))), fill=(35, 35, 35, 255))
    d.rectangle((*px((0.98, 0.12)), *px((1.005, 0.085))), fill=(35, 35, 35, 255))
    rim = jitter(rng, rng.choice([(170, 172, 178), (60, 60, 65), (200, 200, 205)]), 10)
    spokes = rng.choice([5, 6, 8, 10])
    for wx in style.wheel_x:
        r = style.wheel_r
        cx, cy = px((wx, r))
        R = r * L
        d.ellipse(
            (cx - R * 1.15, cy - R * 1.15, cx + R * 1.15, cy + R * 1.15), fill=(18, 18, 20, 255)
        )
        d.ellipse((cx - R, cy - R, cx + R, cy + R), fill=(28, 28, 30, 255))
        rr = R * 0.62
        d.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=(*rim, 255))
        for k in range(spokes):
            a = 2 * math.pi * k / spokes
            d.line(
                (cx, cy, cx + math.cos(a) * rr, cy + math.sin(a) * rr),
                fill=(*shade(rim, 0.55), 255),
                width=max(1, int(R * 0.08)),
            )
        hub = R * 0.15
        d.ellipse((cx - hub, cy - hub, cx + hub, cy + hub), fill=(*shade(rim, 0.7), 255))
    return layer


def place_car(
    rng: random.Random, canvas: Image.Image, model: str, ground: float, colour: RGB | None = None
) -> None:
    """Paint ``model`` onto ``canvas`` with a random colour, facing, scale, position and tilt."""
    w, h = canvas.size
    colour = jitter(rng, colour or rng.choice(CAR_COLOURS), 12)
    length = int(w * rng.uniform(0.45, 0.88))
    car = draw_car(rng, model, length, colour)
    if rng.random() < 0.5:
        car = car.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    angle = rng.uniform(-4.0, 4.0)
    car = car.rotate(angle, resample=Image.Resampling.NEAREST, expand=True)
    cw, ch = car.size
    base = int(h * min(0.97, max(ground + 0.2, rng.uniform(0.7, 0.95))))
    x = rng.randint(min(0, w - cw), max(0, w - cw)) if cw > w else rng.randint(0, w - cw)
    y = base - ch
    canvas.paste(car, (x, y), car)


# --- wrong photos ------------------------------------------------------------------------


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
