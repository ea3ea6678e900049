"""The dashboard's page icon, drawn here so the browser never fetches one from a font CDN.

A Material icon name as ``page_icon`` makes the browser download its SVG from Google's font
servers on every page load: a request the user did not ask for, and a DNS failure offline.
"""

from __future__ import annotations

from functools import cache

from PIL import Image, ImageDraw

__all__ = ["page_icon"]


@cache
def page_icon() -> Image.Image:
    """Three overlapping frames, red to blue: 64x64 RGBA."""
    icon = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(icon)
    for i, colour in enumerate([(220, 60, 60), (150, 70, 190), (60, 110, 230)]):
        x = 4 + 14 * i
        draw.rounded_rectangle((x, 4 + 14 * i, x + 30, 34 + 14 * i), radius=6, fill=colour)
    return icon
