"""Compression of set bodies: zstd with a dictionary trained on the record shapes (village links are slow).

Bodies are compressed before they are sealed (ciphertext does not compress) and decompressed
after they are opened, with a hard cap on the inflated size, so a hostile set cannot exhaust
memory. The method travels in the signed set, so it cannot be changed unseen. Methods:

- ``zstd-d1``: the msgpack array of records, zstd with the 16 KiB dictionary changes-v1.zdict;
- ``zstd-r2``: the records' compact form (sync.compact), zstd with the 64 KiB changes-v2.zdict;
  written only to a peer that said it reads it (docs/protocol.md, "Compact bodies").
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from importlib import resources

import zstandard

from sync.compact import CompactError, compact, expand
from sync.errors import ProxyAppError

__all__ = ("MAX_INFLATED", "METHODS", "ZSTD_D1", "ZSTD_R2", "compress", "decompress", "msgpack_array", "pack", "unpack")

MAX_INFLATED = 32 * 1024 * 1024
"""No set body inflates past this (a 500-change set is about 150 KB)."""

NONE, ZSTD_D1, ZSTD_R2 = "", "zstd-d1", "zstd-r2"
METHODS = (NONE, ZSTD_D1, ZSTD_R2)
"""Methods a reader must understand. A dictionary once shipped never changes: a new one is a new method."""

_LEVEL = 19  # ~7 ms for a day's work of a village (44 KB); the link, not the CPU, is what is scarce


_DICTIONARIES = {ZSTD_D1: "changes-v1.zdict", ZSTD_R2: "changes-v2.zdict"}


@functools.cache
def _dictionary(method: str = ZSTD_D1) -> zstandard.ZstdCompressionDict:
    data = resources.files("sync").joinpath("data", _DICTIONARIES[method]).read_bytes()
    return zstandard.ZstdCompressionDict(data)


def msgpack_array(items: list[bytes]) -> bytes:
    """A msgpack array of already-encoded items, built without decoding them."""
    n = len(items)
    if n < 16:
        head = bytes([0x90 | n])
    elif n < 2**16:
        head = b"\xdc" + n.to_bytes(2, "big")
    else:
        head = b"\xdd" + n.to_bytes(4, "big")
    return head + b"".join(items)


def _zstd(method: str, data: bytes) -> bytes:
    # No dictionary id in the frame (4 bytes a set): the method names the dictionary, and a reader
    # always decompresses with the one its method names (a frame with the id reads the same way).
    return zstandard.ZstdCompressor(level=_LEVEL, dict_data=_dictionary(method), write_content_size=True,
                                    write_dict_id=False).compress(data)


def pack(records: list[bytes], *, methods: Collection[str] = (ZSTD_D1,)) -> tuple[str, bytes]:
    """(method, bytes) for a body of encoded records: the best of ``methods`` the receiver reads.

    ``zstd-r2`` when the receiver reads it, else ``zstd-d1``; the plain array when compressing
    does not make it smaller.
    """
    plain = msgpack_array(records)
    if ZSTD_R2 in methods:
        packed = _zstd(ZSTD_R2, compact(records))
        return (ZSTD_R2, packed) if len(packed) < len(plain) else (NONE, plain)
    return compress(plain)


def unpack(method: str, data: bytes, *, max_size: int = MAX_INFLATED) -> bytes:
    """The body :func:`pack` was given, as the msgpack array of its records, whatever the method.

    Raises:
        ProxyAppError: ``protocol_version`` for a method this side does not read, ``too_large``,
            ``malformed``.
    """
    if method != ZSTD_R2:
        return decompress(method, data, max_size=max_size)
    try:
        return msgpack_array(expand(_inflate(method, data, max_size), max_size=max_size))
    except CompactError as exc:
        raise ProxyAppError(f"compressed body is damaged ({exc})", f"压缩数据已损坏（{exc}）", code="malformed") from None


def compress(data: bytes) -> tuple[str, bytes]:
    """(method, bytes): zstd with the v1 dictionary, or the data as is when that is not smaller."""
    packed = _zstd(ZSTD_D1, data)
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
    return _inflate(method, data, max_size)


def _inflate(method: str, data: bytes, max_size: int) -> bytes:
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
        return zstandard.ZstdDecompressor(dict_data=_dictionary(method)).decompress(data, max_output_size=max_size)
    except zstandard.ZstdError as exc:
        raise ProxyAppError(f"compressed body is damaged ({exc})", f"压缩数据已损坏（{exc}）", code="malformed") from None
