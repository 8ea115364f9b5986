"""Compression of set bodies: zstd with a dictionary trained on the record shapes (village links are slow).

Bodies are compressed before they are sealed (ciphertext does not compress) and decompressed
after they are opened, with a hard cap on the inflated size, so a hostile set cannot exhaust
memory. The method travels in the signed set, so it cannot be changed unseen.
"""

from __future__ import annotations

import functools
from importlib import resources

import zstandard

from sync.errors import ProxyAppError

__all__ = ("MAX_INFLATED", "METHODS", "compress", "decompress")

MAX_INFLATED = 32 * 1024 * 1024
"""No set body inflates past this (a 500-change set is about 150 KB)."""

NONE, ZSTD_D1 = "", "zstd-d1"
METHODS = (NONE, ZSTD_D1)
"""Methods a reader must understand. A dictionary once shipped never changes: a new one is a new method."""

_LEVEL = 19  # ~7 ms for a day's work of a village (44 KB); the link, not the CPU, is what is scarce


@functools.cache
def _dictionary() -> zstandard.ZstdCompressionDict:
    data = resources.files("sync").joinpath("data", "changes-v1.zdict").read_bytes()
    return zstandard.ZstdCompressionDict(data)


def compress(data: bytes) -> tuple[str, bytes]:
    """(method, bytes): zstd with the v1 dictionary, or the data as is when that is not smaller."""
    # No dictionary id in the frame (4 bytes a set): the method names the dictionary, and a reader
    # always decompresses with the one its method names (a frame with the id reads the same way).
    packed = zstandard.ZstdCompressor(level=_LEVEL, dict_data=_dictionary(), write_content_size=True,
                                      write_dict_id=False).compress(data)
    return (ZSTD_D1, packed) if len(packed) < len(data) else (NONE, data)


def decompress(method: str, data: bytes, *, max_size: int = MAX_INFLATED) -> bytes:
    """Undo :func:`compress`; ProxyAppError ``too_large`` past ``max_size``, ``malformed`` when broken."""
    if method == NONE:
        return data
    if method != ZSTD_D1:
        raise ProxyAppError(
            f"unknown compression {method!r}; update the software", f"未知的压缩方式 {method!r}；请升级软件",
            code="protocol_version",
        )
    try:
        size = zstandard.frame_content_size(data)
    except zstandard.ZstdError:
        size = -1
    if size < 0 or size > max_size:
        # Frames we write always declare their size; one that does not, or declares too much, is refused
        # before a byte is inflated (a decompression bomb).
        raise ProxyAppError(
            f"compressed body would inflate to more than {max_size} bytes", f"压缩数据解压后超过 {max_size} 字节",
            code="too_large",
        )
    try:
        return zstandard.ZstdDecompressor(dict_data=_dictionary()).decompress(data, max_output_size=max_size)
    except zstandard.ZstdError as exc:
        raise ProxyAppError(f"compressed body is damaged ({exc})", f"压缩数据已损坏（{exc}）", code="malformed") from None
