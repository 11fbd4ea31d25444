"""Contact sheets: a grid of captioned thumbnails in one PNG, to look at many photos at once.

The one drawer of the project: ``carscout dedup`` uses it for its duplicate groups
(:func:`curation.dedup.groups.groups_contact_sheet`) and ``carscout review sheet`` for the
numbered sheets of the queue (:mod:`curation.review.batch`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

CAPTION_HEIGHT = 28
PADDING = 6
BACKGROUND = (245, 245, 245)
MISSING = (220, 200, 200)


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=11)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def _thumbnail(path: Path | None, size: int) -> Image.Image:
    tile = Image.new("RGB", (size, size), BACKGROUND)
    if path is None:
        return tile
    try:
        with Image.open(path) as image:
            image.draft("RGB", (size, size))
            thumb = ImageOps.exif_transpose(image.convert("RGB"))
            thumb.thumbnail((size, size))
    except (OSError, ValueError, SyntaxError):
        ImageDraw.Draw(tile).rectangle((0, 0, size - 1, size - 1), fill=MISSING)
        return tile
    tile.paste(thumb, ((size - thumb.width) // 2, (size - thumb.height) // 2))
    return tile


def contact_sheet(
    paths_with_captions: Sequence[tuple[Path | str | None, str]],
    out_png: Path,
    columns: int = 6,
    thumb_size: int = 160,
    title: str | None = None,
) -> Path:
    """Draw the images as a grid, left to right then down, each with its caption; return the PNG.

    A ``None`` path leaves a blank cell (useful to start each group on a new row); an unreadable
    file gets a pink cell so it is noticed, not skipped. Captions break at ``\\n`` and wrap at
    the cell's width, and are cut to two lines.
    """
    if columns < 1 or thumb_size < 16:
        raise ValueError("columns must be >= 1 and thumb_size >= 16 pixels")
    cells = list(paths_with_captions)
    rows = max(1, -(-len(cells) // columns))
    cell_w, cell_h = thumb_size + PADDING, thumb_size + CAPTION_HEIGHT + PADDING
    top = CAPTION_HEIGHT if title else 0
    sheet = Image.new("RGB", (columns * cell_w + PADDING, rows * cell_h + PADDING + top), "white")
    draw = ImageDraw.Draw(sheet)
    font = _font()
    if title:
        draw.text((PADDING, PADDING), title, fill="black", font=font)
    for n, (path, caption) in enumerate(cells):
        x = PADDING + (n % columns) * cell_w
        y = top + PADDING + (n // columns) * cell_h
        sheet.paste(_thumbnail(Path(path) if path is not None else None, thumb_size), (x, y))
        width = thumb_size // 6
        lines = [
            part[i : i + width]
            for part in caption.split("\n")
            for i in range(0, max(len(part), 1), width)
        ]
        draw.multiline_text((x, y + thumb_size + 2), "\n".join(lines[:2]), fill="black", font=font)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_png, "PNG")
    return out_png
