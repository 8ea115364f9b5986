"""The province's view of its counties: sync status rolled up, forwarding lag, case figures; no personal data."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from hub.store import HubStore
from sync.protocol import StationForkNotice
from sync.protocol.messages import MAX_FORK_NOTICES, MAX_RESOLVER_CHARS
from sync.timeutil import iso_utc, parse_iso

__all__ = (
    "CountyFork",
    "CountyStatus",
    "ProvinceStatus",
    "StationFork",
    "county_forks",
    "fork_notices",
    "province_report",
    "station_forks",
)


class CountyStatus(msgspec.Struct, kw_only=True):
    """One county at the province: its link, its chain, its stations' states, its cases by status."""

    county: str
    state: str
    """``fork`` (a county set quarantined as a county fork, or a station set in one quarantined as a station fork,
    unresolved), ``ok``, ``lagging`` (lag past the warning
    days), ``danger``, ``never`` (not enrolled yet), ``revoked``."""
    enrolled_at: str | None
    revoked_at: str | None
    head_seq: int
    last_contact: str | None
    last_set_at: str | None
    pending: int
    """Items the county said (at its last contact) it had not yet had acknowledged."""
    lag_seconds: float | None
    """How far behind the province's copy may be: since the oldest item still waiting at the county's last
    contact, or since that contact when nothing was waiting; None before the first contact."""
    stations: int
    stations_by_state: dict[str, int]
    sets: int
    cases: int
    cases_by_status: dict[str, int]
    moves: int
    forks: int = 0
    """County sets quarantined as county forks, not yet resolved (``hub county forks``)."""
    station_forks: int = 0
    """Station sets inside its county sets quarantined as station forks at the province, not yet resolved."""


class CountyFork(msgspec.Struct, kw_only=True):
    """A county set the province quarantined: it conflicts with the county's chain held there."""

    id: int
    county: str
    seq: int
    reason: str
    """``differs`` (another set is held at that seq) or ``prev`` (it does not follow the set held before it)."""
    hash: str
    held_hash: str | None
    via: str
    received_at: str


class StationFork(msgspec.Struct, kw_only=True):
    """A station set the province quarantined from a county's set: it conflicts with the station's chain held."""

    id: int
    county: str
    station_id: str
    seq: int
    reason: str
    """``differs`` (another set is held at that seq), ``prev`` (it does not follow the set held before it) or
    ``after`` (it follows a set quarantined before it)."""
    hash: str
    held_hash: str | None
    county_seq: int
    """The county set that carried it (taken, with its other items)."""
    received_at: str


class ProvinceStatus(msgspec.Struct, kw_only=True):
    """The province dashboard's data (``GET /api/v1/status``'s ``province`` at a province hub)."""

    generated_at: str
    counties: list[CountyStatus]
    totals: dict[str, int]
    forks: list[CountyFork] = msgspec.field(default_factory=list)
    """The unresolved county forks, oldest first."""
    station_forks: list[StationFork] = msgspec.field(default_factory=list)
    """The unresolved station forks quarantined at the province, oldest first."""


def _age(now: dt.datetime, at: str | None) -> float | None:
    return None if not at else max(0.0, (now - parse_iso(at)).total_seconds())


