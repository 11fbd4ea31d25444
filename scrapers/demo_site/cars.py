"""The demo marketplace's cars: side profiles drawn from a polygon per body style, placed on a
background. Rounding comes from Chaikin corner cutting, so a hatchback with three cuts is round
and one with one cut is boxy."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from PIL import Image, ImageChops

from scrapers.demo_site.canvas import RGB, Canvas, Point, chaikin, jitter, shade

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
