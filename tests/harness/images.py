"""Reading rendered charts: whether a glyph was really drawn, how much ink a region holds."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont


def drawn_as_notdef(font: ImageFont.FreeTypeFont, char: str) -> bool:
    """True when the font has no glyph for ``char`` and draws its empty box instead."""
    missing = "\ue000"  # private use: in no font of ours
    return _glyph(font, char) == _glyph(font, missing)


def _glyph(font: ImageFont.FreeTypeFont, char: str) -> bytes:
    image = Image.new("L", (48, 48))
    ImageDraw.Draw(image).text((8, 8), char, font=font, fill=255)
    return image.tobytes()


def dark_pixels(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    return sum(1 for value in image.crop(box).convert("L").tobytes() if value < 128)
