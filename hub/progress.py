"""Residents' progress queries (办件进度查询) at the hub: case number plus query code, rate-limited, compared in
constant time, logged; a wrong code and an unknown case get the very same answer."""

from __future__ import annotations

import datetime as dt
import hmac
import math
import re
import secrets
from typing import Any

from hub.settings import Settings
from hub.store import HubStoreProtocol
from hub.throttle import KeyedLimiter, Throttled, address_key, shared
from sync.errors import ProxyAppError
from sync.lifecycle import Status
from sync.progress import ProgressAnswer, holder_of
from sync.ratings import QUERY_KEY_BYTES, normalize_code, query_code, recorder_of
from sync.timeutil import iso_utc

__all__ = ("admit_query", "lookup")

_CASE_NUMBER = re.compile(r"\d{12}-\d{8}-[A-Z]\d{3,9}")
_DECOY_KEY = secrets.token_bytes(QUERY_KEY_BYTES)
"""Derived from when there is no such case or key, so an unknown case costs the HMAC and the comparison a
known one does."""


def admit_query(state: Any, settings: Settings, ip: str, case_no: str, *, now: dt.datetime) -> None:
    """Take a token for the client's address and one for the case number asked about, before any lookup.

    The address bucket stops one client guessing; the case bucket stops many addresses guessing one
    case's code together (it can delay a resident by minutes, never reveal anything).

    Raises:
        Throttled: too many queries (429 with ``Retry-After``).
    """
    limiter = shared(
        state,
        "query_limiter",
        lambda: KeyedLimiter(
            {"address": settings.query_per_address, "case": settings.query_per_case},
            max_keys=settings.throttle_max_keys,
        ),
    )
    wait, rule = limiter.take(now.timestamp(), address=address_key(ip), case=case_no.strip()[:64])
    if rule is not None:
        seconds = max(1, math.ceil(wait))
        raise Throttled(
            seconds,
            zh=f"查询过于频繁，请 {seconds} 秒后再试",
            en=f"too many progress queries; try again in {seconds} s",
        )


def _answer(store: HubStoreProtocol, row: dict[str, Any]) -> ProgressAnswer:
    try:
        catalog = store.catalog(row["catalog_version"])
        item = catalog.item(row["item_code"])
        item_name, level = item.name_zh, item.approver_level
    except ProxyAppError:  # a catalogue version or item the hub lost still gets an answer
        item_name, level = row["item_code"], None
    events = store.case_events(row["case_no"])
    correction = None
    if row["status"] == Status.AWAITING_CORRECTION.value:
        moves = [e for e in events if e["to_status"] == Status.AWAITING_CORRECTION.value]
        correction = moves[-1]["reason"] if moves else None
    return ProgressAnswer(
        case_no=row["case_no"],
        item_code=row["item_code"],
        item_name=item_name,
        status=row["status"],
        holder=holder_of(row["status"], level, events),
        due_date=row["due_date"],
        due_provisional=bool(row["due_provisional"]),
        missing=store.outstanding_materials(row["intake_id"]),
        correction=correction,
        outcome=row["outcome"],
        updated_at=row["updated_at"],
    )


def lookup(
    store: HubStoreProtocol, case_no: str, code: str, *, ip: str | None, channel: str, now: dt.datetime
) -> ProgressAnswer | None:
    """The case's progress when ``code`` is its intake's query code (derived from the query key of the PC
    that recorded the intake); None otherwise (no such case, a draft, a PC whose key has not arrived, a
    wrong code: the caller answers all alike). Every query is logged."""
    number = case_no.strip()[:64]
    typed = normalize_code(code)
    row = store.progress_case(number) if _CASE_NUMBER.fullmatch(number) else None
    recorder = recorder_of(row["intake_versions"]) if row is not None else None
    held = store.query_key(recorder) if recorder is not None else None
    key = bytes.fromhex(held) if held else None
    # The code of the intake under the key of the PC that recorded it, or of a decoy: the same work (one
    # HMAC, one constant-time comparison of CODE_LENGTH characters) whether the case exists or not.
    expected = query_code(key or _DECOY_KEY, row["intake_id"] if row is not None else number)
    same = hmac.compare_digest(expected.encode(), typed.encode())
    matched = bool(same and key is not None and row is not None and row["status"] != Status.DRAFT.value)
    with store.transaction():
        store.log_query(at=iso_utc(now), case_no=number, matched=matched, ip=ip, channel=channel)
    return _answer(store, row) if matched and row is not None else None
