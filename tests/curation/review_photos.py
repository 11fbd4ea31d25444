"""A review queue of drawn photos (known colours, listings, one label-conflict group) for the
terminal-image, web-review tests and benchmarks/review_web.py."""

from __future__ import annotations

import io
from dataclasses import dataclass

import sqlalchemy as sa
from PIL import Image, ImageDraw

from pipeline import schema as t
from pipeline.intake import Provenance, intake_image
from pipeline.workspace import Workspace

TOP = (230, 30, 30)
BOTTOM = (30, 60, 220)


def two_colour_png(top: tuple[int, int, int] = TOP, bottom: tuple[int, int, int] = BOTTOM) -> bytes:
    """Return a 160×120 PNG, ``top`` colour above ``bottom`` (the tmux test finds both)."""
    image = Image.new("RGB", (160, 120), top)
    image.paste(bottom, (0, 60, 160, 120))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def car_png(seed: int, size: tuple[int, int] = (320, 240)) -> bytes:
    """Return a drawn 'car' (body, windows, wheels) in a colour and place fixed by ``seed``."""
    w, h = size
    hue = (seed * 47) % 255
    body = (hue, (seed * 91) % 200 + 30, 255 - hue)
    image = Image.new("RGB", size, (200 + seed % 40, 220, 235))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, int(h * 0.75), w, h), fill=(90, 90, 95))
    x = (seed * 13) % (w // 5)
    draw.rounded_rectangle((x + w // 10, h // 2, x + w * 7 // 10, h * 3 // 4), 12, fill=body)
    draw.polygon(
        [
            (x + w // 5, h // 2),
            (x + w // 4, h // 3),
            (x + w // 2, h // 3),
            (x + w * 3 // 5, h // 2),
        ],
        fill=body,
    )
    draw.rectangle((x + w // 4 + 6, h // 3 + 6, x + w // 2 - 6, h // 2 - 4), fill=(170, 210, 240))
    for cx in (x + w // 5, x + w * 3 // 5):
        draw.ellipse((cx - 18, h * 3 // 4 - 18, cx + 18, h * 3 // 4 + 18), fill=(20, 20, 20))
    draw.text((8, 8), f"#{seed}", fill=(0, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@dataclass(frozen=True)
class Queued:
    """One queued photo: its review item, image, label and reason."""

    item_id: int
    image_id: int
    label: str
    reason: str


def queue_photos(
    ws: Workspace,
    count: int,
    labels: tuple[str, ...] = ("swift", "wagonr"),
    photo: bytes | None = None,
    conflict_group: int = 0,
    size: tuple[int, int] = (320, 240),
) -> list[Queued]:
    """Take ``count`` drawn photos in (each with a listing), queue each as a pending review item
    and return them in review order (score falls with the index).

    Every third photo is ``not a car?`` (no suggestion), the rest ``wrong model?`` suggesting
    the other label. With ``conflict_group`` ≥ 2 the first that many photos form one
    ``label conflict`` group (labels alternating, the first one kept), as dedup queues them.
    """
    queued: list[Queued] = []
    with ws.catalog.atomic() as conn:
        listing_ids = []
        for i in range(count):
            listing_ids.append(
                conn.execute(
                    sa.insert(t.listings).values(
                        site="test",
                        url=f"http://127.0.0.1/listing/{i}",
                        label=labels[i % len(labels)],
                        title=f"{2015 + i % 8} {labels[i % len(labels)].title()} VXi, "
                        f"{20 + i * 3}k km",
                    )
                ).inserted_primary_key[0]
            )
    image_ids = []
    for i in range(count):
        label = labels[i % len(labels)]
        result = intake_image(
            ws.catalog,
            ws.store,
            photo if photo is not None and i == 0 else car_png(i, size),
            Provenance(
                label=label,
                source_url=f"http://127.0.0.1/p/{i}.png",
                listing_id=int(listing_ids[i]),
            ),
        )
        image_ids.append(int(result.image_id or 0))
    members = image_ids[:conflict_group] if conflict_group >= 2 else []
    with ws.catalog.atomic() as conn:
        for i, image_id in enumerate(image_ids):
            label = labels[i % len(labels)]
            other = labels[(i + 1) % len(labels)]
            if image_id in members:
                reason, suggested = "label conflict", labels[0]
                detail = {
                    "group_id": 1,
                    "kept_image_id": members[0],
                    "members": members,
                    "labels": sorted({labels[j % len(labels)] for j in range(len(members))}),
                }
            elif i % 3 == 2:
                reason, suggested, detail = "not a car?", None, {}
            else:
                reason, suggested, detail = "wrong model?", other, {}
            item_id = conn.execute(
                sa.insert(t.review_items).values(
                    image_id=image_id,
                    reason=reason,
                    suggested_label=suggested,
                    score=round(0.99 - i * 0.9 / max(count, 1), 6),
                    state="pending",
                    detail=detail,
                )
            ).inserted_primary_key[0]
            queued.append(Queued(int(item_id), image_id, label, reason))
    return queued
