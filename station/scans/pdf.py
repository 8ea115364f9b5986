"""The scanned picture on each page of a PDF, read without a PDF renderer (scanners' PDFs wrap images).

Nothing on this machine or in the pins rasterises PDF (Pillow only writes it; no poppler, no PDFium), so
this reads the file's objects, walks its page tree and takes, per page, the largest image the page
draws: the scan itself. JPEG (DCTDecode), JPEG 2000 (JPXDecode), fax (CCITTFaxDecode, what scanners use
for black-and-white), and raw or Flate-compressed pixels (with PNG predictors) are read. A page with no
image (a PDF typed on a computer) is refused with a message saying to save it as an image instead.
"""

from __future__ import annotations

import base64
import io
import re
import struct
import zlib
from collections.abc import Callable
from typing import Any

from PIL import Image, ImageOps, Jpeg2KImagePlugin, JpegImagePlugin, PngImagePlugin, TiffImagePlugin  # noqa: F401

__all__ = ("PdfError", "PdfImage", "page_images")


class PdfError(Exception):
    """A PDF whose pages cannot be read as scans; ``zh`` and ``en`` say why and what to do."""

    def __init__(self, *, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en


class PdfImage:
    """One page's scan: its size known from the PDF's dictionary, its pixels decoded only when asked."""

    def __init__(self, width: int, height: int, decode: Callable[[], Image.Image]) -> None:
        self.width = width
        self.height = height
        self.decode = decode


class _Name(str):
    """A PDF name (``/Type``), kept apart from strings."""


class _Ref(tuple[int, int]):
    """An indirect reference ``N G R``."""


class _Stream:
    def __init__(self, attrs: dict[str, Any], raw: bytes) -> None:
        self.attrs = attrs
        self.raw = raw


_WS = b"\x00\t\n\x0c\r "
_DELIM = b"()<>[]{}/%"
_OBJ = re.compile(rb"(\d+)\s+(\d+)\s+obj\b")
_NUMBER = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)")
_MAX_DEPTH = 32
_DAMAGED = PdfError(
    zh="PDF 文件已损坏或格式不受支持；请在高拍仪软件中另存为 JPG/PNG 图片或重新生成 PDF 后重试",
    en="the PDF is damaged or in a form not supported; save it as JPEG (or PDF again) in the camera's software",
)


