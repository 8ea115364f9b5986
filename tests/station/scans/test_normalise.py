"""A scanned file made into normalised pages, or refused with a reason that names the file and the fix."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw

from station.scans import normalise
from station.scans.normalise import NormalisedPage, ScanError, normalise_bytes, normalise_file, wants_colour
from sync.errors import InputError


def _page(size: tuple[int, int] = (1240, 1754), mode: str = "L", mark: int = 0) -> Image.Image:
    """A white page with black bars; ``mark`` bars in the top-left corner tell pages apart."""
    image = Image.new(mode, size, "white")
    draw = ImageDraw.Draw(image)
    for y in range(200, size[1] - 100, 80):
        draw.rectangle((100, y, size[0] - 100, y + 12), fill="black")
    for k in range(mark):
        draw.rectangle((20 + 30 * k, 20, 40 + 30 * k, 120), fill="black")
    return image


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _decoded(page: NormalisedPage) -> Image.Image:
    image = Image.open(io.BytesIO(page.data))
    assert image.format.lower() == page.format
    assert image.size == (page.width, page.height)
    return image


def _is_grey(image: Image.Image) -> bool:
    """A single-channel page, or one whose channels agree (WebP has no grayscale mode; its decoder gives RGB)."""
    if image.mode == "L":
        return True
    red, green, blue = image.convert("RGB").split()
    return (
        max(ImageChops.difference(red, green).getextrema()[1], ImageChops.difference(green, blue).getextrema()[1]) <= 4
    )


def _marks(image: Image.Image) -> int:
    """How many corner marks a normalised page shows (counting dark runs along the marks' row)."""
    gray = image.convert("L")
    row = round(70 * gray.height / 1754)
    dark = [gray.getpixel((x, row)) < 128 for x in range(gray.width // 4)]
    return sum(1 for a, b in zip([False, *dark], dark, strict=False) if b and not a)


def test_a_jpeg_document_becomes_one_small_grayscale_page_of_the_chosen_format():
    scan = _save(_page((2480, 3508), "RGB"), "JPEG", quality=92)
    [page] = normalise_bytes(scan, name="form.jpg")
    assert page.format == normalise.PAGE_FORMAT
    assert max(page.width, page.height) == normalise.DOCUMENT_LONG_SIDE
    assert page.colour is False and _is_grey(_decoded(page))
    assert len(page.data) < len(scan) // 10


def test_exif_orientation_is_applied():
    upright = _page((800, 1200), "RGB")
    sideways = upright.rotate(90, expand=True)  # as the camera's sensor saw it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    [page] = normalise_bytes(_save(sideways, "JPEG", exif=exif), name="a.jpg")
    assert (page.width, page.height) == (800, 1200)


def test_colour_is_kept_when_asked_and_decided_by_content_when_not():
    photo = Image.new("RGB", (900, 1200), (40, 120, 200))
    ImageDraw.Draw(photo).ellipse((200, 200, 700, 900), fill=(220, 170, 140))
    data = _save(photo, "PNG")
    assert normalise_bytes(data, colour=True)[0].colour is True
    assert normalise_bytes(data, colour=False)[0].colour is False
    assert normalise_bytes(data)[0].colour is True  # clearly a colour picture
    document = _page((900, 1200), "RGB")
    ImageDraw.Draw(document).ellipse((600, 900, 800, 1100), outline=(200, 30, 40), width=8)  # a red seal
    assert normalise_bytes(_save(document, "PNG"))[0].colour is False
    assert not _is_grey(_decoded(normalise_bytes(data, colour=True)[0]))


def test_cleaning_whitens_unevenly_lit_paper_and_the_mat_but_keeps_large_grey_areas():
    image = Image.new("L", (1200, 1700), 255)
    for x in range(1200):  # the lamp's light falls off to the right: paper from 235 down to 175
        ImageDraw.Draw(image).line((x, 0, x, 1699), fill=235 - x * 60 // 1200)
    draw = ImageDraw.Draw(image)
    draw.rectangle((100, 900, 700, 1500), fill=90)  # a photocopied photo: a large dark grey area
    draw.rectangle((100, 200, 1100, 215), fill=20)  # a line of print
    draw.rectangle((0, 0, 1199, 1699), outline=60, width=40)  # the camera's dark mat around the paper
    [page] = normalise_bytes(_save(image, "PNG"), colour=False)
    decoded = _decoded(page).convert("L")
    scale = page.width / 1200
    at = lambda x, y: decoded.getpixel((round(x * scale), round(y * scale)))
    assert at(60, 100) > 245 and at(1140, 100) > 245  # paper white, bright and dim side alike
    assert at(10, 850) > 245 and at(1190, 850) > 245  # the mat, reaching the edge, white too
    assert at(400, 1200) < 200  # the grey area is still there (without the floor it went white)
    assert at(600, 207) < 60  # and the print black


def test_transparency_is_flattened_onto_white():
    image = Image.new("RGBA", (600, 800), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((100, 100, 300, 300), fill=(0, 0, 0, 255))
    [page] = normalise_bytes(_save(image, "PNG"), colour=False)
    decoded = _decoded(page).convert("L")
    assert decoded.getpixel((500, 700)) > 240 and decoded.getpixel((200, 200)) < 30


def test_a_multipage_tiff_gives_its_pages_in_order():
    pages = [_page(mode="1", mark=k) for k in (1, 2, 3)]
    data = _save(pages[0], "TIFF", compression="group4", save_all=True, append_images=pages[1:])
    made = normalise_bytes(data, name="scan.tif")
    assert [_marks(_decoded(p)) for p in made] == [1, 2, 3]


@pytest.mark.parametrize("mode", ["RGB", "L", "1", "P", "RGBA"])
def test_a_pdf_gives_the_scan_on_each_page_in_order(mode: str):
    # Pillow writes DCTDecode for RGB/L, CCITT fax for 1, ASCIIHex palette for P, JPEG 2000 for RGBA.
    pages = [_page(mode=mode, mark=k) for k in (1, 2, 3)]
    data = _save(pages[0], "PDF", save_all=True, append_images=pages[1:], resolution=150)
    made = normalise_bytes(data, name="scan.pdf")
    assert [_marks(_decoded(p)) for p in made] == [1, 2, 3]


def test_a_pdf_made_by_reportlab_with_flate_images_is_read(tmp_path: Path):
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    path = tmp_path / "scan.pdf"
    pdf = canvas.Canvas(str(path), pageCompression=1)
    for mark in (2, 1):
        pdf.drawImage(ImageReader(_page(mode="RGB", mark=mark)), 0, 0, width=595, height=842)
        pdf.showPage()
    pdf.save()
    made = normalise_file(path)
    assert [_marks(_decoded(p)) for p in made] == [2, 1]


def _pdf(*objects: bytes) -> bytes:
    """A PDF from numbered object bodies (no cross-reference table: the reader does not need one)."""
    out = b"%PDF-1.4\n"
    for number, body in enumerate(objects, 1):
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    return out + b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"


def test_a_pdf_page_with_png_predictors_is_read():
    image = _page((400, 600), mode="L", mark=2)
    rows = b"".join(b"\x00" + image.tobytes()[y * 400 : (y + 1) * 400] for y in range(600))  # filter 0 per row
    stream = zlib.compress(rows)
    data = _pdf(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /Resources << /XObject << /Im1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /XObject /Subtype /Image /Width 400 /Height 600 /ColorSpace /DeviceGray /BitsPerComponent 8 "
        b"/Filter /FlateDecode /DecodeParms << /Predictor 15 /Colors 1 /Columns 400 >> /Length %d >>\nstream\n"
        % len(stream)
        + stream
        + b"\nendstream",
        b"<< /Length 0 >>\nstream\n\nendstream",
    )
    [page] = normalise_bytes(data, name="p.pdf")
    assert _marks(_decoded(page)) == 2


def test_a_pdf_whose_page_objects_are_packed_in_an_object_stream_is_read():
    # PDF 1.5 writers pack dictionaries into compressed object streams; the image stays a plain stream.
    jpeg = _save(_page((600, 800), "L", mark=3), "JPEG")
    packed = (
        b"<< /Type /Pages /Kids [6 0 R] /Count 1 >> "
        b"<< /Type /Page /Parent 5 0 R /Resources << /XObject << /Im 3 0 R >> >> >>"
    )
    header = b"5 0 6 %d " % packed.index(b"<< /Type /Page ")
    body = zlib.compress(header + packed)
    data = _pdf(
        b"<< /Type /Catalog /Pages 5 0 R >>",
        b"<< /Type /ObjStm /N 2 /First %d /Filter /FlateDecode /Length %d >>\nstream\n" % (len(header), len(body))
        + body
        + b"\nendstream",
        b"<< /Subtype /Image /Width 600 /Height 800 /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /DCTDecode "
        b"/Length %d >>\nstream\n" % len(jpeg) + jpeg + b"\nendstream",
    )
    [page] = normalise_bytes(data, name="packed.pdf")
    assert _marks(_decoded(page)) == 3


def test_a_damaged_pdf_is_refused_never_crashes():
    whole = _save(_page((600, 800), "1", mark=1), "PDF", save_all=True, append_images=[_page((600, 800), "RGB")])
    for cut in range(40, len(whole), max(1, len(whole) // 15)):
        damaged = whole[:cut] + bytes(reversed(whole[cut : cut + 50])) + whole[cut + 50 :]
        for data in (whole[:cut], damaged):
            try:
                normalise_bytes(data, name="damaged.pdf")
            except ScanError:
                pass  # refused with a reason: fine; any other exception fails the test


def test_a_pdf_without_a_scanned_image_is_refused_with_what_to_do(tmp_path: Path):
    from reportlab.pdfgen import canvas

    path = tmp_path / "typed.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.drawString(100, 700, "typed on a computer")
    pdf.save()
    with pytest.raises(ScanError) as caught:
        normalise_file(path)
    assert "typed.pdf" in caught.value.zh and "page 1" in caught.value.en and "scan" in caught.value.en


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"just some text, not a picture", "notes.jpg"),
        (b"%PDF-1.4\nnot really a pdf", "fake.pdf"),
        (_save(_page((1200, 1600), "RGB"), "JPEG")[:5000], "cut.jpg"),  # half-written, truncated
        (b"", "empty.png"),
    ],
)
def test_what_is_no_image_is_refused_as_bad_input(data: bytes, name: str):
    with pytest.raises(ScanError) as caught:
        normalise_bytes(data, name=name)
    error = caught.value
    assert isinstance(error, InputError)  # the CLIs exit 2 on it
    assert error.code == "scan" and error.field == "file"
    assert name in error.zh and name in error.en


def test_a_decompression_bomb_is_refused_before_decoding():
    # 8000 x 8000 one-bit pixels: a few KB of PNG, 64 million pixels (more than a 600 dpi A4 page).
    bomb = _save(Image.new("1", (8000, 8000)), "PNG")
    assert len(bomb) < 100_000
    with pytest.raises(ScanError) as caught:
        normalise_bytes(bomb, name="bomb.png")
    assert "8000x8000" in caught.value.en and "百万像素" in caught.value.zh


def test_a_bomb_inside_a_pdf_is_refused_from_its_dictionary():
    data = _pdf(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /Resources << /XObject << /Im1 4 0 R >> >> >>",
        b"<< /Subtype /Image /Width 90000 /Height 90000 /ColorSpace /DeviceGray /BitsPerComponent 8 "
        b"/Filter /FlateDecode /Length 8 >>\nstream\n" + zlib.compress(b"\0" * 64)[:8] + b"\nendstream",
    )
    with pytest.raises(ScanError, match="90000x90000"):
        normalise_bytes(data, name="bomb.pdf")


def test_absurd_page_shapes_are_refused():
    with pytest.raises(ScanError, match="20x3000"):
        normalise_bytes(_save(Image.new("L", (20, 3000), 255), "PNG"), name="strip.png")
    with pytest.raises(ScanError, match="100x4000"):
        normalise_bytes(_save(Image.new("L", (100, 4000), 255), "PNG"), name="long.png")


def test_files_over_the_byte_cap_and_the_page_cap_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    data = _save(_page(mode="1"), "TIFF", compression="group4", save_all=True, append_images=[_page(mode="1")] * 2)
    monkeypatch.setattr(normalise, "MAX_PAGES", 2)
    with pytest.raises(ScanError, match="3 pages"):
        normalise_bytes(data, name="many.tif")
    monkeypatch.setattr(normalise, "MAX_FILE_BYTES", len(data) - 1)
    path = tmp_path / "big.tif"
    path.write_bytes(data)
    with pytest.raises(ScanError, match="limit"):
        normalise_file(path)


def test_a_missing_file_is_named():
    with pytest.raises(ScanError) as caught:
        normalise_file(Path("/nowhere/张三的身份证.jpg"))
    assert "张三的身份证.jpg" in caught.value.zh
    assert "/nowhere" not in caught.value.en  # the folder is not repeated (it may carry a name)


def test_materials_with_a_portrait_or_a_picture_keep_colour():
    assert wants_colour("近期1寸免冠彩色照片")
    assert wants_colour("现住房照片")
    assert wants_colour("建房设计图或通用图")
    assert wants_colour("居民身份证")
    assert not wants_colour("居民户口簿")
    assert not wants_colour("最低生活保障申请书（表）")

    class Material:
        name_en = "Recent photo"

    assert wants_colour("近期2寸照片", Material())
    assert wants_colour("其他", Material())
