"""Tests for outbox change records (sync.changes): msgpack round trips, tags on the wire, schema evolution."""

from __future__ import annotations

import msgspec
import msgspec.structs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.changes import RowChange, StatusChange, decode_change, encode_change

HLC = st.integers(min_value=0, max_value=2**53)
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
# Field values a replicated row carries: JSON-like scalars (no floats: NaN breaks equality).
VALUE = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**53), max_value=2**53), TEXT)

ROW = st.builds(
    RowChange,
    table=TEXT,
    pk=TEXT,
    hlc=HLC,
    fields=st.dictionaries(TEXT, VALUE, max_size=8),
    insert=st.booleans(),
)
STATUS = st.builds(
    StatusChange,
    event_id=TEXT,
    case_no=TEXT,
    from_status=TEXT,
    to_status=TEXT,
    actor=TEXT,
    hlc=HLC,
    at=TEXT,
    reason=st.none() | TEXT,
    outcome=st.none() | st.sampled_from(["approved", "denied"]),
    by=st.none() | TEXT,
)

STATUS_EXAMPLE = StatusChange(
    event_id="01JD0000000000000000000000",
    case_no="349921-20261125-0001",
    from_status="DRAFT",
    to_status="RECEIVED",
    actor="station",
    hlc=123456789,
    at="2026-11-25T09:30:00.000Z",
    by="agent01",
)
ROW_EXAMPLE = RowChange(table="cases", pk="349921-20261125-0001", hlc=42, fields={"item_code": "RS-001"}, insert=True)

# ---- round trips -----------------------------------------------------------------------------


@given(ROW)
def test_row_change_round_trip(change: RowChange) -> None:
    decoded = decode_change(encode_change(change))
    assert type(decoded) is RowChange
    assert decoded == change


@given(STATUS)
def test_status_change_round_trip(change: StatusChange) -> None:
    decoded = decode_change(encode_change(change))
    assert type(decoded) is StatusChange
    assert decoded == change


def test_encoding_is_bytes_and_deterministic() -> None:
    data = encode_change(STATUS_EXAMPLE)
    assert isinstance(data, bytes)
    assert encode_change(STATUS_EXAMPLE) == data


# ---- the tag is on the wire ------------------------------------------------------------------


def test_row_tag_on_the_wire() -> None:
    raw = msgspec.msgpack.decode(encode_change(ROW_EXAMPLE))
    assert raw["type"] == "row"
    assert raw["table"] == "cases"
    assert raw["insert"] is True


def test_status_tag_on_the_wire() -> None:
    raw = msgspec.msgpack.decode(encode_change(STATUS_EXAMPLE))
    assert raw["type"] == "status"
    assert raw["to_status"] == "RECEIVED"


def test_plain_map_with_tag_decodes_to_the_right_type() -> None:
    raw = {"type": "row", "table": "t", "pk": "1", "hlc": 5, "fields": {}}
    decoded = decode_change(msgspec.msgpack.encode(raw))
    assert decoded == RowChange(table="t", pk="1", hlc=5, fields={})


def test_unknown_tag_refused() -> None:
    raw = msgspec.msgpack.decode(encode_change(ROW_EXAMPLE))
    raw["type"] = "rating"
    with pytest.raises(msgspec.ValidationError, match="rating"):
        decode_change(msgspec.msgpack.encode(raw))


def test_missing_tag_refused() -> None:
    raw = msgspec.msgpack.decode(encode_change(ROW_EXAMPLE))
    del raw["type"]
    with pytest.raises(msgspec.ValidationError):
        decode_change(msgspec.msgpack.encode(raw))


def test_wrong_field_type_refused() -> None:
    raw = msgspec.msgpack.decode(encode_change(STATUS_EXAMPLE))
    raw["hlc"] = "soon"
    with pytest.raises(msgspec.ValidationError, match="hlc"):
        decode_change(msgspec.msgpack.encode(raw))


# ---- schema evolution: new fields must have defaults -----------------------------------------


class StatusChangeV0(msgspec.Struct, tag="status", kw_only=True, frozen=True):
    """An older release's StatusChange, before ``outcome`` and ``by`` were added."""

    event_id: str
    case_no: str
    from_status: str
    to_status: str
    actor: str
    hlc: int
    at: str
    reason: str | None = None


