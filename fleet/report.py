"""The fleet report: what the county did, what crossed the wire, what failed and what administrators see."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fleet.profiles import PROFILES
from fleet.sim import Fleet

__all__ = ("build_report", "render")


def build_report(fleet: Fleet, checks: dict[str, Any], wall_seconds: float) -> dict[str, Any]:
    config = fleet.config
    activity: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for station in fleet.stations:
        activity.update(station.activity)
        errors.update(station.errors)
    proxies = [s.proxy for s in fleet.stations if s.proxy is not None]
    gprs = [s for s in fleet.stations if s.proxy is not None]
    return {
        "config": {
            "villages": config.villages,
            "days": config.days,
            "seed": config.seed,
            "start": str(config.start),
            "end": str(config.end),
            "cases_per_day": config.cases_per_day,
            "long_gap": config.long_gap,
            "workers": config.workers,
        },
        "stations_by_profile": dict(Counter(s.profile for s in fleet.stations)),
        "cases": {
            "created": checks["accounting"]["created"],
            "at_hub": checks["accounting"]["at_hub"],
            "quarantined": checks["accounting"].get("quarantined_cases", 0),
            "refused_after_revocation": checks["accounting"].get("refused_cases", 0),
            "lost_by_restore_but_at_hub": checks["accounting"].get("lost_by_restore_but_at_hub", 0),
        },
        "station_moves": {k: v for k, v in sorted(activity.items()) if k != "created"},
        "decisions": dict(sorted(fleet.decided.items())),
        "syncs": {
            "total": sum(s.syncs for s in fleet.stations),
            "ok": sum(s.syncs_ok for s in fleet.stations),
            "failures_by_code": dict(errors.most_common()),
        },
        "gprs": {
            "stations": len(gprs),
            "bytes_up": sum(p.stats.bytes_up for p in proxies),
            "bytes_down": sum(p.stats.bytes_down for p in proxies),
            "connections": sum(p.stats.connections for p in proxies),
            "sync_seconds": round(sum(s.sync_seconds for s in gprs), 1),
        },
        "forks": checks["accounting"]["forks"],
        "forks_resolved": checks["accounting"].get("forks_resolved", []),
        "hub_key_gen": checks["accounting"].get("hub_key_gen", 1),
        "catalog_change": checks["accounting"].get("catalog_change", {}),
        "township": checks["accounting"].get("township", {}),
        "ratings": checks["accounting"].get("ratings", {}),
        "rejections_by_code": checks["accounting"]["rejected_by_code"],
        "commitments_supplied_but_open_at_hub": checks["accounting"]["supplied_but_open"],
        "rejected_moves_kept_in_local_history": checks["accounting"]["rejected_moves_kept_in_local_history"],
        "revocations": checks["admin"]["revoked"],
        "clock_offsets_flagged": checks["admin"]["clock_flagged"],
        "dashboard": checks["admin"].get("dashboard"),
        "api": checks["admin"].get("api"),
        "events": fleet.events,
        "failures": checks["failures"],
        "seconds": {**{k: round(v, 1) for k, v in fleet.phase_seconds.items()}, "wall": round(wall_seconds, 1)},
    }


def render(report: dict[str, Any]) -> str:
    """The report as text for a terminal (the JSON file holds the same)."""
    c = report["config"]
    lines = [f"Fleet: {c['villages']} villages, {c['days']} days ({c['start']} .. {c['end']}), seed {c['seed']}", ""]
    lines.append("Stations by profile:")
    for profile, n in sorted(report["stations_by_profile"].items()):
        lines.append(f"  {profile:<13} {n:>4}  {PROFILES[profile]}")
    cases = report["cases"]
    lines.append("")
    lines.append(
        f"Cases: {cases['created']} created, {cases['at_hub']} at the hub, {cases['quarantined']} quarantined "
        f"(fork), {cases['refused_after_revocation']} refused (revoked key), "
        f"{cases['lost_by_restore_but_at_hub']} lost to the restore at the station (still at the hub)"
    )
    lines.append(
        "Station moves (refused_locally: attempts the station's own rules stopped): "
        + ", ".join(f"{k} {v}" for k, v in report["station_moves"].items())
    )
    lines.append("Decisions: " + ", ".join(f"{k} {v}" for k, v in report["decisions"].items()))
    s = report["syncs"]
    lines.append(f"Syncs: {s['total']} ({s['ok']} in step); failures by code: {s['failures_by_code'] or 'none'}")
    g = report["gprs"]
    lines.append(
        f"GPRS: {g['stations']} stations, {g['bytes_up']:,} B up, {g['bytes_down']:,} B down over "
        f"{g['connections']} connections, {g['sync_seconds']} s syncing"
    )
    lines.append(f"Forks open: {report['forks']}; resolved: {report['forks_resolved']}")
    lines.append(f"Hub key generation at the end: {report['hub_key_gen']}")
    lines.append(f"Catalogue change mid-run: {report['catalog_change']}")
    lines.append(f"Township review and escalation at the end: {report.get('township', {})}")
    lines.append(f"Rejected changes by code: {report['rejections_by_code']}")
    lines.append(f"Commitments supplied but still open at the hub: {report['commitments_supplied_but_open_at_hub']}")
    lines.append(
        "Station moves the hub refused, still in the station's history: "
        f"{report['rejected_moves_kept_in_local_history']}"
    )
    lines.append(f"Revocations: {report['revocations']}")
    lines.append(
        "Clock offsets flagged: "
        + ", ".join(f"{sid} {ms / 3_600_000:+.1f} h" for sid, ms in report["clock_offsets_flagged"].items())
    )
    lines.append(f"Dashboard: {report['dashboard']}")
    lines.append(f"Admin API: {report['api']}")
    lines.append("Events: " + "; ".join(report["events"]))
    lines.append(f"Time (s): {report['seconds']}")
    lines.append("")
    lines.append(
        "FAILURES:\n  " + "\n  ".join(report["failures"]) if report["failures"] else "All end conditions hold."
    )
    return "\n".join(lines)
