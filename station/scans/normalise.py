"""One scanned file (JPEG, PNG, TIFF, PDF) made into small, legible, uniformly encoded pages, or refused."""

from __future__ import annotations

import io
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import msgspec
from PIL import (  # the readers named: Image.open(formats=...) finds only registered plugins
    BmpImagePlugin,  # noqa: F401
    Image,
    ImageDraw,
    ImageFilter,
    ImageMath,
    ImageOps,
    ImageSequence,
    JpegImagePlugin,  # noqa: F401
    PngImagePlugin,  # noqa: F401
    TiffImagePlugin,  # noqa: F401
    UnidentifiedImageError,
    WebPImagePlugin,  # noqa: F401
)

from sync.errors import InputError

__all__ = (
    "DOCUMENT_LONG_SIDE",
    "MAX_FILE_BYTES",
    "MAX_PAGES",
    "MAX_PAGE_PIXELS",
    "PAGE_FORMAT",
    "PHOTO_LONG_SIDE",
    "NormalisedPage",
    "ScanError",
    "encode_image",
    "normalise_bytes",
    "normalise_file",
    "prepare_image",
    "wants_colour",
)

PageFormat = Literal["webp", "jpeg", "avif"]

# The choice and its figures are in docs/benchmarks.md ("Scanned pages"): the format Chromium shows
# that was smallest at equal OCR legibility on the generated pages (bench/bench_scans.py).
PAGE_FORMAT: PageFormat = "avif"
DOCUMENT_QUALITY = 20
"""Encoder quality for grayscale document pages (AVIF's scale, 0-100)."""
PHOTO_QUALITY = 30
"""Encoder quality for colour pages (photos, ID cards)."""
DOCUMENT_LONG_SIDE = 1600
"""Longest side of a document page after normalisation, in pixels: an A4 page at about 140 dpi, a
household register's page (185 mm) at 220 dpi, where its 7.5 pt labels stay legible."""
PHOTO_LONG_SIDE = 1200
"""Longest side of a colour page (a photo shows what it shows at this size on any screen)."""

MAX_FILE_BYTES = 64 * 1024 * 1024
"""A file larger than this is not a scan from a document camera (a 600 dpi A4 TIFF is about 35 MB)."""
MAX_PAGES = 50
"""A file with more pages than this is refused: no material of a case has that many."""
MAX_PAGE_PIXELS = 60_000_000
"""Pixels of one page before decoding; a 600 dpi A4 page has 35 million. Below Pillow's own bomb limit
(Image.MAX_IMAGE_PIXELS, 89 million), so a decompression bomb is refused here before any decoding."""
MIN_SIDE = 64
"""A page narrower or shorter than this is no legible scan (an icon, a thumbnail)."""
MAX_ASPECT = 20
"""A page longer than this many times its width is no page (a strip, a crafted header)."""


class NormalisedPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page as stored and sent: encoded bytes, their format and size, colour or grayscale."""

    data: bytes
    format: str
    """"webp", "jpeg" or "avif": what ``data`` is (its content type is ``image/<format>``)."""
    width: int
    height: int
    colour: bool


class ScanError(InputError):
    """A scanned file cannot be made into pages (not an image, absurd size, a bomb); nothing is stored.

    The message names the file (its base name, never its folder, which may carry a person's name) and what
    to do; it never describes the page's content.
    """

    code = "scan"

    def __init__(self, *, zh: str, en: str, name: str = "") -> None:
        label = Path(name).name if name else ""
        super().__init__(
            zh=f"扫描件“{label}”：{zh}" if label else f"扫描件：{zh}",
            en=f"scan {label!r}: {en}" if label else f"scan: {en}",
            field="file",
        )
        self.name = label


_COLOUR_WORDS = ("照片", "相片", "彩色", "图", "身份证", "结婚证", "残疾人证", "退役证", "社会保障卡")
"""Chinese material names that call for colour: photos (照片, 彩色照片), drawings (建房设计图), and cards
with the holder's portrait (身份证, 结婚证, 残疾人证, ...): a document page is cleaned to black on white,
which would wash a face out (docs/benchmarks.md, "Scanned pages"), while a card in colour stays small."""
_COLOUR_WORDS_EN = ("photo", "picture", "colour", "color", "drawing", "identity card", "id card")


def wants_colour(material_name_zh: str, catalog_material: Any = None) -> bool:
    """Whether pages of this material keep their colour: photos, drawings and cards with a portrait do;
    documents become grayscale.

    ``catalog_material`` (a :class:`sync.catalog.Material`) adds its English name to what is looked at.
    """
    if any(word in material_name_zh for word in _COLOUR_WORDS):
        return True
    name_en = str(getattr(catalog_material, "name_en", "") or "").lower()
    return any(word in name_en for word in _COLOUR_WORDS_EN)


def normalise_file(path: Path, *, colour: bool | None = None) -> list[NormalisedPage]:
    """The pages of the scan at ``path``, normalised; ``colour`` as in :func:`normalise_bytes`.

    Raises:
        ScanError: the file is missing, too large, not an image or PDF, or a page of it is refused.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _too_big(size, path.name)
        data = path.read_bytes()
    except FileNotFoundError:
        raise ScanError(
            zh="文件不存在；请检查路径", en="the file does not exist; check the path", name=path.name
        ) from None
    except IsADirectoryError:
        raise ScanError(zh="这是文件夹，不是文件", en="this is a folder, not a file", name=path.name) from None
    except PermissionError:
        raise ScanError(
            zh="无权读取该文件；请检查文件权限", en="the file cannot be read; check its permissions", name=path.name
        ) from None
    return normalise_bytes(data, name=path.name, colour=colour)


def normalise_bytes(data: bytes, *, name: str = "", colour: bool | None = None) -> list[NormalisedPage]:
    """The pages of a scanned file's bytes, each oriented, downscaled, grayscale or colour, and encoded.

    ``colour`` True keeps colour (photos; see :func:`wants_colour`), False makes every page grayscale,
    None decides per page by its content (colour only where the page is clearly colourful).

    Raises:
        ScanError: not an image or PDF, too large, too many pages, a page of absurd size, a decompression bomb.
    """
    if len(data) > MAX_FILE_BYTES:
        raise _too_big(len(data), name)
    if not data:
        raise ScanError(zh="文件是空的；请重新扫描", en="the file is empty; scan the page again", name=name)
    pages = [_normalise_page(image, colour=colour, name=name) for image in _pages(data, name)]
    if not pages:
        raise ScanError(zh="文件中没有页面；请重新扫描", en="the file holds no page; scan again", name=name)
    return pages


def prepare_image(
    image: Image.Image, *, colour: bool | None, long_side: int | None = None, clean: bool = True
) -> Image.Image:
    """``image`` upright, flattened onto white, grayscale or colour and downscaled: everything but the encoding.

    ``long_side`` overrides the longest side (the benchmark tries several); by default a document page
    gets :data:`DOCUMENT_LONG_SIDE` and a colour page :data:`PHOTO_LONG_SIDE`. A grayscale page is also
    cleaned (:func:`_clean_document`) unless ``clean`` is False (the benchmark's comparison).
    """
    image = ImageOps.exif_transpose(image)
    image = _flatten(image)
    keep_colour = _is_colourful(image) if colour is None else colour
    if image.mode != "RGB":
        keep_colour = False
    image = image.convert("RGB") if keep_colour else image.convert("L")
    limit = long_side or (PHOTO_LONG_SIDE if keep_colour else DOCUMENT_LONG_SIDE)
    if max(image.size) > limit:
        scale = limit / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        # reducing_gap: a fast integer pre-reduction, then Lanczos; strokes stay sharp.
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return _clean_document(image) if clean and image.mode == "L" else image


PAPER_LEVEL = 215
"""After the lighting is evened out, grey at or above this is paper and becomes white."""
INK_LEVEL = 100
"""... and at or below this is ink and becomes black; in between is stretched (anti-aliased edges)."""


LIGHT_FALL = 0.65
"""The dimmest the paper may be lit, as a share of its brightest: darker local "paper" is printed matter."""


def _percentile(image: Image.Image, share: float) -> int:
    """The grey level below which ``share`` of the image's pixels lie."""
    histogram = image.histogram()
    wanted, seen = share * sum(histogram), 0
    for level, count in enumerate(histogram):
        seen += count
        if seen >= wanted:
            return level
    return 255


MAT_EDGE = 0.4
"""The share of the picture's edge a dark border must cover to be the camera's mat around the paper."""


def _border_dark(image: Image.Image, floor: int) -> Image.Image:
    """A mask (255) of the pixels darker than ``floor`` connected to the picture's edge, when they run along
    much of it (:data:`MAT_EDGE`): the mat the paper lies on; else an empty mask."""
    dark = image.point(lambda v: 255 if v < floor else 0)
    width, height = dark.size
    edge = [(x, y) for x in range(width) for y in (0, height - 1)]
    edge += [(x, y) for y in range(height) for x in (0, width - 1)]
    for point in edge:
        if dark.getpixel(point) == 255:
            ImageDraw.floodfill(dark, point, 128)
    if sum(1 for point in edge if dark.getpixel(point) == 128) < MAT_EDGE * len(edge):
        # Not around the paper: something printed dark up to the edge of a cropped scan, kept.
        return Image.new("L", dark.size, 0)
    return dark.point(lambda v: 255 if v == 128 else 0)


def _clean_document(image: Image.Image) -> Image.Image:
    """A grayscale document with its uneven lighting divided out and its paper made white.

    A camera's picture of paper is grey, brighter in the middle, and noisy; that noise is most of the
    bytes of an encoded page and none of its meaning. The paper's brightness is estimated by the
    brightest pixels around each point (a max filter on a small copy, blurred), each pixel divided by it,
    and the levels stretched so that paper is 255 and ink near 0: what is left is what was written.
    """
    small = image.reduce(8) if min(image.size) >= 8 * 16 else image.copy()
    # Light falls off smoothly, by a third at most across a page: a local "paper" darker than that is
    # something printed large (a grey box, a photocopied photo), which must stay as dark as it is.
    floor = round(_percentile(small, 0.95) * LIGHT_FALL)
    paper = small.filter(ImageFilter.MaxFilter(5)).point(lambda v: max(v, floor))
    paper = paper.filter(ImageFilter.GaussianBlur(3)).resize(image.size, Image.Resampling.BILINEAR)
    flat = ImageMath.lambda_eval(lambda a: a["image"] * 255 / (a["paper"] + 1), image=image, paper=paper)
    span = PAPER_LEVEL - INK_LEVEL
    levels = [0 if v <= INK_LEVEL else 255 if v >= PAPER_LEVEL else (v - INK_LEVEL) * 255 // span for v in range(256)]
    cleaned = flat.convert("L").point(levels)
    # What is dark and reaches the picture's edge is the camera's mat around the paper: white.
    mat = _border_dark(small, floor).filter(ImageFilter.MaxFilter(3))
    cleaned.paste(255, mask=mat.resize(image.size, Image.Resampling.BILINEAR).point(lambda v: 255 if v >= 128 else 0))
    return cleaned


def encode_image(image: Image.Image, fmt: str = PAGE_FORMAT, quality: int | None = None) -> bytes:
    """``image`` (mode "L" or "RGB", from :func:`prepare_image`) encoded as ``fmt`` at ``quality``, no metadata."""
    if quality is None:
        quality = PHOTO_QUALITY if image.mode == "RGB" else DOCUMENT_QUALITY
    out = io.BytesIO()
    if fmt == "webp":
        image.save(out, "WEBP", quality=quality, method=6)
    elif fmt == "jpeg":
        image.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
    elif fmt == "avif":
        image.save(out, "AVIF", quality=quality, speed=8)  # 8: 7x faster than 6, no larger
    else:
        raise ValueError(f"unknown page format {fmt!r}")
    return out.getvalue()


def _normalise_page(image: Image.Image, *, colour: bool | None, name: str) -> NormalisedPage:
    try:
        prepared = prepare_image(image, colour=colour)
        data = encode_image(prepared)
    except (OSError, ValueError, SyntaxError) as exc:
        # A truncated or corrupt stream fails only when its pixels are decoded.
        raise _not_an_image(name, detail=type(exc).__name__) from None
    return NormalisedPage(
        data=data, format=PAGE_FORMAT, width=prepared.width, height=prepared.height, colour=prepared.mode == "RGB"
    )


def _pages(data: bytes, name: str) -> Iterator[Image.Image]:
    """Each page of the file as a Pillow image, its size checked before any pixel is decoded."""
    if data[:5] == b"%PDF-" or (b"%PDF-" in data[:1024]):
        from station.scans.pdf import PdfError, page_images

        try:
            pdf_pages = page_images(data, max_pages=MAX_PAGES)
        except PdfError as exc:
            raise ScanError(zh=exc.zh, en=exc.en, name=name) from None
        for page in pdf_pages:
            _check_size(page.width, page.height, name)  # before its pixels are decoded
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                try:
                    image = page.decode()
                except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                    raise _bomb(name) from None
                except (OSError, ValueError, KeyError, IndexError, SyntaxError, zlib.error):
                    raise _not_an_image(name, detail="PDF") from None
            _check_size(image.width, image.height, name)
            yield image
        return
    image = _open(data, name)
    frames = getattr(image, "n_frames", 1)
    if frames > MAX_PAGES:
        raise ScanError(
            zh=f"文件有 {frames} 页，超过上限 {MAX_PAGES} 页；请分成几个文件扫描",
            en=f"the file has {frames} pages, more than the limit of {MAX_PAGES}; scan it as several files",
            name=name,
        )
    if image.format != "TIFF" or frames == 1:
        # A camera's MPO (a JPEG with previews) holds one picture; only a TIFF's frames are pages.
        _check_size(image.width, image.height, name)
        yield image
        return
    for frame in ImageSequence.Iterator(image):
        _check_size(frame.width, frame.height, name)
        yield frame.copy()


_FORMATS = ("JPEG", "PNG", "TIFF", "BMP", "WEBP")
"""What Pillow may read: the issue's JPEG (a camera's MPO with it), PNG and TIFF, and BMP and WebP, which some
document cameras' vendor software saves. Nothing else (no EPS, no formats with their own interpreters)."""


def _open(data: bytes, name: str) -> Image.Image:
    with warnings.catch_warnings():
        # Pillow warns (not raises) between MAX_IMAGE_PIXELS and twice that: treat a warning as a bomb too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _bomb(name) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            raise _not_an_image(name) from None
    return image


def _check_size(width: int, height: int, name: str) -> None:
    if width * height > MAX_PAGE_PIXELS:
        raise _bomb(name, width=width, height=height)
    if min(width, height) < MIN_SIDE or max(width, height) > MAX_ASPECT * min(width, height):
        raise ScanError(
            zh=f"页面尺寸 {width}×{height} 像素不像一页扫描件；请用高拍仪重新扫描整页",
            en=f"a page of {width}x{height} pixels is no scanned page; scan the whole page again",
            name=name,
        )


def _flatten(image: Image.Image) -> Image.Image:
    """Transparency onto white, palettes and 16-bit or CMYK pages to plain L or RGB."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit scans: keep the top 8 bits (convert("L") would clip everything above 255 to white).
        top = max(image.getextrema()[1], 1)  # type: ignore[index]
        return image.point(lambda v: v * 255 / top).convert("L")  # type: ignore[no-any-return]
    if image.mode == "F":
        return image.convert("L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return image.convert("RGB")
    if image.mode == "1":
        return image.convert("L")
    return image


def _is_colourful(image: Image.Image) -> bool:
    """Whether a page is a colour picture: more than an eighth of a thumbnail's pixels clearly saturated.

    A document with a red seal or a blue pen signature stays under that; an ID card photo or a house
    photo does not.
    """
    if image.mode != "RGB":
        return False
    thumb = image.copy()
    thumb.thumbnail((128, 128))
    saturation = thumb.convert("HSV").getchannel("S")
    histogram = saturation.histogram()
    saturated = sum(histogram[64:])
    return saturated * 8 > thumb.width * thumb.height


def _too_big(size: int, name: str) -> ScanError:
    mb, limit = size / 1e6, MAX_FILE_BYTES / 1e6
    return ScanError(
        zh=f"文件 {mb:.0f} 兆字节，超过上限 {limit:.0f} 兆字节；请用高拍仪的普通分辨率重新扫描",
        en=f"the file is {mb:.0f} MB, more than the limit of {limit:.0f} MB; scan again at the camera's usual "
        "resolution",
        name=name,
    )


def _bomb(name: str, *, width: int = 0, height: int = 0) -> ScanError:
    size = f" {width}×{height}" if width else ""
    size_en = f" {width}x{height}" if width else ""
    return ScanError(
        zh=f"页面像素{size}过多（上限 {MAX_PAGE_PIXELS // 1_000_000} 百万像素），可能是恶意文件；请用高拍仪重新扫描",
        en=f"the page{size_en} has too many pixels (limit {MAX_PAGE_PIXELS // 1_000_000} million), possibly a "
        "malicious file; scan the page again with the document camera",
        name=name,
    )


def _not_an_image(name: str, *, detail: str = "") -> ScanError:
    return ScanError(
        zh="不是可读的图片或 PDF 文件（支持 JPG/PNG/TIF 图片和 PDF），或文件已损坏；请重新扫描，或另存为 JPG/PNG 图片",
        en="not a readable image or PDF (JPEG, PNG, TIFF and PDF are accepted), or the file is damaged; scan "
        "again or save it as JPEG" + (f" ({detail})" if detail else ""),
        name=name,
    )