def page_images(data: bytes, *, max_pages: int) -> list[PdfImage]:
    """The scan on each page of the PDF ``data``, in page order.

    Raises:
        PdfError: the PDF is damaged or encrypted, has more than ``max_pages`` pages, or a page holds no image.
    """
    try:
        reader = _Reader(data)
        pages = reader.pages(max_pages)
    except PdfError:
        raise
    except (ValueError, IndexError, KeyError, TypeError, RecursionError, zlib.error, struct.error):
        raise _DAMAGED from None
    if reader.encrypted:
        raise PdfError(
            zh="PDF 文件有密码保护；请在高拍仪软件中另存为不加密的文件",
            en="the PDF is encrypted; save it without a password in the camera's software",
        )
    images = []
    for number, page in enumerate(pages, 1):
        image = reader.page_image(page)
        if image is None:
            raise PdfError(
                zh=f"PDF 第 {number} 页不是扫描图片（可能是电脑生成的文档）；请打印后用高拍仪扫描，或另存为图片",
                en=f"page {number} of the PDF holds no scanned picture (a document made on a computer?); print "
                "and scan it, or save it as an image",
            )
        images.append(image)
    return images


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.objects: dict[int, Any] = {}
        self.encrypted = False
        self._scan()

    # --- objects ---------------------------------------------------------------------------------------

    def _scan(self) -> None:
        """Every ``N G obj`` in file order (later definitions win, as incremental updates mean), then object streams."""
        pos, packed = 0, []
        while (match := _OBJ.search(self.data, pos)) is not None:
            try:
                value, end = self._value(match.end(), 0)
                end = self._skip(end)
                if self.data.startswith(b"stream", end):
                    value, end = self._stream(value, end + 6)
            except (ValueError, IndexError):
                pos = match.end()
                continue
            self.objects[int(match.group(1))] = value
            if isinstance(value, _Stream) and value.attrs.get("Type") == "ObjStm":
                packed.append(value)
            if isinstance(value, dict) and "Encrypt" in value:
                self.encrypted = True
            pos = end
        if re.search(rb"/Encrypt\s", self.data[-4096:]):
            self.encrypted = True
        for stream in packed:
            self._unpack(stream)

    def _stream(self, attrs: Any, pos: int) -> tuple[_Stream, int]:
        if self.data.startswith(b"\r\n", pos):
            pos += 2
        elif self.data[pos : pos + 1] in (b"\n", b"\r"):
            pos += 1
        length = attrs.get("Length") if isinstance(attrs, dict) else None
        if isinstance(length, _Ref):
            length = self._direct_int(length)
        end = pos + length if isinstance(length, int) and length >= 0 else -1
        if end < 0 or not self.data[end : end + 20].lstrip(_WS).startswith(b"endstream"):
            end = self.data.find(b"endstream", pos)
            if end < 0:
                raise ValueError("unterminated stream")
        return _Stream(attrs, self.data[pos:end]), end + 9

    def _direct_int(self, ref: _Ref) -> int | None:
        match = re.search(rb"(?<!\d)%d\s+%d\s+obj\s+(\d+)\s+endobj" % (ref[0], ref[1]), self.data)
        return int(match.group(1)) if match else None

    def _unpack(self, stream: _Stream) -> None:
        body = _decode_filters(stream, final_ok=False)
        count, first = int(stream.attrs["N"]), int(stream.attrs["First"])
        header = body[:first].split()
        for index in range(min(count, len(header) // 2)):
            number, offset = int(header[2 * index]), int(header[2 * index + 1])
            if number not in self.objects:
                sub = _Reader.__new__(_Reader)
                sub.data = body
                self.objects[number] = sub._value(first + offset, 0)[0]

    def get(self, value: Any, depth: int = 0) -> Any:
        """``value`` with an indirect reference followed."""
        while isinstance(value, _Ref) and depth < _MAX_DEPTH:
            value = self.objects.get(value[0])
            depth += 1
        return value

    # --- pages -----------------------------------------------------------------------------------------

    def pages(self, max_pages: int) -> list[dict[str, Any]]:
        catalog = next(
            (o for o in reversed(list(self.objects.values())) if isinstance(o, dict) and o.get("Type") == "Catalog"),
            None,
        )
        if catalog is None:
            raise _DAMAGED
        found: list[dict[str, Any]] = []
        self._walk(self.get(catalog.get("Pages")), {}, found, max_pages, 0)
        if not found:
            raise PdfError(zh="PDF 文件中没有页面；请重新扫描", en="the PDF has no page; scan again")
        return found

    def _walk(self, node: Any, inherited: dict[str, Any], found: list[dict[str, Any]], cap: int, depth: int) -> None:
        if not isinstance(node, dict) or depth > _MAX_DEPTH:
            return
        attrs = dict(inherited)
        if "Resources" in node:
            attrs["Resources"] = node["Resources"]
        if node.get("Type") == "Page" or ("Kids" not in node and "Contents" in node):
            found.append(attrs)
            if len(found) > cap:
                raise PdfError(
                    zh=f"PDF 超过 {cap} 页；请分成几个文件扫描",
                    en=f"the PDF has more than {cap} pages; scan it as several files",
                )
            return
        for kid in self.get(node.get("Kids")) or []:
            self._walk(self.get(kid), attrs, found, cap, depth + 1)

    def page_image(self, page: dict[str, Any]) -> PdfImage | None:
        images: list[_Stream] = []
        self._images(self.get(page.get("Resources")), images, 0)
        best = max(images, key=lambda s: _int(s.attrs.get("Width")) * _int(s.attrs.get("Height")), default=None)
        if best is None:
            return None
        width, height = _int(best.attrs.get("Width")), _int(best.attrs.get("Height"))
        return PdfImage(width, height, lambda: self._decode_image(best, width, height))

    def _images(self, resources: Any, out: list[_Stream], depth: int) -> None:
        if not isinstance(resources, dict) or depth > 3:
            return
        xobjects = self.get(resources.get("XObject"))
        if not isinstance(xobjects, dict):
            return
        for value in xobjects.values():
            obj = self.get(value)
            if not isinstance(obj, _Stream):
                continue
            if obj.attrs.get("Subtype") == "Image" and not obj.attrs.get("ImageMask"):
                out.append(obj)
            elif obj.attrs.get("Subtype") == "Form":
                self._images(self.get(obj.attrs.get("Resources")), out, depth + 1)

    # --- images ----------------------------------------------------------------------------------------

    def _decode_image(self, stream: _Stream, width: int, height: int) -> Image.Image:
        filters, parms = _filters(stream, self)
        final = filters[-1] if filters else None
        if final in ("DCTDecode", "JPXDecode"):
            body = _decode_filters(stream, final_ok=True, resolve=self)
            return Image.open(io.BytesIO(body), formats=("JPEG", "JPEG2000"))
        if final == "CCITTFaxDecode":
            body = _decode_filters(stream, final_ok=True, resolve=self)
            return _ccitt(body, width, height, parms[-1])
        bits = _int(self.get(stream.attrs.get("BitsPerComponent")) or 8)
        _, channels, palette = self._colour_space(stream.attrs.get("ColorSpace"))
        if final == "FlateDecode" and _int(parms[-1].get("Predictor", 1)) >= 10:
            return _png(stream, width, height, bits, channels, palette, parms[-1], self)
        expected = (width * channels * bits + 7) // 8 * height
        raw = _decode_filters(stream, final_ok=False, resolve=self, limit=expected)
        if len(raw) < expected:
            raise ValueError("short image data")
        if palette is not None:
            image = Image.frombytes("P", (width, height), raw, "raw", {8: "P", 4: "P;4", 2: "P;2", 1: "P;1"}[bits])
            image.putpalette(palette)
            return image
        mode = {1: "L", 3: "RGB", 4: "CMYK"}[channels]
        if bits == 1 and channels == 1:
            image = Image.frombytes("1", (width, height), raw)
        elif bits == 8:
            image = Image.frombytes(mode, (width, height), raw)
        else:
            raise ValueError(f"{bits} bits per component")
        decode = self.get(stream.attrs.get("Decode"))
        if isinstance(decode, list) and decode[:2] == [1, 0] and image.mode in ("1", "L"):
            image = ImageOps.invert(image.convert("L"))
        return image

    def _colour_space(self, value: Any) -> tuple[str, int, bytes | None]:
        space = self.get(value)
        if isinstance(space, list) and space:
            kind = self.get(space[0])
            if kind == "ICCBased":
                icc = self.get(space[1])
                n = _int(icc.attrs.get("N", 3)) if isinstance(icc, _Stream) else 3
                return ("ICC", n, None)
            if kind in ("Indexed", "I"):
                _, base_n, _ = self._colour_space(space[1])
                lookup = self.get(space[3])
                table = _decode_filters(lookup, final_ok=False, resolve=self) if isinstance(lookup, _Stream) else lookup
                if not isinstance(table, bytes):
                    raise ValueError("bad palette")
                if base_n == 1:
                    table = bytes(b for g in table for b in (g, g, g))
                elif base_n != 3:
                    raise ValueError("palette over CMYK")
                return ("Indexed", 1, table)
            if kind in ("CalRGB", "Lab"):
                return (str(kind), 3, None)
            if kind == "CalGray":
                return ("CalGray", 1, None)
            raise ValueError(f"colour space {kind}")
        channels = {"DeviceGray": 1, "G": 1, "DeviceRGB": 3, "RGB": 3, "DeviceCMYK": 4, "CMYK": 4}.get(str(space))
        if channels is None:
            raise ValueError(f"colour space {space}")
        return (str(space), channels, None)

    # --- syntax ----------------------------------------------------------------------------------------

    def _skip(self, pos: int) -> int:
        data = self.data
        while pos < len(data):
            char = data[pos]
            if char in _WS:
                pos += 1
            elif char == 0x25:  # % comment to the end of the line
                while pos < len(data) and data[pos] not in b"\r\n":
                    pos += 1
            else:
                break
        return pos

    def _value(self, pos: int, depth: int) -> tuple[Any, int]:
        if depth > _MAX_DEPTH:
            raise ValueError("nesting too deep")
        data = self.data
        pos = self._skip(pos)
        char = data[pos : pos + 1]
        if data.startswith(b"<<", pos):
            result: dict[str, Any] = {}
            pos += 2
            while True:
                pos = self._skip(pos)
                if data.startswith(b">>", pos):
                    return result, pos + 2
                key, pos = self._value(pos, depth + 1)
                if not isinstance(key, _Name):
                    raise ValueError("dictionary key is not a name")  # noqa: TRY004 - damaged PDF, one handler
                result[key], pos = self._value(pos, depth + 1)
        if char == b"[":
            items: list[Any] = []
            pos += 1
            while True:
                pos = self._skip(pos)
                if data[pos : pos + 1] == b"]":
                    return items, pos + 1
                item, pos = self._value(pos, depth + 1)
                items.append(item)
        if char == b"/":
            end = pos + 1
            while end < len(data) and data[end] not in _WS and data[end] not in _DELIM:
                end += 1
            raw = re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), data[pos + 1 : end])
            return _Name(raw.decode("latin-1")), end
        if char == b"(":
            return self._string(pos + 1)
        if char == b"<":
            end = data.index(b">", pos)
            hexdigits = re.sub(rb"[^0-9A-Fa-f]", b"", data[pos + 1 : end])
            return bytes.fromhex((hexdigits + b"0" * (len(hexdigits) % 2)).decode()), end + 1
        number = _NUMBER.match(data, pos)
        if number is not None:
            text = number.group()
            end = number.end()
            if b"." not in text:
                ref = re.compile(rb"\s+(\d+)\s+R(?![A-Za-z])").match(data, end)
                if ref is not None:
                    return _Ref((int(text), int(ref.group(1)))), ref.end()
                return int(text), end
            return float(text), end
        for word, value in ((b"true", True), (b"false", False), (b"null", None)):
            if data.startswith(word, pos):
                return value, pos + len(word)
        raise ValueError(f"unexpected {char!r}")

    def _string(self, pos: int) -> tuple[bytes, int]:
        data, out, depth = self.data, bytearray(), 1
        escapes = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("f"): b"\f"}
        while True:
            char = data[pos]
            if char == 0x5C:  # backslash
                nxt = data[pos + 1]
                if nxt in escapes:
                    out += escapes[nxt]
                    pos += 2
                elif 0x30 <= nxt <= 0x37:
                    octal = re.compile(rb"[0-7]{1,3}").match(data, pos + 1)
                    assert octal is not None
                    out.append(int(octal.group(), 8) & 0xFF)
                    pos = octal.end()
                elif nxt in b"\r\n":
                    pos += 3 if data.startswith(b"\r\n", pos + 1) else 2
                else:
                    out.append(nxt)
                    pos += 2
                continue
            if char == 0x28:
                depth += 1
            elif char == 0x29:
                depth -= 1
                if depth == 0:
                    return bytes(out), pos + 1
            out.append(char)
            pos += 1


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _filters(stream: _Stream, resolve: _Reader | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    get = resolve.get if resolve is not None else (lambda v: v)
    names = get(stream.attrs.get("Filter"))
    parms = get(stream.attrs.get("DecodeParms"))
    names = [get(n) for n in names] if isinstance(names, list) else ([names] if names else [])
    parms = [get(p) for p in parms] if isinstance(parms, list) else [parms] * len(names)
    checked: list[dict[str, Any]] = [p if isinstance(p, dict) else {} for p in parms]
    checked += [{} for _ in range(len(names) - len(checked))]
    abbreviations = {"Fl": "FlateDecode", "DCT": "DCTDecode", "CCF": "CCITTFaxDecode", "AHx": "ASCIIHexDecode"}
    return [abbreviations.get(str(n), str(n)) for n in names], checked or [{}]


def _decode_filters(
    stream: _Stream, *, final_ok: bool, resolve: _Reader | None = None, limit: int = 256 * 1024 * 1024
) -> bytes:
    """The stream's bytes through its filters; an image codec (DCT, JPX, CCITT) is left for Pillow when last."""
    names, _ = _filters(stream, resolve)
    body = stream.raw
    for index, name in enumerate(names):
        if name in ("DCTDecode", "JPXDecode", "CCITTFaxDecode") and final_ok and index == len(names) - 1:
            return body
        if name == "FlateDecode":
            # Bounded: a few bytes of zlib must not become gigabytes (the pixel count was checked before).
            inflater = zlib.decompressobj()
            body = inflater.decompress(body, limit + 1)
        elif name == "ASCIIHexDecode":
            digits = re.sub(rb"[^0-9A-Fa-f]", b"", body.split(b">")[0])
            body = bytes.fromhex((digits + b"0" * (len(digits) % 2)).decode())
        elif name == "ASCII85Decode":
            text = re.sub(rb"\s", b"", body)
            text = text.removeprefix(b"<~").split(b"~>")[0]
            body = base64.a85decode(text)
        else:
            raise ValueError(f"filter {name}")
    return body


def _png(
    stream: _Stream,
    width: int,
    height: int,
    bits: int,
    channels: int,
    palette: bytes | None,
    parms: dict[str, Any],
    reader: _Reader,
) -> Image.Image:
    """Flate data with PNG predictors is a PNG's IDAT: wrap it in a PNG and let Pillow decode it."""
    names, _ = _filters(stream, reader)
    body = stream.raw
    if names[:-1]:
        body = _decode_filters(_Stream({"Filter": names[:-1]}, body), final_ok=False)
    colour_type = 3 if palette is not None else {1: 0, 3: 2}[channels]
    header = struct.pack(">IIBBBBB", width, height, bits, colour_type, 0, 0, 0)

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
    if palette is not None:
        png += chunk(b"PLTE", palette[: 3 * 256])
    png += chunk(b"IDAT", body) + chunk(b"IEND", b"")
    image = Image.open(io.BytesIO(png), formats=("PNG",))
    image.load()
    return image


def _ccitt(body: bytes, width: int, height: int, parms: dict[str, Any]) -> Image.Image:
    """A fax-coded page (CCITT group 3 or 4) wrapped in a one-strip TIFF that Pillow's libtiff decodes."""
    k = _int(parms.get("K", 0))
    black_is_1 = bool(parms.get("BlackIs1", False))
    rows = _int(parms.get("Rows", height)) or height
    columns = _int(parms.get("Columns", 1728)) or width
    compression = 4 if k < 0 else 3
    tags = [
        (256, 4, columns),  # ImageWidth
        (257, 4, rows),  # ImageLength
        (258, 3, 1),  # BitsPerSample
        (259, 3, compression),
        (262, 3, 0),  # Photometric: WhiteIsZero, which is what the fax code's bits mean
        (273, 4, 0),  # StripOffsets, patched below
        (277, 3, 1),  # SamplesPerPixel
        (278, 4, rows),  # RowsPerStrip
        (279, 4, len(body)),  # StripByteCounts
    ]
    if compression == 3:
        tags.append((292, 4, 1 if k > 0 else 0))  # T4Options: 2-D coding when K > 0
    header_size = 8 + 2 + 12 * len(tags) + 4
    entries = b"".join(
        struct.pack("<HHII", tag, kind, 1, header_size if tag == 273 else value)
        if kind == 4
        else struct.pack("<HHIHH", tag, kind, 1, value, 0)
        for tag, kind, value in tags
    )
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(tags)) + entries + b"\x00\x00\x00\x00" + body
    image = Image.open(io.BytesIO(tiff), formats=("TIFF",))
    image.load()
    return ImageOps.invert(image.convert("L")) if black_is_1 else image