class RowChangeV0(msgspec.Struct, tag="row", kw_only=True, frozen=True):
    """An older release's RowChange, before ``insert`` was added."""

    table: str
    pk: str
    hlc: int
    fields: dict[str, object]


class StatusChangeNext(msgspec.Struct, tag="status", kw_only=True, frozen=True):
    """A future release's StatusChange with a new, defaulted field."""

    event_id: str
    case_no: str
    from_status: str
    to_status: str
    actor: str
    hlc: int
    at: str
    reason: str | None = None
    outcome: str | None = None
    by: str | None = None
    device: str = ""


class StatusChangeBadNext(msgspec.Struct, tag="status", kw_only=True, frozen=True):
    """A future StatusChange breaking the rule: a new field without a default."""

    event_id: str
    case_no: str
    from_status: str
    to_status: str
    actor: str
    hlc: int
    at: str
    device: str


def test_old_reader_decodes_newer_writer() -> None:
    data = encode_change(STATUS_EXAMPLE)
    old = msgspec.msgpack.decode(data, type=StatusChangeV0 | RowChangeV0)
    assert old == StatusChangeV0(
        event_id=STATUS_EXAMPLE.event_id,
        case_no=STATUS_EXAMPLE.case_no,
        from_status="DRAFT",
        to_status="RECEIVED",
        actor="station",
        hlc=123456789,
        at=STATUS_EXAMPLE.at,
    )
    old_row = msgspec.msgpack.decode(encode_change(ROW_EXAMPLE), type=StatusChangeV0 | RowChangeV0)
    assert old_row == RowChangeV0(table="cases", pk=ROW_EXAMPLE.pk, hlc=42, fields={"item_code": "RS-001"})


def test_new_reader_decodes_older_writer() -> None:
    old = StatusChangeV0(
        event_id="e1", case_no="c1", from_status="RECEIVED", to_status="ACCEPTED", actor="township", hlc=9, at="x"
    )
    decoded = decode_change(msgspec.msgpack.encode(old))
    assert decoded == StatusChange(
        event_id="e1", case_no="c1", from_status="RECEIVED", to_status="ACCEPTED", actor="township", hlc=9, at="x"
    )
    assert decoded.outcome is None and decoded.by is None  # type: ignore[union-attr]
    row = decode_change(msgspec.msgpack.encode(RowChangeV0(table="t", pk="p", hlc=1, fields={"a": 1})))
    assert row == RowChange(table="t", pk="p", hlc=1, fields={"a": 1}, insert=False)


def test_current_reader_ignores_a_future_defaulted_field() -> None:
    future = StatusChangeNext(
        event_id="e2",
        case_no="c2",
        from_status="COMPLETED",
        to_status="DELIVERED",
        actor="station",
        hlc=10,
        at="y",
        outcome="approved",
        device="PC-7",
    )
    decoded = decode_change(msgspec.msgpack.encode(future))
    assert decoded == StatusChange(
        event_id="e2",
        case_no="c2",
        from_status="COMPLETED",
        to_status="DELIVERED",
        actor="station",
        hlc=10,
        at="y",
        outcome="approved",
    )
    # And the future reader reads today's data, filling its default.
    again = msgspec.msgpack.decode(encode_change(decoded), type=StatusChangeNext)
    assert again.device == ""
    assert again.outcome == "approved"


def test_new_field_without_default_breaks_old_data() -> None:
    # Why the rule exists: a reader with a required new field refuses every older record.
    with pytest.raises(msgspec.ValidationError, match="device"):
        msgspec.msgpack.decode(encode_change(STATUS_EXAMPLE), type=StatusChangeBadNext)


def test_every_field_added_after_the_first_has_a_default() -> None:
    # The fields beyond the V0 shapes all carry defaults.
    for current, old in ((StatusChange, StatusChangeV0), (RowChange, RowChangeV0)):
        added = set(current.__struct_fields__) - set(old.__struct_fields__)
        assert added, current
        for info in msgspec.structs.fields(current):
            if info.name in added:
                assert not info.required, (current.__name__, info.name)
