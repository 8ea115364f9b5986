"""The change records a station's outbox holds and a change set will carry (msgpack, tagged)."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = (
    "Change",
    "RowChange",
    "StatusChange",
    "decode_change",
    "encode_change",
)


class RowChange(msgspec.Struct, tag="row", kw_only=True, frozen=True):
    """New values for some fields of one row of a replicated table.

    Merge rule (both replicas): each field is last-writer-wins by ``hlc``, ties broken by the
    origin id of the change set carrying it. An insert is a RowChange with every field.
    """

    table: str
    pk: str
    hlc: int
    fields: dict[str, Any]
    insert: bool = False
    """True when the row is created by this change (the receiver may check it is new)."""
    origin: str | None = None
    """Set by the hub when it forwards another origin's change down a feed; None inside an
    origin's own set (the set names its origin)."""


class StatusChange(msgspec.Struct, tag="status", kw_only=True, frozen=True):
    """One move of a case through the lifecycle; also the case's history entry.

    Status never merges by clock: a replica applies the move only if the lifecycle allows it
    from the case's current state for ``actor`` (architecture invariant 7).
    """

    event_id: str
    case_no: str
    from_status: str
    to_status: str
    actor: str
    hlc: int
    at: str
    """UTC time of the move as the device saw it, ISO 8601 with ``Z``."""
    reason: str | None = None
    outcome: str | None = None
    """For COMPLETED: "approved" or "denied"."""
    by: str | None = None
    """The person who made the move (agent or reviewer account name)."""
    origin: str | None = None
    """As for RowChange: set when the hub forwards the move down a feed."""


Change = RowChange | StatusChange

_ENCODER = msgspec.msgpack.Encoder()
# Annotated: msgspec's stubs cannot infer a Decoder's type from a union, only from a class.
_DECODER: msgspec.msgpack.Decoder[Change] = msgspec.msgpack.Decoder(Change)


def encode_change(change: Change) -> bytes:
    """The msgpack bytes of a change, as stored in the outbox and sealed into a set."""
    return _ENCODER.encode(change)


def decode_change(data: bytes) -> Change:
    """Decode the bytes :func:`encode_change` produced.

    Raises:
        msgspec.DecodeError: for any malformed input (msgspec lets a bad UTF-8 string through
            as UnicodeDecodeError, and values nested past its depth as RecursionError; both are
            turned into a DecodeError here so callers catch one type).
    """
    try:
        return _DECODER.decode(data)
    except UnicodeDecodeError as exc:
        raise msgspec.DecodeError(f"invalid UTF-8 in a string: {exc}") from None
    except RecursionError:
        raise msgspec.DecodeError("values nested too deep") from None
