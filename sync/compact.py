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
after decompression reads the same array whatever the method was. It charges what it produces to
the body's budget (sync.budget): the rows are counted from their array's header before any is
decoded, each row is decoded on its own, and each record it gives back is charged its encoded size,
so field names and values that a shape or a reference repeats cost what they produce, not what
they took on the wire. :func:`expand_records` gives the same records each beside the change it was built
from, for a reader that decodes every record (the hub's ingest). All three functions are pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from sync.budget import FEED_SET, Budget, OverBudget, array_length
from sync.changes import Change, RowChange, StatusChange, decode_change, encode_change

__all__ = ("CompactError", "Record", "compact", "expand", "expand_records")

_STATUS, _RAW = -1, -2
_REF, _HEAD_REF = 1, 2  # msgpack extension types of the string table
_MIN_INTERNED = 6
_STATUS_FIELDS = tuple(name for name in StatusChange.__struct_fields__ if name != "hlc")
_ENCODER = msgspec.msgpack.Encoder()
_PARTS = msgspec.msgpack.Decoder(tuple[msgspec.Raw, msgspec.Raw])
_TABLE = msgspec.msgpack.Decoder(list[Any])
_ROWS = msgspec.msgpack.Decoder(list[msgspec.Raw])
_ROW = msgspec.msgpack.Decoder(list[Any])
_EXT = msgspec.msgpack.Ext
_STATUS_OPTIONAL = frozenset(f.name for f in msgspec.structs.fields(StatusChange) if not f.required)
_SCALARS = frozenset({str, int, float, bool, bytes, type(None)})

Record = tuple[bytes, Change | None]
"""A record's bytes as ``encode_change`` writes them, and the change they hold when :func:`expand_records`
built it (None for a record carried as it is, or one a reader must decode to judge: see ``_as_decoded``)."""


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


class _Strings:
    """The table of strings both sides build in the same order while writing and reading."""

    def __init__(self, row_limit: int = 0) -> None:
        self.items: list[str] = []
        self.index: dict[str, int] = {}
        self.row_limit = row_limit
        self.budget = row_limit
        """Characters references may still produce in the row being read (a few bytes of references
        must not inflate into megabytes before the row's record is charged)."""

    def next_row(self) -> None:
        self.budget = self.row_limit

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
            reference = msgspec.msgpack.Ext(
                _HEAD_REF, _varint(len(self.items) - 1 - self.index[head]) + value[len(head) :].encode()
            )
            self._add(value)
            return reference
        self.learn(value)
        return value

    def read_all(self, values: Sequence[Any]) -> list[Any]:
        """The values of a row as written, in order: references resolved, long strings learnt.

        One loop with its names bound, the writer's rule for learning (``learn``) and the common reference
        (to one of the last 16,384 strings) written out inline: it runs for every value of a backlog, most of
        them short strings, numbers, None or such a reference (a backlog's rows hold more references than
        anything else).
        """
        out: list[Any] = []
        append, items, index = out.append, self.items, self.index
        remember = items.append
        for value in values:
            kind = type(value)  # what msgspec decodes to: never a subclass
            if kind is str:
                if len(value) >= _MIN_INTERNED:
                    # learn(value): the writer's own rule, so both tables stay in step
                    if value not in index:
                        index[value] = len(items)
                        remember(value)
                    cut = max(value.rfind("/"), value.rfind(":"))
                    if cut >= _MIN_INTERNED:
                        head = value[:cut]
                        if head not in index:
                            index[head] = len(items)
                            remember(head)
                append(value)
            elif kind is not _EXT:
                append(value)
            else:
                # msgspec's stubs type Ext.data as any buffer; a decoded Ext always holds bytes.
                data: bytes = value.data
                back = -1
                if value.code == _REF:  # the distance back in one byte, or two (a varint: 7 bits a byte)
                    if len(data) == 1 and data[0] < 0x80:
                        back = data[0]
                    elif len(data) == 2 and data[0] >= 0x80 and data[1] < 0x80:
                        back = (data[0] & 0x7F) | data[1] << 7
                if 0 <= back < len(items):
                    text = items[-1 - back]
                else:
                    text = self._resolve(value.code, data)
                self.budget -= len(text)
                if self.budget < 0:
                    self._over()
                append(text)
        return out

    def _resolve(self, code: int, data: bytes) -> str:
        """The string a reference of any length names (a head reference's new string learnt)."""
        back = shift = used = 0
        for byte in data:  # the distance back: a varint of at most 5 bytes
            used += 1
            back |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
            if shift > 28:
                raise CompactError("string reference is malformed")
        else:
            raise CompactError("string reference is malformed")
        at = len(self.items) - 1 - back
        if at < 0:
            raise CompactError("string reference points nowhere")
        if code == _REF:
            return self.items[at]
        if code == _HEAD_REF:
            try:
                text = self.items[at] + data[used:].decode()
            except UnicodeDecodeError:
                raise CompactError("string reference points nowhere") from None
            self._add(text)
            return text
        raise CompactError("string reference points nowhere")

    def _over(self) -> None:
        raise OverBudget(
            zh=f"单条记录展开后超过 {self.row_limit} 个字符",
            en=f"a record expands past {self.row_limit} characters",
            code="too_large",
        )


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


def expand(data: bytes, *, budget: Budget | None = None, max_size: int | None = None) -> list[bytes]:
    """The records of a compact body, each as ``encode_change`` writes it (other records as carried).

    Args:
        budget: what the body may still produce (sync.budget); each record given back is charged
            to it. Without one, ``max_size`` bytes under the feed's other limits.

    Raises:
        CompactError: the data is not a compact body.
        OverBudget: more rows, fields, bytes in a record or bytes in all than the budget allows
            (checked before the row or record that would pass it is made).
    """
    return [record for record, _ in expand_records(data, budget=budget, max_size=max_size)]


def expand_records(data: bytes, *, budget: Budget | None = None, max_size: int | None = None) -> list[Record]:
    """The records of a compact body as :func:`expand` gives them, each beside the change it holds (Record).

    A reader that decodes each record anyway (the hub's ingest) takes the change built here instead: it
    equals what ``decode_change`` gives back for the record, and the record's bytes are not read twice.
    Arguments and errors as for :func:`expand`.
    """
    if budget is None:
        budget = Budget(FEED_SET if max_size is None else msgspec.structs.replace(FEED_SET, max_bytes=max_size))
    limits = budget.limits
    try:
        if array_length(data)[0] != 2:
            raise ValueError("not [shapes, rows]")
        raw_table, raw_rows = _PARTS.decode(data)
        shape_count = array_length(raw_table)[0]
        if shape_count < 0:
            raise ValueError("the shape table is not an array")
        if shape_count > limits.max_records:  # each shape serves a row at least
            budget.records(shape_count)
        shapes = [_shape(entry, budget) for entry in _TABLE.decode(raw_table)]
        row_count = array_length(raw_rows)[0]
        if row_count < 0:
            raise ValueError("the rows are not an array")
    except OverBudget:
        raise
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError, ValueError, TypeError) as exc:
        raise CompactError(f"compact body is malformed ({exc})") from None
    budget.records(row_count)  # refused here, before a single row is decoded
    try:
        rows = _ROWS.decode(raw_rows)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise CompactError(f"compact body is malformed ({exc})") from None
    strings = _Strings(row_limit=limits.max_record_bytes)
    records: list[Record] = []
    previous_hlc = 0
    for raw in rows:
        if len(raw) > limits.max_record_bytes:
            budget.record(len(raw))  # a row longer than any record may be: refused as one
        strings.budget = strings.row_limit  # strings.next_row(), written out: this runs for every row
        try:
            row = _ROW.decode(raw)
            kind = row[0]
            if not isinstance(kind, int) or kind < _RAW:
                raise CompactError(f"unknown row kind {kind!r}")
            if kind == _RAW:
                record = row[1]
                if not isinstance(record, bytes):  # bytes(10**9) would make a gigabyte of zeros
                    raise CompactError("a record carried as it is must be bytes")
                built: Change | None = None
            else:
                previous_hlc += row[1 if kind == _STATUS else 2]
                if kind == _STATUS:
                    # every value is read (the string table must see them all), then the fields this reader
                    # knows are kept: a newer writer's extra fields are ignored
                    read = strings.read_all(row[2:])
                    change: Change = StatusChange(hlc=previous_hlc, **dict(zip(_STATUS_FIELDS, read, strict=False)))
                else:
                    table_name, fields, insert, origin = shapes[kind]
                    # [kind, key, clock delta, *values]: the kind and the delta are numbers (checked above), which
                    # the string table passes over, so the whole row is read as it lies, no list made for it
                    read = strings.read_all(row)
                    if len(read) - 3 != len(fields):
                        raise CompactError(f"row of shape {kind} has {len(read) - 3} values for {len(fields)} fields")
                    change = RowChange(
                        table=table_name,
                        pk=read[1],
                        hlc=previous_hlc,
                        fields=dict(zip(fields, read[3:], strict=False)),  # as long as each other: checked above
                        insert=insert,
                        origin=origin,
                    )
                record = encode_change(change)
                built = _as_decoded(change)
        except (CompactError, OverBudget):
            raise
        except (
            msgspec.DecodeError,
            UnicodeDecodeError,
            RecursionError,
            IndexError,
            TypeError,
            ValueError,
            OverflowError,
            msgspec.ValidationError,
        ) as exc:
            raise CompactError(f"compact body is malformed ({type(exc).__name__}: {exc})") from None
        budget.record(len(record))
        records.append((record, built))
    return records


