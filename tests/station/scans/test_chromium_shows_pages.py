"""The department desk shows pages in Chromium: the format normalisation chose must decode there, grey and colour."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image, ImageDraw

from station.scans.normalise import normalise_bytes
from tests.conftest import require_tool

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

_READ = """
const done = arguments[arguments.length - 1];
const results = [];
const images = Array.from(document.images);
Promise.all(images.map(img => img.decode().then(() => {
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const dark = ctx.getImageData(img.naturalWidth * 0.25, img.naturalHeight * 0.25, 1, 1).data;
  const light = ctx.getImageData(img.naturalWidth * 0.75, img.naturalHeight * 0.75, 1, 1).data;
  results.push([img.naturalWidth, img.naturalHeight, Array.from(dark), Array.from(light)]);
}, () => results.push(null)))).then(() => done(results));
"""


def _page(mode: str) -> bytes:
    """Dark top-left quarter on white: a document page ("L") or a blue-and-white photo ("RGB")."""
    image = Image.new(mode, (1200, 1600), "white")
    ImageDraw.Draw(image).rectangle((0, 0, 599, 799), fill="black" if mode == "L" else (20, 60, 200))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_chromium_decodes_grey_and_colour_pages(tmp_path: Path):
    require_tool(str(CHROMIUM), str(CHROMEDRIVER), install="Debian packages chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    [grey] = normalise_bytes(_page("L"), colour=False)
    [colour] = normalise_bytes(_page("RGB"), colour=True)
    html = tmp_path / "pages.html"
    html.write_text(
        "".join(
            f'<img src="data:image/{p.format};base64,{base64.b64encode(p.data).decode()}">' for p in (grey, colour)
        ),
        encoding="utf-8",
    )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"):
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    browser = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        browser.get(html.as_uri())
        shown = browser.execute_async_script(_READ)
    finally:
        browser.quit()
    assert shown[0] is not None and shown[1] is not None, "Chromium could not decode a page"
    (gw, gh, gdark, glight), (cw, ch, cdark, clight) = shown
    assert (gw, gh) == (grey.width, grey.height) and (cw, ch) == (colour.width, colour.height)
    assert max(gdark[:3]) < 40 and min(glight[:3]) > 215  # grey page: black ink on white paper
    assert cdark[2] > 150 and cdark[0] < 80 and min(clight[:3]) > 215  # the blue stays blue
