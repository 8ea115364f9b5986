"""The end conditions of a fleet run: replicas agree, nothing lost or doubled, every anomaly visible to administrators."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fleet.compare import diff, integrity, readonly, snapshot
from fleet.ratings import check_ratings
from fleet.sim import Fleet
from fleet.township import check_township, station_levels
from hub.levels import case_level
from hub.store import HubStore

__all__ = ("check_fleet",)


def _unsent_cases(station_db: Any, after_seq: int) -> set[str]:
    """Cases whose row insert is in a set after ``after_seq`` or not sealed yet: work the hub never took."""
    return {
        r[0]
        for r in station_db.execute(
            "SELECT entity_id FROM outbox WHERE entity = 'cases' AND kind = 'row' AND (set_seq IS NULL OR set_seq > ?)",
            [after_seq],
        )
    }


def check_fleet(fleet: Fleet) -> dict[str, Any]:
    """Every end condition; returns {"failures": [...], "accounting": {...}, "admin": {...}}."""
    failures: list[str] = []
    hub_db = fleet.hub_dir / "hub.db"
    if (result := integrity(hub_db)) != "ok":
        failures.append(f"hub integrity: {result}")
    hub_all = snapshot(hub_db)
    ledger: dict[str, str] = {}
    doubled = []
    for station in fleet.stations:
        for case_no in station.created:
            if case_no in ledger:
                doubled.append(case_no)
            ledger[case_no] = station.station_id
    if doubled:
        failures.append(f"case numbers issued twice: {doubled[:5]}")
    strangers = set(hub_all) - set(ledger)
    if strangers:
        failures.append(f"cases at the hub that no station created: {sorted(strangers)[:5]}")
    accounting: dict[str, Any] = {"created": len(ledger), "at_hub": len(hub_all)}
    kept_local: Counter[str] = Counter()
    with HubStore.open_existing(fleet.hub_dir) as store:
        rows = {s.station_id: s for s in store.stations()}
        forks = store.forks()
        rejected = store.rejected()
        rejected_by: dict[str, list[dict[str, Any]]] = {}
        for r in rejected:
            rejected_by.setdefault(r["origin"], []).append(r)
        with readonly(hub_db) as hub:
            held = {(o, s): h for o, s, h in hub.execute("SELECT origin, seq, hash FROM sets_in")}
            receipt_moves = Counter(
                r[0]
                for r in hub.execute(
                    "SELECT case_no FROM case_events WHERE to_status = 'RECEIVED' AND from_status = 'DRAFT'"
                )
            )
            hub_versions = dict(hub.execute("SELECT case_no, catalog_version FROM cases").fetchall())
        catalog_cases: Counter[str] = Counter()
        doubles = [c for c, n in receipt_moves.items() if n != 1]
        if doubles:
            failures.append(f"cases received twice at the hub: {doubles[:5]}")
        for station in fleet.stations:
            sid, db_path = station.station_id, station.data_dir / "station.db"
            if (result := integrity(db_path)) != "ok":
                failures.append(f"{sid} integrity: {result}")
            seqs = sorted(s for o, s in held if o == sid)
            if seqs != list(range(1, len(seqs) + 1)):
                failures.append(f"{sid}: hub holds seqs {seqs[:10]}…, not 1..n")
            with readonly(db_path) as db:
                receipted = db.execute("SELECT seq, hash FROM sets_out WHERE receipt IS NOT NULL").fetchall()
                missing_at_hub = [seq for seq, h in receipted if held.get((sid, seq)) != h]
                mine = set(station.created)
                not_at_hub = mine - set(hub_all)
                row = rows[sid]
                if station.profile == "restored":
                    # The county resolved its fork keeping the hub's chain: the branch recorded again on top of
                    # it, so it is held like any other station (below), every case once.
                    if any(f.station_id == sid for f in forks):
                        failures.append(f"{sid}: restored from a backup, its fork still open at the end")
                    kept_hub = [f for f in store.station_forks(sid) if f.resolution == "hub"]
                    if not kept_hub:
                        failures.append(f"{sid}: restored from a backup but no fork was shown and resolved")
                    accounting["forks_resolved"] = [
                        {"station_id": f.station_id, "seq": f.seq, "resolution": f.resolution} for f in kept_hub
                    ]
                    accounting["quarantined_cases"] = len(not_at_hub)
                if station.profile == "revoked":
                    after = row.applied_seq
                    refused = _unsent_cases(db, after)
                    accounting["refused_cases"] = len(not_at_hub)
                    if not not_at_hub <= refused:
                        failures.append(
                            f"{sid}: cases neither at the hub nor refused: {sorted(not_at_hub - refused)[:5]}"
                        )
                    if row.revoked_at is None:
                        failures.append(f"{sid}: revoked, but the hub's station list does not say so")
                else:
                    if not_at_hub:
                        failures.append(
                            f"{sid} ({station.profile}): {len(not_at_hub)} cases never reached the hub, "
                            f"e.g. {sorted(not_at_hub)[:3]}"
                        )
                    mine_snap = snapshot(db_path)
                    kept_local["moves"] += _drop_rejected_moves(db, sid, mine_snap, hub_all)
                    problems = diff(mine_snap, snapshot(hub_db, station.slot.village))
                    if problems:
                        failures.append(f"{sid} ({station.profile}) disagrees with the hub: {problems[:4]}")
                if station.profile != "revoked":
                    # The hub's key rotated mid-run: every station still syncing checks its feed under the new key.
                    pinned = db.execute("SELECT value FROM meta WHERE key = 'hub_id'").fetchone()
                    if pinned is None or pinned[0] != fleet.identity.hub_id:
                        failures.append(
                            f"{sid}: pins hub key {pinned[0] if pinned else None}, not {fleet.identity.hub_id}"
                        )
                if station.profile != "revoked":
                    _check_catalog(fleet, db, station, hub_versions, catalog_cases, failures)
                # Every rejection the station was told of is one administrators can see, and the reverse.
                told = {(seq, idx) for seq, idx in db.execute("SELECT seq, idx FROM rejections")}
                kept = {(r["seq"], r["idx"]) for r in rejected_by.get(sid, [])}
                # (A revoked or restored station may not have heard of its last ones: it stopped pulling.)
                partial = station.profile in ("restored", "revoked")
                if not (told <= kept if partial else told == kept):
                    failures.append(f"{sid}: rejections told {len(told)} != kept at the hub {len(kept)}")
            if missing_at_hub:
                failures.append(f"{sid}: acknowledged sets not at the hub: {missing_at_hub[:5]}")
        admin = _admin_views(fleet, store, rows, forks, failures)
        # Township review and escalation (issue 16): levels respected, lists agreeing, each station's level the hub's.
        accounting["township"] = check_township(store, fleet.config.end, failures)
        hub_levels = {r["case_no"]: r for r in store.list_cases(limit=10**7)}
        for station in fleet.stations:
            if station.profile in ("revoked", "restored"):
                continue
            own_cases = {no: hub_levels[no] for no in station.created if no in hub_levels}
            with station.open() as local:
                station_levels(
                    local, {no: _level(store, row) for no, row in own_cases.items()}, failures, station.station_id
                )
        # Ratings and progress queries (issue 16): every rating at the hub as given, bad ones followed up.
        opened = [(s.station_id, s.open(), s.profile not in ("revoked", "restored")) for s in fleet.stations]
        try:
            accounting["ratings"] = check_ratings(store, opened, fleet.config.end, failures)
        finally:
            for _, local, _ in opened:
                local.close()
    accounting["rejected_by_code"] = dict(Counter(r["code"] for r in rejected))
    accounting["forks"] = [{"station_id": f.station_id, "seq": f.seq, "reason": f.reason} for f in forks]
    accounting["hub_key_gen"] = fleet.identity.gen
    accounting["catalog_change"] = {**(fleet.catalog_change or {}), "cases": dict(catalog_cases)}
    accounting["supplied_but_open"] = _supplied_but_open(hub_db)
    accounting["rejected_moves_kept_in_local_history"] = kept_local["moves"]
    return {"failures": failures, "accounting": accounting, "admin": admin}


def _check_catalog(
    fleet: Fleet, db: Any, station: Any, hub_versions: dict[str, int], seen: Counter[str], failures: list[str]
) -> None:
    """The catalogue published mid-run: the station holds it; its own cases received before it arrived keep the
    old version and those after it use the new one (by the station's own clock), and the hub agrees on each."""
    change = fleet.catalog_change
    if change is None:
        failures.append("no catalogue change was published mid-run")
        return
    sid, old, new = station.station_id, change["from"], change["to"]
    held = dict(db.execute("SELECT version, received_at FROM catalogs").fetchall())
    if max(held, default=None) != new:
        failures.append(f"{sid}: holds catalogue versions {sorted(held)}, not the published {new}")
        return
    arrived = held[new]
    mine = set(station.created)
    for case_no, received_at, version in db.execute("SELECT case_no, received_at, catalog_version FROM cases"):
        if case_no not in mine:
            continue
        want = new if received_at >= arrived else old
        if version != want:
            failures.append(
                f"{sid}: case {case_no} received {received_at} under catalogue {version}, "
                f"not {want} (version {new} arrived {arrived})"
            )
        elif case_no in hub_versions and hub_versions[case_no] != version:
            failures.append(f"{sid}: case {case_no} has catalogue {version} here, {hub_versions[case_no]} at the hub")
        else:
            seen["new" if version == new else "old"] += 1


def _drop_rejected_moves(db: Any, sid: str, mine: dict[str, Any], hub: dict[str, Any]) -> int:
    """Take out of a station's histories its own moves the hub refused (they stay in the station's
    case_events, marked only by a rejection on the case); returns how many. Anything else must match."""
    refused = {
        r[0]
        for r in db.execute(
            "SELECT entity_id FROM rejections WHERE entity = 'cases' AND code IN ('illegal_transition', 'actor_not_allowed')"
        )
    }
    dropped = 0
    for case_no, case in mine.items():
        if case_no not in hub or case_no not in refused:
            continue
        extra = {e for e in case["events"] - hub[case_no]["events"] if e.startswith(sid + ":")}
        case["events"] -= extra
        dropped += len(extra)
    return dropped


def _level(store: HubStore, row: dict[str, Any]) -> str | None:
    level = case_level(store, row)
    return None if level is None else level.value


def _supplied_but_open(hub_db: Any) -> int:
    """Commitments still open at the hub although their material was handed in (the hub refused the fulfilment)."""
    with readonly(hub_db) as hub:
        return hub.execute(
            "SELECT COUNT(*) FROM commitments m JOIN intake_materials im ON im.intake_id = m.intake_id "
            "AND im.name_zh = m.material WHERE m.status = 'open' AND im.state = 'supplied'"
        ).fetchone()[0]


def _admin_views(
    fleet: Fleet, store: HubStore, rows: dict[str, Any], forks: list[Any], failures: list[str]
) -> dict[str, Any]:
    """What administrators see: clock flags, revocations, forks, through the store, the dashboard and the API."""
    from hub.views import station_summary

    skew_ms = 5 * 60 * 1000
    flagged = {sid for sid, row in rows.items() if station_summary(store, row, skew_ms)["clock_skewed"]}
    expected = {s.station_id for s in fleet.stations if s.slot.flag_expected}
    if flagged != expected:
        failures.append(f"clock flags: hub flags {sorted(flagged)}, expected {sorted(expected)}")
    admin: dict[str, Any] = {
        "clock_flagged": {sid: rows[sid].clock_offset_ms for sid in sorted(flagged)},
        "revoked": sorted(sid for sid, row in rows.items() if row.revoked_at),
        "forked": sorted({f.station_id for f in forks}),
    }
    try:
        from hub.dashboard import Thresholds, status_report
    except ImportError as exc:  # the dashboard is being built alongside
        admin["dashboard"] = f"not checked: {exc}"
        return admin
    report = status_report(store, now=fleet.clock.now(), limits=Thresholds())
    by_id = {r["station_id"]: r for r in report["stations"] if r["station_id"]}
    for station in fleet.stations:
        row = by_id.get(station.station_id)
        if row is None:
            failures.append(f"dashboard: no row for {station.station_id}")
            continue
        if ("clock" in row["attention"]) != (station.station_id in expected):
            failures.append(f"dashboard: {station.station_id} clock attention {row['attention']}")
        if station.profile == "restored" and "fork" in row["attention"]:
            failures.append(f"dashboard: {station.station_id} fork still flagged once resolved ({row['attention']})")
        if row["rejected"] != len(store.rejected(station.station_id)):
            failures.append(f"dashboard: {station.station_id} shows {row['rejected']} rejected changes")
        if station.profile == "revoked" and row["state"] != "revoked":
            failures.append(f"dashboard: {station.station_id} state {row['state']}, not revoked")
    admin["dashboard"] = {
        "summary": report["summary"],
        "attention": dict(Counter(a for r in by_id.values() for a in r["attention"])),
    }
    admin["api"] = _api_check(fleet, store, expected, failures)
    return admin


def _api_check(fleet: Fleet, store: HubStore, expected: set[str], failures: list[str]) -> Any:
    """GET /api/v1/stations on the running hub with an administrator's token (accounts are new: best effort)."""
    import httpx

    try:
        from hub.accounts import add_user, create_token, hasher_for
        from hub.settings import Settings

        settings = Settings(data_dir=fleet.hub_dir, argon2_time_cost=1, argon2_memory_kib=1024)
        with store.transaction():
            add_user(
                store,
                "fleet-admin",
                "admin",
                "fleet-admin-password-1",
                hasher=hasher_for(settings),
                now=fleet.clock.now(),
            )
        token = create_token(store, "fleet-admin", expires_days=1, now=fleet.clock.now()).token
    except Exception as exc:  # noqa: BLE001 - the account API is being built: report, don't fail the run
        return f"not checked: {type(exc).__name__}: {exc}"
    answer = httpx.get(f"{fleet.hub.url}/api/v1/stations", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    if answer.status_code != 200:
        failures.append(f"GET /api/v1/stations: {answer.status_code} {answer.text[:200]}")
        return answer.status_code
    listed = {r["station_id"]: r for r in answer.json()}
    flagged = {sid for sid, r in listed.items() if r.get("clock_skewed")}
    revoked = {sid for sid, r in listed.items() if r.get("revoked_at")}
    if flagged != expected:
        failures.append(f"API clock flags {sorted(flagged)} != expected {sorted(expected)}")
    want_revoked = {s.station_id for s in fleet.stations if s.profile == "revoked"}
    if revoked != want_revoked:
        failures.append(f"API revoked {sorted(revoked)} != {sorted(want_revoked)}")
    return {"stations": len(listed), "clock_skewed": len(flagged), "revoked": len(revoked)}
