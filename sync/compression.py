"""Compression of set bodies: zstd with a dictionary trained on the record shapes (village links are slow).

Bodies are compressed before they are sealed (ciphertext does not compress) and decompressed
after they are opened under the body's one budget (sync.budget): the inflated bytes, the records
the compact form expands to and the records' count are all charged to it, so a hostile set cannot
exhaust memory. The method travels in the signed set, so it cannot be changed unseen. Methods:

- ``zstd-d1``: the msgpack array of records, zstd with the 16 KiB dictionary changes-v1.zdict;
  written up to 0.5 for a peer that had not said it reads ``zstd-r2``, read forever;
- ``zstd-r2``: the records' compact form (sync.compact), zstd with the 64 KiB changes-v2.zdict;
  what every peer within the support window reads, so the one method written since 0.6
  (docs/protocol.md, "Compact bodies" and "Support window").
"""

from __future__ import annotations

import functools
from importlib import resources

import msgspec
import zstandard

from sync.budget import FEED_SET, Budget, OverBudget, array_length
from sync.compact import CompactError, Record, compact, expand_records
from sync.errors import ProxyAppError

__all__ = (
    "MAX_INFLATED",
    "METHODS",
    "NONE",
    "ZSTD_D1",
    "ZSTD_R2",
    "decompress",
    "msgpack_array",
    "pack",
    "unpack",
    "unpack_records",
)

MAX_INFLATED = FEED_SET.max_bytes
"""No set body inflates past this (a 500-change set is about 150 KB); a station's set, decoded at the
hub, under sync.budget.STATION_SET's 8 MiB."""

NONE, ZSTD_D1, ZSTD_R2 = "", "zstd-d1", "zstd-r2"
METHODS = (NONE, ZSTD_D1, ZSTD_R2)
"""Methods a reader must understand, for ever. A dictionary once shipped never changes: a new one is a new method."""

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
    return b"".join([head, *items])  # one copy: head + join(...) would make two


@functools.cache
def _compression_dictionary(method: str) -> zstandard.ZstdCompressionDict:
    # Digested for level 19 once per process, not at every seal: a compressor given the raw dictionary
    # spent ~16 ms preparing it for ~0.2 ms of compressing (the same bytes come out). Fully prepared
    # before functools.cache publishes it; compressors only read it, so threads share it.
    dictionary = _dictionary(method)
    dictionary.precompute_compress(level=_LEVEL)
    return dictionary


def _zstd(method: str, data: bytes) -> bytes:
    # No dictionary id in the frame (4 bytes a set): the method names the dictionary, and a reader
    # always decompresses with the one its method names (a frame with the id reads the same way).
    return zstandard.ZstdCompressor(
        dict_data=_compression_dictionary(method), write_content_size=True, write_dict_id=False
    ).compress(data)


def pack(records: list[bytes]) -> tuple[str, bytes]:
    """(method, bytes) for a body of encoded records: ``zstd-r2``, or the plain array when compressing
    does not make it smaller.

    Every peer within the support window reads ``zstd-r2`` (0.4 said so), so nothing else is written;
    ``zstd-d1`` bodies that older writers sealed are still read (:func:`unpack`).
    """
    plain = msgpack_array(records)
    packed = _zstd(ZSTD_R2, compact(records))
    return (ZSTD_R2, packed) if len(packed) < len(plain) else (NONE, plain)


def _budget(budget: Budget | None, max_size: int | None) -> Budget:
    if budget is not None:
        return budget
    return Budget(FEED_SET if max_size is None else msgspec.structs.replace(FEED_SET, max_bytes=max_size))


def unpack(method: str, data: bytes, *, budget: Budget | None = None, max_size: int | None = None) -> bytes:
    """The body :func:`pack` was given, as the msgpack array of its records, whatever the method.

    Everything produced is charged to ``budget`` (without one: ``max_size`` bytes, or
    :data:`MAX_INFLATED`, under the feed's limits): the inflated bytes, then for ``zstd-r2`` each
    expanded record, and the records' count, read from the array's header before it is decoded.

    Raises:
        ProxyAppError: ``protocol_version`` for a method this side does not read, ``too_large``
            (sync.budget.OverBudget), ``malformed``.
    """
    budget = _budget(budget, max_size)
    if method != ZSTD_R2:
        body = decompress(method, data, budget=budget)
        count, _ = array_length(body)
        if count < 0:
            raise ProxyAppError(zh="数据内容不是记录数组", en="the body is not an array of records", code="malformed")
        budget.records(count)
        return body
    return msgpack_array([record for record, _ in _expanded(method, data, budget)])


_RECORDS = msgspec.msgpack.Decoder(list[msgspec.Raw])


def unpack_records(method: str, data: bytes, *, budget: Budget) -> list[Record]:
    """The records of the body :func:`pack` was given, each beside the change it holds where decompressing
    built it (sync.compact.Record; a ``zstd-r2`` body's row changes), charged to ``budget`` as :func:`unpack`
    charges them. A reader that decodes every record (the hub's ingest) decodes only those without one.

    Raises:
        ProxyAppError: as :func:`unpack`.
    """
    if method == ZSTD_R2:
        return _expanded(method, data, budget)
    body = unpack(method, data, budget=budget)
    try:
        return [(bytes(raw), None) for raw in _RECORDS.decode(body)]
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ProxyAppError(
            zh="数据内容不是记录数组", en=f"the body is not an array of records ({exc})", code="malformed"
        ) from None


def _expanded(method: str, data: bytes, budget: Budget) -> list[Record]:
    """A ``zstd-r2`` body inflated and expanded (sync.compact.expand_records); ProxyAppError ``malformed``
    when it does not expand."""
    try:
        return expand_records(_inflate(method, data, budget), budget=budget)
    except CompactError as exc:
        raise ProxyAppError(
            zh=f"压缩数据已损坏（{exc}）", en=f"compressed body is damaged ({exc})", code="malformed"
        ) from None


def decompress(method: str, data: bytes, *, budget: Budget | None = None, max_size: int | None = None) -> bytes:
    """A ``zstd-d1`` (or uncompressed) body as it was before compression; ProxyAppError ``too_large`` past the
    budget (or ``max_size``), ``malformed`` when broken."""
    budget = _budget(budget, max_size)
    if method == NONE:
        budget.spend(len(data))
        return data
    if method != ZSTD_D1:
        raise ProxyAppError(
            zh=f"未知的压缩方式 {method!r}；请升级软件",
            en=f"unknown compression {method!r}; update the software",
            code="protocol_version",
        )
    return _inflate(method, data, budget)


def _inflate(method: str, data: bytes, budget: Budget) -> bytes:
    try:
        size = zstandard.frame_content_size(data)
    except zstandard.ZstdError:
        size = -1
    room = max(budget.bytes_left, 0)
    if size < 0 or size > room:
        # Frames we write always declare their size; one that does not, or declares more than the
        # budget has left, is refused before a byte is inflated (a decompression bomb).
        raise OverBudget(
            zh=f"压缩数据解压后超过 {room} 字节",
            en=f"compressed body would inflate to more than {room} bytes",
            code="too_large",
        )
    try:
        inflated = zstandard.ZstdDecompressor(dict_data=_dictionary(method)).decompress(data, max_output_size=size)
    except zstandard.ZstdError as exc:
        raise ProxyAppError(
            zh=f"压缩数据已损坏（{exc}）", en=f"compressed body is damaged ({exc})", code="malformed"
        ) from None
    budget.spend(len(inflated))
    return inflated
