"""Tiny pages for scan tests: real image bytes made with Pillow, one per seed, each different."""

from __future__ import annotations

import io
import random

from PIL import Image

from station.scans.normalise import NormalisedPage


def page_bytes(seed: int, size: int = 0, *, fmt: str = "png") -> bytes:
    """A small image, different for each seed; ``size`` > 0 pads it with noise to about that many bytes."""
    rng = random.Random(seed)
    side = 64 if not size else max(8, int((size / 3) ** 0.5) + 1)
    image = Image.new("RGB", (side, side), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    if size:  # noise does not compress: the file is about side * side * 3 bytes
        image.frombytes(rng.randbytes(side * side * 3))
    out = io.BytesIO()
    image.save(out, format="PNG" if fmt == "png" else "JPEG", quality=95)
    return out.getvalue()


def page(seed: int, size: int = 0) -> NormalisedPage:
    data = page_bytes(seed, size)
    return NormalisedPage(data=data, format="png", width=64, height=64, colour=True)