def _as_decoded(change: Change) -> Change | None:
    """The change as ``decode_change`` would give it back from its record, or None when a value is of a type
    the record's decoder refuses or may judge otherwise (the reader decodes the bytes then, as before).

    msgspec builds a Struct without checking its fields' types, so they are checked here: a text where the
    record holds text, an integer clock (never a bool), and values that are scalars (a nested one decodes
    against the decoder's depth limit: left to the decoder).
    """
    if type(change.hlc) is not int or not (change.origin is None or type(change.origin) is str):
        return None
    if isinstance(change, RowChange):
        if type(change.pk) is not str or not _SCALARS.issuperset(map(type, change.fields.values())):
            return None
        return change
    for name in _STATUS_FIELDS:
        value = getattr(change, name)
        if type(value) is not str and not (value is None and name in _STATUS_OPTIONAL):
            return None
    return change


def _shape(entry: Any, budget: Budget) -> tuple[str, list[str], bool, Any]:
    """One entry of the shape table, checked: a shape with more fields, or longer names, than one
    record may hold is refused before any row uses it."""
    table_name, fields, insert, origin = entry
    if not isinstance(fields, list):
        raise TypeError("a shape's fields are not a list")
    budget.fields(len(fields))
    names = [str(f) for f in fields]
    limit = budget.limits.max_record_bytes
    if sum(len(n) for n in names) + len(str(table_name)) > limit:
        raise OverBudget(
            zh=f"字段名总长超过 {limit} 个字符",
            en=f"a shape's field names alone are over {limit} characters",
            code="too_large",
        )
    return str(table_name), names, bool(insert), origin
