"""One budget per decoded set body: the bytes and the records every decode step produces, refused at the first one over.

A set body goes through up to four decoders (zstd, the compact expansion of sync.compact, msgpack,
and for a request body gzip before them). Each produces more than it reads, so each charges what
it produces to one :class:`Budget`: bytes inflated, each record expanded (its encoded size), and
the records themselves (counted from a msgpack array's header, before the array is decoded). A
body stops at the first byte or record past its :class:`DecodeLimits`; none of it is kept.

Station sets are decoded under :data:`STATION_SET` (sync.limits: what a station writes under);
feed sets, which only the pinned hub key signs and which carry catalogues and division trees,
under the larger :data:`FEED_SET`.
"""

from __future__ import annotations

import msgspec

from sync.errors import ProxyAppError
from sync.limits import MAX_CHANGES_PER_SET, MAX_FIELDS_PER_RECORD, MAX_RECORD_BYTES, MAX_SET_INFLATED_BYTES

__all__ = ("FEED_SET", "STATION_SET", "Budget", "DecodeLimits", "OverBudget", "array_length")


class OverBudget(ProxyAppError):
    """A body would produce more bytes, records or fields than its limits allow."""

    code = "too_large"


class DecodeLimits(msgspec.Struct, frozen=True, kw_only=True):
    """What one set body may produce, all decode steps together."""

    max_bytes: int
    """Bytes produced in all: inflated, then expanded (sync.limits.MAX_SET_INFLATED_BYTES for a station set)."""
    max_records: int
    """Records (changes, feed items) in the body."""
    max_record_bytes: int
    """Encoded bytes of one record."""
    max_fields: int
    """Fields of one row change (a shape of the compact form)."""


STATION_SET = DecodeLimits(
    max_bytes=MAX_SET_INFLATED_BYTES,
    max_records=MAX_CHANGES_PER_SET,
    max_record_bytes=MAX_RECORD_BYTES,
    max_fields=MAX_FIELDS_PER_RECORD,
)
"""A station's set, as the hub decodes it: the limits the station seals under."""

FEED_SET = DecodeLimits(
    max_bytes=32 * 1024 * 1024, max_records=10_000, max_record_bytes=32 * 1024 * 1024, max_fields=1024
)
"""A feed set, as a station decodes it: signed by the pinned hub key, and a catalogue or division tree
is one record of a few hundred kilobytes (the hub seals at most 200 items a set)."""


class Budget:
    """What one body may still produce; every decoder of the body charges the same one."""

    def __init__(self, limits: DecodeLimits) -> None:
        self.limits = limits
        self.bytes_left = limits.max_bytes
        self.records_left = limits.max_records

    def spend(self, size: int, *, what: str = "the body") -> None:
        """Charge ``size`` bytes produced; OverBudget once the body's bytes run out."""
        self.bytes_left -= size
        if self.bytes_left < 0:
            raise OverBudget(
                zh=f"{_what_zh(what)}解码后超过 {self.limits.max_bytes} 字节的上限",
                en=f"{what} decodes to more bytes than the limit of {self.limits.max_bytes}",
                code="too_large",
            )

    def records(self, count: int) -> None:
        """Charge ``count`` records (read from an array header, before the array is decoded)."""
        self.records_left -= count
        if count < 0 or self.records_left < 0:
            raise OverBudget(
                zh=f"数据集有 {self.limits.max_records - self.records_left} 条记录，超过 {self.limits.max_records} 条的上限",
                en=f"{self.limits.max_records - self.records_left} records in a set, over the limit of "
                f"{self.limits.max_records}",
                code="too_large",
            )

    def record(self, size: int) -> None:
        """Charge one produced record of ``size`` encoded bytes (its bytes; its count when not yet counted)."""
        if size > self.limits.max_record_bytes:
            raise OverBudget(
                zh=f"单条记录 {size} 字节，超过 {self.limits.max_record_bytes} 字节的上限",
                en=f"a record of {size} bytes is over the limit of {self.limits.max_record_bytes}",
                code="too_large",
            )
        self.spend(size, what="the set's records")

    def fields(self, count: int) -> None:
        """Check the field count of one row change (or a shape of them)."""
        if count > self.limits.max_fields:
            raise OverBudget(
                zh=f"单条记录有 {count} 个字段，超过 {self.limits.max_fields} 个的上限",
                en=f"a record has {count} fields, over the limit of {self.limits.max_fields}",
                code="too_large",
            )


def _what_zh(what: str) -> str:
    return {"the body": "数据", "the set's records": "数据集记录", "the compact body": "紧凑数据"}.get(what, "数据")


def array_length(data: bytes | memoryview | msgspec.Raw, offset: int = 0) -> tuple[int, int]:
    """(items, header bytes) of the msgpack array at ``offset``; (-1, 0) when there is none.

    Read before the array is decoded, so its length is charged (or refused) before any item exists.
    """
    data = memoryview(data)
    if len(data) <= offset:
        return -1, 0
    head = data[offset]
    if 0x90 <= head <= 0x9F:
        return head - 0x90, 1
    if head == 0xDC and len(data) >= offset + 3:
        return int.from_bytes(data[offset + 1 : offset + 3], "big"), 3
    if head == 0xDD and len(data) >= offset + 5:
        return int.from_bytes(data[offset + 1 : offset + 5], "big"), 5
    return -1, 0