def province_report(
    store: HubStore, *, now: dt.datetime, warn_days: float = 3.0, danger_days: float = 7.0, county: str | None = None
) -> ProvinceStatus:
    """Every county (or one), with its stations' states and case figures rolled up."""
    cases: dict[str, dict[str, int]] = {}
    for name, status, count in store.province_case_counts():
        cases.setdefault(name, {})[status] = count
    states = store.province_station_states(
        warn_before=iso_utc(now - dt.timedelta(days=warn_days)),
        danger_before=iso_utc(now - dt.timedelta(days=danger_days)),
        county=county,
    )
    forks = store.county_fork_counts()
    station_fork_counts = store.province_station_fork_counts()
    rows: list[CountyStatus] = []
    for row in store.counties():
        if county is not None and row["county"] != county:
            continue
        waiting = row["oldest_pending"] if row["pending"] else row["last_contact"]
        lag = _age(now, waiting)
        if forks.get(row["county"]) or station_fork_counts.get(row["county"]):
            state = "fork"
        elif row["revoked_at"]:
            state = "revoked"
        elif not row["enrolled_at"] or lag is None:
            state = "never"
        else:
            state = "danger" if lag > danger_days * 86400 else "lagging" if lag > warn_days * 86400 else "ok"
        by_state = states.get(row["county"], {})
        by_status = cases.get(row["county"], {})
        rows.append(
            CountyStatus(
                county=row["county"],
                state=state,
                enrolled_at=row["enrolled_at"],
                revoked_at=row["revoked_at"],
                head_seq=int(row["head_seq"]),
                last_contact=row["last_contact"],
                last_set_at=row["last_set_at"],
                pending=int(row["pending"]),
                lag_seconds=lag,
                stations=sum(by_state.values()),
                stations_by_state=by_state,
                sets=int(row["sets"]),
                cases=sum(by_status.values()),
                cases_by_status=by_status,
                moves=int(row["moves"]),
                forks=forks.get(row["county"], 0),
                station_forks=station_fork_counts.get(row["county"], 0),
            )
        )
    totals = {
        "counties": len(rows),
        "stations": sum(r.stations for r in rows),
        "sets": sum(r.sets for r in rows),
        "cases": sum(r.cases for r in rows),
        "attention": sum(1 for r in rows if r.state != "ok"),
        "forks": sum(r.forks for r in rows),
        "station_forks": sum(r.station_forks for r in rows),
    }
    return ProvinceStatus(
        generated_at=iso_utc(now),
        counties=rows,
        totals=totals,
        forks=county_forks(store, county=county),
        station_forks=station_forks(store, county=county),
    )


def county_forks(store: HubStore, *, county: str | None = None, open_only: bool = True) -> list[CountyFork]:
    """The quarantined county sets (hashes in hex, no bytes of the sets)."""
    return [
        CountyFork(
            id=int(f["id"]),
            county=f["county"],
            seq=int(f["seq"]),
            reason=f["reason"],
            hash=bytes(f["hash"]).hex(),
            held_hash=bytes(f["held_hash"]).hex() if f["held_hash"] is not None else None,
            via=f["via"],
            received_at=f["received_at"],
        )
        for f in store.county_forks(county, open_only=open_only)
    ]


def station_forks(store: HubStore, *, county: str | None = None, open_only: bool = True) -> list[StationFork]:
    """The station sets quarantined at the province (hashes in hex, no bytes of the sets)."""
    return [
        StationFork(
            id=int(f["id"]),
            county=f["county"],
            station_id=f["station_id"],
            seq=int(f["seq"]),
            reason=f["reason"],
            hash=bytes(f["hash"]).hex(),
            held_hash=bytes(f["held_hash"]).hex() if f["held_hash"] is not None else None,
            county_seq=int(f["county_seq"]),
            received_at=f["received_at"],
        )
        for f in store.province_station_forks(county, open_only=open_only)
    ]


KEPT_NOTICE_DAYS = 30
"""How long a county is still told that the province kept its own chain of a station (docs/hub.md)."""


def fork_notices(store: HubStore, county: str, *, now: dt.datetime) -> list[StationForkNotice]:
    """What the province tells a county in each answer about its stations' sets held aside there: each station
    with open forks (waiting for the province's operator), and each whose fork the operator resolved keeping the
    province's chain in the last KEPT_NOTICE_DAYS days (the county's branch is not taken); by station, oldest
    first, at most MAX_FORK_NOTICES."""
    since = iso_utc(now - dt.timedelta(days=KEPT_NOTICE_DAYS))
    notices: dict[str, StationForkNotice] = {}
    for state, rows in (
        ("open", store.province_station_forks(county)),
        ("kept", store.province_station_forks_kept_out(county, since=since)),
    ):
        by_station: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_station.setdefault(str(row["station_id"]), []).append(row)
        for station_id, held in by_station.items():
            if station_id in notices:
                continue  # open forks of a station come before an older resolution's
            first = min(held, key=lambda r: int(r["seq"]))
            last = max(held, key=lambda r: str(r["resolved_at"] or ""))
            notices[station_id] = StationForkNotice(
                station_id=station_id,
                state="open" if state == "open" else "kept",
                from_seq=int(first["seq"]),
                sets=len(held),
                reason=str(first["reason"]),
                resolved_at=last["resolved_at"],
                # Cut to the county decoder's bound: a long --by must not make the whole answer unreadable there.
                resolved_by=None if last["resolved_by"] is None else str(last["resolved_by"])[:MAX_RESOLVER_CHARS],
            )
    return list(notices.values())[:MAX_FORK_NOTICES]
