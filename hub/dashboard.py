"""The sync-status table: every village of the county, its stations, their state and what needs attention."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from typing import Any

import msgspec

from hub.settings import Settings
from hub.store import HubStoreProtocol
from sync.divisions import DivisionTree
from sync.timeutil import CHINA_TZ, iso_utc, parse_iso

__all__ = (
    "ATTENTION",
    "CONTACT_STATES",
    "FLAG_STATES",
    "SORT_KEYS",
    "STATES",
    "Thresholds",
    "filter_rows",
    "report_from_rows",
    "rollup",
    "sort_rows",
    "station_detail",
    "station_rows",
    "status_report",
    "summary",
    "to_csv",
    "worst_first",
)

STATES = ("danger", "warning", "never", "ok", "revoked", "not_enrolled")
"""A row's one status, worst first. An enrolled station's is the worst of its contact state and of
every attention flag (``FLAG_STATES``): a station seen an hour ago with a clock two hours off is a
warning, never "ok" beside a clock flag. Then a revoked station, and a village with no station."""

CONTACT_STATES = ("danger", "warning", "never", "ok", "revoked")
"""What the time since the last contact alone says (the row's ``contact_state``): older than the danger
or warning threshold, enrolled but never seen, fine, revoked."""

ATTENTION = ("stale", "never", "fork", "clock", "error", "behind", "waiting", "key_old", "catalog_old")
"""Why an enrolled station needs attention (``--problems`` lists the stations with any)."""

FLAG_STATES = {
    "fork": "danger",
    "behind": "danger",
    "clock": "warning",
    "error": "warning",
    "waiting": "warning",
    "key_old": "warning",
    "catalog_old": "warning",
}
"""The status each flag raises a station to at least. A fork or a station behind the hub means sets
quarantined or lost (a call to the village); a skewed clock, a failed last contact or data waiting
long are warnings. ``stale`` and ``never`` are the contact state itself; ``waiting`` past the danger
threshold is danger, as no contact for that long would be. ``key_old``: the station's key is older than
``key_max_age_days`` (since enrolment or its last ``station rekey``): a warning, mended by ``station rekey``."""

# ``catalog_old``: the station still holds an older catalogue version than the hub's newest more than
# ``catalog_days`` after the first version it lacks was published (or after it enrolled, if later): a
# warning (it has not synced since, or its feed is stuck); docs/hub.md, "Publishing the catalogue".

SORT_KEYS = (
    "village",
    "state",
    "last_contact",
    "sets_waiting",
    "changes_waiting",
    "waiting_age",
    "clock",
    "forks",
    "rejected",
    "station",
)


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    """What colours a row: days without contact for a warning and for danger, and the clock-skew limit."""

    warn_days: float = 3.0
    danger_days: float = 7.0
    clock_skew_ms: int = 5 * 60 * 1000
    catalog_days: float = 7.0
    key_max_age_days: float = 365.0

    @classmethod
    def from_settings(
        cls, settings: Settings, warn_days: float | None = None, danger_days: float | None = None
    ) -> Thresholds:
        """The settings' thresholds, optionally overridden (a query parameter, a CLI option)."""
        return cls(
            warn_days=settings.warn_after_days if warn_days is None else warn_days,
            danger_days=settings.danger_after_days if danger_days is None else danger_days,
            clock_skew_ms=settings.clock_skew_ms,
            catalog_days=settings.catalog_behind_days,
            key_max_age_days=settings.key_max_age_days,
        )


def _age(at: str | None, now: dt.datetime) -> int | None:
    return None if at is None else max(0, int((now - parse_iso(at)).total_seconds()))


def _station(raw: dict[str, Any], now: dt.datetime, limits: Thresholds) -> dict[str, Any]:
    age = _age(raw["last_contact"], now)
    gap = None if raw["head_seq"] is None else raw["head_seq"] - raw["applied_seq"]
    waiting_age = _age(raw["waiting_since"], now)
    key_age = _age(raw.get("key_since") or raw["enrolled_at"], now)
    offset = raw["clock_offset_ms"]
    behind_since = raw.get("catalog_behind_since")
    if behind_since is not None:
        behind_since = max(behind_since, raw["enrolled_at"])  # a station enrolled later got the newest whole
    catalog_age = _age(behind_since, now)
    if raw["revoked_at"]:
        state = "revoked"
    elif age is None:
        state = "never"
    elif age > limits.danger_days * 86400:
        state = "danger"
    elif age > limits.warn_days * 86400:
        state = "warning"
    else:
        state = "ok"
    skewed = offset is not None and abs(offset) > limits.clock_skew_ms
    contact_state = state
    attention: list[str] = []
    if state != "revoked":
        flags = {
            "stale": state in ("warning", "danger"),
            "never": state == "never",
            "fork": raw["forks"] > 0,
            "clock": skewed,
            "error": raw["last_error_at"] is not None and raw["last_error_at"] == raw["last_contact"],
            "behind": gap is not None and gap < 0,
            "waiting": waiting_age is not None and waiting_age > limits.warn_days * 86400,
            # Left behind past the limit, or at once when the station says it could not install a version.
            "catalog_old": (age is not None and catalog_age is not None and catalog_age > limits.catalog_days * 86400)
            or raw.get("catalog_failure") is not None,
            "key_old": key_age is not None and key_age > limits.key_max_age_days * 86400,
        }
        attention = [name for name in ATTENTION if flags[name]]
        state = _worst(state, attention, waiting_age, limits)
    return {
        "station_id": raw["station_id"],
        "device": raw["device"],
        "state": state,
        "contact_state": contact_state,
        "attention": attention,
        "enrolled_at": raw["enrolled_at"],
        "revoked_at": raw["revoked_at"],
        "last_contact": raw["last_contact"],
        "contact_age_s": age,
        "last_push": raw["last_push"],
        "last_pull": raw["last_pull"],
        "head_seq": raw["head_seq"],
        "applied_seq": raw["applied_seq"],
        "gap": gap,
        "sets_waiting": max(gap, 0) if gap is not None else None,
        "changes_waiting": raw["outbox_length"],
        "waiting_since": raw["waiting_since"],
        "waiting_age_s": waiting_age,
        "clock_offset_ms": offset,
        "clock_skewed": skewed,
        "software": raw["software"],
        "last_error": raw["last_error"],
        "last_error_at": raw["last_error_at"],
        "forks": raw["forks"],
        "rejected": raw["rejected"],
        "revoked_keys": raw["revoked_keys"],
        "feed_seq": raw["feed_seq"] or 0,
        "feed_acked": raw["feed_acked"],
        "feed_pending": raw["feed_pending"],
        "catalog_version": raw.get("catalog_version"),
        "catalog_behind_s": catalog_age,
        "catalog_failure": raw.get("catalog_failure"),
        "key_age_s": key_age,
    }


_SEVERITY = {state: i for i, state in enumerate(STATES)}


def _worst(contact_state: str, attention: list[str], waiting_age: int | None, limits: Thresholds) -> str:
    """The one status of an enrolled station: the worst of its contact state and what its flags raise."""
    raised = [FLAG_STATES[flag] for flag in attention if flag in FLAG_STATES]
    if "waiting" in attention and waiting_age is not None and waiting_age > limits.danger_days * 86400:
        raised.append("danger")
    return min((contact_state, *raised), key=_SEVERITY.__getitem__)


def _not_enrolled() -> dict[str, Any]:
    empty: dict[str, Any] = dict.fromkeys(
        (
            "station_id",
            "device",
            "enrolled_at",
            "revoked_at",
            "last_contact",
            "contact_age_s",
            "last_push",
            "last_pull",
            "head_seq",
            "applied_seq",
            "gap",
            "sets_waiting",
            "changes_waiting",
            "waiting_since",
            "waiting_age_s",
            "clock_offset_ms",
            "software",
            "last_error",
            "last_error_at",
            "feed_seq",
            "feed_acked",
            "feed_pending",
            "catalog_version",
            "catalog_behind_s",
            "key_age_s",
        )
    )
    return {
        **empty,
        "state": "not_enrolled",
        "contact_state": None,
        "attention": [],
        "clock_skewed": False,
        "forks": 0,
        "rejected": 0,
        "revoked_keys": 0,
    }


def station_rows(store: HubStoreProtocol, *, now: dt.datetime, limits: Thresholds) -> list[dict[str, Any]]:
    """One row per station, and one "not enrolled" row per village without any, in division-tree order."""
    by_village: dict[str, list[dict[str, Any]]] = {}
    scans = {row.station_id: row for row in store.scans_waiting()}
    for raw in store.station_table():
        station = _station(raw, now, limits)
        waiting = scans.get(raw["station_id"])
        # Scanned pages announced by a signed record whose bytes are not all here (hub.scans): how many
        # bytes, and since when the oldest waits. Bytes and an age only: nothing of the pages themselves.
        station["scan_bytes_waiting"] = waiting.waiting if waiting else 0
        station["scan_pages_waiting"] = waiting.pages if waiting else 0
        station["scan_oldest_age_s"] = _age(waiting.oldest, now) if waiting else None
        by_village.setdefault(raw["village_code"], []).append(station)
    rows = []
    for order, village in enumerate(store.divisions().villages()):
        place = {
            "township_code": village.township_code,
            "township_name": village.township_name_zh,
            "village_code": village.code,
            "village_name": village.name_zh,
            "order": order,
        }
        for station in by_village.pop(village.code, None) or [_not_enrolled()]:
            rows.append({**place, **station})
    return rows


def filter_rows(
    rows: Iterable[dict[str, Any]], *, township: str | None = None, state: str | None = None
) -> list[dict[str, Any]]:
    """Rows of one township and/or one state; ``problems`` keeps the stations with any attention flag."""
    kept = []
    for row in rows:
        if township and row["township_code"] != township:
            continue
        if state == "problems" and not row["attention"]:
            continue
        if state and state != "problems" and row["state"] != state:
            continue
        kept.append(row)
    return kept


def sort_rows(rows: list[dict[str, Any]], key: str = "village", *, descending: bool = False) -> list[dict[str, Any]]:
    """Rows sorted by one of SORT_KEYS; missing values sort last either way, ties in village order."""
    pick = {
        "village": lambda r: r["order"],
        "state": lambda r: _SEVERITY[r["state"]],
        "last_contact": lambda r: r["last_contact"],
        "sets_waiting": lambda r: r["sets_waiting"],
        "changes_waiting": lambda r: r["changes_waiting"],
        "waiting_age": lambda r: r["waiting_age_s"],
        "clock": lambda r: None if r["clock_offset_ms"] is None else abs(r["clock_offset_ms"]),
        "forks": lambda r: r["forks"],
        "rejected": lambda r: r["rejected"],
        "station": lambda r: r["station_id"],
    }[key if key in SORT_KEYS else "village"]
    present = [r for r in rows if pick(r) is not None]
    missing = [r for r in rows if pick(r) is None]
    present.sort(key=lambda r: (r["order"], r["station_id"] or ""))
    present.sort(key=pick, reverse=descending)  # stable: ties stay in village order
    return present + missing


def summary(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Rows per state, plus villages, enrolled villages and stations needing attention."""
    counts = dict.fromkeys(STATES, 0)
    villages: set[str] = set()
    enrolled: set[str] = set()
    attention = 0
    for row in rows:
        counts[row["state"]] += 1
        villages.add(row["village_code"])
        if row["state"] not in ("not_enrolled", "revoked"):
            enrolled.add(row["village_code"])
        attention += bool(row["attention"])
    return {**counts, "villages": len(villages), "villages_enrolled": len(enrolled), "attention": attention}


def rollup(rows: Iterable[dict[str, Any]], tree: DivisionTree) -> list[dict[str, Any]]:
    """One line per township: its villages, enrolled villages, stations by state, what waits, forks."""
    lines: dict[str, dict[str, Any]] = {
        t.code: {
            "township_code": t.code,
            "township_name": t.name_zh,
            "villages": len(t.villages),
            "villages_enrolled": 0,
            "stations": 0,
            **dict.fromkeys(STATES, 0),
            "sets_waiting": 0,
            "changes_waiting": 0,
            "forks": 0,
            "rejected": 0,
            "worst": "not_enrolled",
        }
        for t in tree.townships
    }
    enrolled: set[str] = set()
    for row in rows:
        line = lines[row["township_code"]]
        line[row["state"]] += 1
        if row["state"] not in ("not_enrolled", "revoked"):
            line["stations"] += 1
            enrolled.add(row["village_code"])
        line["sets_waiting"] += row["sets_waiting"] or 0
        line["changes_waiting"] += row["changes_waiting"] or 0
        line["forks"] += row["forks"]
        line["rejected"] += row["rejected"]
        if _SEVERITY[row["state"]] < _SEVERITY[line["worst"]]:
            line["worst"] = row["state"]
    for code in enrolled:
        lines[code[:9] + "000"]["villages_enrolled"] += 1
    return list(lines.values())


def status_report(
    store: HubStoreProtocol,
    *,
    now: dt.datetime,
    limits: Thresholds,
    township: str | None = None,
    state: str | None = None,
    sort: str = "village",
    descending: bool = False,
) -> dict[str, Any]:
    """What ``GET /api/v1/status`` answers and ``hub status`` prints: thresholds, summary, roll-up, rows."""
    return report_from_rows(
        station_rows(store, now=now, limits=limits),
        store.divisions(),
        now=now,
        limits=limits,
        township=township,
        state=state,
        sort=sort,
        descending=descending,
    )


def report_from_rows(
    rows: list[dict[str, Any]],
    tree: DivisionTree,
    *,
    now: dt.datetime,
    limits: Thresholds,
    township: str | None = None,
    state: str | None = None,
    sort: str = "village",
    descending: bool = False,
) -> dict[str, Any]:
    """``status_report`` of rows already read (the dashboard page reads them once for several views)."""
    shown = sort_rows(filter_rows(rows, township=township, state=state), sort, descending=descending)
    return {
        "generated_at": iso_utc(now),
        "thresholds": msgspec.to_builtins(limits),
        "filters": {"township": township, "state": state, "sort": sort, "order": "desc" if descending else "asc"},
        "summary": summary(rows),
        "townships": rollup(rows, tree),
        "stations": [{k: v for k, v in row.items() if k != "order"} for row in shown],
    }


def worst_first(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stations needing attention, worst status first (danger, warning, never), else in the given order."""
    return sorted((r for r in rows if r["attention"]), key=lambda r: _SEVERITY[r["state"]])


def station_detail(
    store: HubStoreProtocol, station_id: str, *, now: dt.datetime, limits: Thresholds
) -> dict[str, Any] | None:
    """One station's row with its recent contacts, open forks and rejected changes (codes and counts only)."""
    raws = store.station_table(station_id)
    if not raws:
        return None
    village = store.divisions().village(raws[0]["village_code"])
    row = {
        "township_code": village.township_code,
        "township_name": village.township_name_zh,
        "village_code": village.code,
        "village_name": village.name_zh,
        **_station(raws[0], now, limits),
    }
    counts, recent = store.station_rejections(station_id)
    forks = [
        {"id": f.id, "seq": f.seq, "reason": f.reason, "detected_at": f.detected_at}
        for f in store.forks()
        if f.station_id == station_id
    ]
    # Its history: each fork the county resolved, the branch kept and by whom (hub.forks).
    resolved = [
        {
            "id": f.id,
            "seq": f.seq,
            "detected_at": f.detected_at,
            "resolved_at": f.resolved_at,
            "resolution": f.resolution,
            "resolved_by": f.resolved_by,
        }
        for f in store.forks(open_only=False)
        if f.station_id == station_id and f.resolved_at is not None
    ]
    contacts = [msgspec.to_builtins(c) for c in store.contacts(station_id)]
    return {
        **row,
        "contacts": contacts,
        "open_forks": forks,
        "rejected_by_code": counts,
        "rejected_recent": recent,
        "resolved_forks": resolved,
    }


_CSV_COLUMNS = (
    ("township_name", "乡镇", "township"),
    ("village_code", "村代码", "village code"),
    ("village_name", "村", "village"),
    ("station_id", "代办点", "station"),
    ("state", "状态", "state"),
    ("attention", "需关注", "attention"),
    ("last_contact", "最近联系", "last contact"),
    ("last_push", "最近上传", "last push"),
    ("last_pull", "最近下载", "last pull"),
    ("head_seq", "本地批次", "head seq"),
    ("applied_seq", "平台已收批次", "hub applied seq"),
    ("sets_waiting", "待收批次", "sets waiting"),
    ("changes_waiting", "未封批变更", "changes waiting"),
    ("waiting_since", "最早待收自", "waiting since"),
    ("clock_offset_ms", "时钟偏差(毫秒)", "clock offset ms"),
    ("software", "版本", "software"),
    ("last_error", "最近错误", "last error"),
    ("forks", "分叉", "forks"),
    ("rejected", "拒收变更", "rejected"),
    ("revoked_keys", "已吊销密钥", "revoked keys"),
    ("contact_state", "联系状态", "contact state"),  # last: a spreadsheet's earlier columns keep their place
    ("catalog_version", "目录版本", "catalogue version"),
)


def _csv_value(key: str, value: Any) -> Any:
    if value is None:
        return ""
    if key == "attention":
        return " ".join(value)
    if key in ("last_contact", "last_push", "last_pull", "waiting_since"):
        return parse_iso(value).astimezone(CHINA_TZ).isoformat(timespec="seconds")
    return value


def to_csv(rows: Iterable[dict[str, Any]], lang: str = "zh") -> str:
    """The station table as CSV for a spreadsheet: a BOM (so Excel reads UTF-8), times in China time."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([en if lang == "en" else zh for _, zh, en in _CSV_COLUMNS])
    for row in rows:
        writer.writerow([_csv_value(key, row.get(key)) for key, _, _ in _CSV_COLUMNS])
    return out.getvalue()
