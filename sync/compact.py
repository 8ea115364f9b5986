"""The compact form of a set body (method ``zstd-r2``): records laid out so zstd finds what repeats.

A set body is a msgpack array of encoded records (sync.changes, sync.protocol.DownItem). Before
compression, method ``zstd-r2`` rewrites it (docs/protocol.md, "Compact bodies"):

- row changes lose their field names: each distinct ``(table, field names, insert, origin)`` is
  written once in a table of shapes, and a row names its shape by index;
- clock stamps are written as the difference from the previous record's (a day's work moves by
  milliseconds, not by 2^60);
- a string of 6 characters or more that was already written is replaced by a reference into a
  table both sides build as they go (its distance back from the newest entry: case numbers,
  times, material ids), and one whose head (the text before its last ``/`` or ``:``) was written
  is replaced by a reference to the head and its tail;
- any other record (a decision's case state, a catalogue) is carried as its bytes.

:func:`expand` gives back the body's records as ``encode_change`` writes them, so everything
after decompression reads the same array whatever the method was. Both functions are pure.
"""

from __future__ import annotations

from typing import Any

import msgspec

from sync.changes import Change, RowChange, StatusChange, decode_change, encode_change

__all__ = ("CompactError", "compact", "expand")

_STATUS, _RAW = -1, -2
_REF, _HEAD_REF = 1, 2  # msgpack extension types of the string table
_MIN_INTERNED = 6
_STATUS_FIELDS = tuple(name for name in StatusChange.__struct_fields__ if name != "hlc")
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(list[Any])


class CompactError(ValueError):
    """A compact body that does not expand (only a peer with a bug or a hostile key writes one)."""


def _head(text: str) -> str | None:
    cut = max(text.rfind("/"), text.rfind(":"))
    return text[:cut] if cut >= _MIN_INTERNED else None


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(data: bytes) -> tuple[int, int]:
    value = shift = 0
    for index, byte in enumerate(data):
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, index + 1
        shift += 7
        if shift > 28:
            break
    raise CompactError("string reference is malformed")


class _Strings:
    """The table of strings both sides build in the same order while writing and reading."""

    def __init__(self, budget: int = 0) -> None:
        self.items: list[str] = []
        self.index: dict[str, int] = {}
        self.budget = budget
        """Characters references may still produce while reading (a few bytes of references must
        not inflate into gigabytes)."""

    def _add(self, text: str) -> None:
        if text not in self.index:
            self.index[text] = len(self.items)
            self.items.append(text)

    def learn(self, text: str) -> None:
        """Record a string as written in full (and its head, so later strings can build on it)."""
        self._add(text)
        head = _head(text)
        if head is not None:
            self._add(head)

    def write(self, value: Any) -> Any:
        if not isinstance(value, str) or len(value) < _MIN_INTERNED:
            return value
        known = self.index.get(value)
        if known is not None:
            return msgspec.msgpack.Ext(_REF, _varint(len(self.items) - 1 - known))
        head = _head(value)
        if head is not None and head in self.index:
            reference = msgspec.msgpack.Ext(_HEAD_REF, _varint(len(self.items) - 1 - self.index[head]) + value[len(head):].encode())
            self._add(value)
            return reference
        self.learn(value)
        return value

    def read(self, value: Any) -> Any:
        if isinstance(value, msgspec.msgpack.Ext):
            try:
                back, used = _read_varint(value.data)
                index = len(self.items) - 1 - back
                if index < 0:
                    raise IndexError(back)
                if value.code == _REF:
                    text = self.items[index]
                elif value.code == _HEAD_REF:
                    text = self.items[index] + value.data[used:].decode()
                    self._add(text)
                else:
                    raise IndexError(value.code)
                self.budget -= len(text)
                if self.budget < 0:
                    raise CompactError("compact body expands past the size limit")
                return text
            except (IndexError, UnicodeDecodeError):
                pass
            raise CompactError("string reference points nowhere")
        if isinstance(value, str) and len(value) >= _MIN_INTERNED:
            self.learn(value)
        return value


def _has_extension(change: Change) -> bool:
    # A top-level extension value would read back as a string reference: such a record (none of
    # ours writes one) travels as it is.
    values = change.fields.values() if isinstance(change, RowChange) else (getattr(change, n) for n in _STATUS_FIELDS)
    return any(isinstance(value, msgspec.msgpack.Ext) for value in values)


def compact(records: list[bytes]) -> bytes:
    """The compact form of a body's records (each the msgpack bytes of one record)."""
    strings = _Strings()
    shapes: dict[tuple[Any, ...], int] = {}
    rows: list[list[Any]] = []
    previous_hlc = 0
    for record in records:
        try:
            change: Change | None = decode_change(record)
        except msgspec.DecodeError:
            change = None  # another kind of record: carried as it is
        if change is None or _has_extension(change):
            rows.append([_RAW, record])
            continue
        delta, previous_hlc = change.hlc - previous_hlc, change.hlc
        if isinstance(change, RowChange):
            shape = (change.table, tuple(change.fields), change.insert, change.origin)
            number = shapes.setdefault(shape, len(shapes))
            rows.append([number, strings.write(change.pk), delta, *(strings.write(v) for v in change.fields.values())])
        else:
            rows.append([_STATUS, delta, *(strings.write(getattr(change, name)) for name in _STATUS_FIELDS)])
    table = [[table_name, list(fields), insert, origin] for table_name, fields, insert, origin in shapes]
    return _ENCODER.encode([table, rows])


def expand(data: bytes, *, max_size: int) -> list[bytes]:
    """The records of a compact body, each as ``encode_change`` writes it (other records as carried).

    Raises:
        CompactError: the data is not a compact body, or its references would produce more than
            ``max_size`` characters.
    """
    try:
        table, rows = _DECODER.decode(data)
        shapes = [(str(t), [str(f) for f in fields], bool(insert), origin) for t, fields, insert, origin in table]
    except (msgspec.DecodeError, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise CompactError(f"compact body is malformed ({exc})") from None
    strings = _Strings(budget=max_size)
    records: list[bytes] = []
    previous_hlc = 0
    for row in rows:
        try:
            kind = row[0]
            if not isinstance(kind, int) or kind < _RAW:
                raise CompactError(f"unknown row kind {kind!r}")
            if kind == _RAW:
                records.append(bytes(row[1]))
                continue
            previous_hlc += row[1 if kind == _STATUS else 2]
            if kind == _STATUS:
                # every value is read (the string table must see them all), then the fields this reader
                # knows are kept: a newer writer's extra fields are ignored
                read = [strings.read(v) for v in row[2:]]
                change: Change = StatusChange(hlc=previous_hlc, **dict(zip(_STATUS_FIELDS, read, strict=False)))
            else:
                table_name, fields, insert, origin = shapes[kind]
                pk = strings.read(row[1])
                values = [strings.read(v) for v in row[3:]]
                if len(values) != len(fields):
                    raise CompactError(f"row of shape {kind} has {len(values)} values for {len(fields)} fields")
                change = RowChange(table=table_name, pk=pk, hlc=previous_hlc, fields=dict(zip(fields, values, strict=True)),
                                   insert=insert, origin=origin)
            records.append(encode_change(change))
        except CompactError:
            raise
        except (IndexError, TypeError, ValueError, OverflowError, msgspec.ValidationError) as exc:
            raise CompactError(f"compact body is malformed ({type(exc).__name__}: {exc})") from None
    return records
