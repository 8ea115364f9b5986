"""What administrators see of cases and stations: plain dicts, personal data masked; China-time display."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.text import Text

from hub.store import HubStoreProtocol, StationRow
from sync.i18n import pick
from sync.personal import mask_id_number, mask_name, mask_phone
from sync.text import printable
from sync.timeutil import CHINA_TZ, parse_iso, utc_now

__all__ = (
    "FORK_HELD",
    "FORK_PREV",
    "case_summary",
    "china_time",
    "clock_offset_text",
    "duration_text",
    "fork_reason",
    "station_summary",
    "terminal_cell",
)

FORK_HELD = "a different set is held at this seq"
FORK_PREV = "prev does not match the chain held"
"""Why a set was quarantined as a fork: the reasons hub.ingest stores (in English, in `hub forks --json`)."""

_FORK_REASONS = {
    FORK_HELD: "县平台已收到同一批次号的另一个数据集",
    FORK_PREV: "与县平台已收的上一批次不衔接",
}


def fork_reason(reason: str, lang: str = "zh") -> str:
    """A stored fork reason in ``lang`` (one the hub did not write is shown as it is)."""
    return pick(lang, _FORK_REASONS.get(reason, reason), reason)


def terminal_cell(value: Any, empty: str = "") -> Text:
    """A value for a Rich table cell, shown literally: never read as markup, no control or bidi character.

    A ``hub`` command prints what stations sent (software strings, errors) and what people typed: a
    string cell is Rich markup to a Table, so ``[/x]`` crashed ``hub station list`` and ``hub status``.
    """
    text = printable(value)
    return Text(text if text else empty)


def china_time(value: str | None, seconds: bool = False) -> str:
    """A stored UTC timestamp in China time (UTC+8), as county staff read it; "" for none."""
    if not value:
        return ""
    return parse_iso(value).astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


_UNITS = (
    (86400, "天", "d"),
    (3600, "小时", "h"),
    (60, "分钟", "min"),
    (1, "秒", "s"),
)


def duration_text(seconds: float | None, lang: str = "zh") -> str:
    """A duration as people say it: its two largest units, ``2 小时``, ``3 天 4 小时`` / ``2 h``, ``3 d 4 h``.

    Never a raw count of seconds ("+7200s"): administrators read these at a glance. "" for none.
    """
    if seconds is None:
        return ""
    left = int(abs(seconds))
    parts: list[str] = []
    for size, zh, en in _UNITS:
        count, left = divmod(left, size)
        if count or parts:
            parts.append(f"{count} {pick(lang, zh, en)}")
        if len(parts) == 2:
            break
    if len(parts) == 2 and parts[1].startswith("0 "):
        parts.pop()  # "2 小时", not "2 小时 0 分钟"
    return " ".join(parts) or pick(lang, "0 秒", "0 s")


def clock_offset_text(offset_ms: int | None, lang: str = "zh") -> str:
    """A station's clock against the hub's in words: ``快 2 小时`` / ``2 h fast``; under a second, no sign.

    The sign is the station's clock minus the hub's, so "+7200000" is a station two hours fast.
    """
    if offset_ms is None:
        return ""
    if abs(offset_ms) < 1000:
        return pick(lang, "相差不到 1 秒", "under 1 s")  # never "-0s"
    amount = duration_text(abs(offset_ms) / 1000, lang)
    if offset_ms > 0:
        return pick(lang, f"快 {amount}", f"{amount} fast")
    return pick(lang, f"慢 {amount}", f"{amount} slow")


def case_summary(row: dict[str, Any]) -> dict[str, Any]:
    """A case for ``hub case list``: the applicant's name, ID and phone numbers masked, never full
    (invariant 11; the brief: personal data is masked in lists)."""
    return {
        "case_no": row["case_no"],
        "status": row["status"],
        "outcome": row["outcome"],
        "village_code": row["village_code"],
        "item_code": row["item_code"],
        "bundle_code": row["bundle_code"],
        "applicant_masked": mask_name(row["applicant_name"] or ""),
        "id_number_masked": mask_id_number(row["id_number"] or ""),
        "phone_masked": mask_phone(row["phone"] or ""),
        "received_date": row["received_date"],
        "accepted_date": row["accepted_date"],
        "due_date": row["due_date"],
        "due_provisional": bool(row["due_provisional"]),
        "catalog_version": row["catalog_version"],
        "updated_at": row["updated_at"],
    }


def station_summary(
    store: HubStoreProtocol, station: StationRow, skew_ms: int, now: dt.datetime | None = None
) -> dict[str, Any]:
    """A station's identity, chain positions and contact record, with a clock-skew flag (invariant 8),
    and its key: id, since when (enrolment or its last ``station rekey``), how old, and the hub key
    generation it holds."""
    head = store.feed_head(station.station_id)
    offset = station.clock_offset_ms
    key = store.key(station.key_id)
    key_since = key.created_at if key is not None else station.enrolled_at
    key_age = int(((now or utc_now()) - parse_iso(key_since)).total_seconds())
    return {
        "station_id": station.station_id,
        "village_code": station.village_code,
        "device": station.device,
        "state": "revoked" if station.revoked_at else "enrolled",
        "enrolled_at": station.enrolled_at,
        "revoked_at": station.revoked_at,
        "last_contact": station.last_contact,
        "last_push": station.last_push,
        "last_pull": station.last_pull,
        "head_seq": station.head_seq,
        "applied_seq": station.applied_seq,
        "outbox_length": station.outbox_length,
        "feed_acked": station.feed_acked,
        "feed_seq": head[0] if head else 0,
        "feed_pending": store.pending_count(station.station_id),
        "clock_offset_ms": offset,
        "clock_skewed": offset is not None and abs(offset) > skew_ms,
        "software": station.software,
        "last_error": station.last_error,
        "last_error_at": station.last_error_at,
        "key_id": station.key_id,
        "key_since": key_since,
        "key_age_s": max(0, key_age),
        "hub_key_gen": store.hub_key_held(station.station_id, station.feed_acked),
    }
