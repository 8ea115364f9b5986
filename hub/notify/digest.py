"""The daily run: deemed consents recorded, one digest per account with alerts, sent once per China date."""

from __future__ import annotations

import datetime as dt

import msgspec

from hub.escalation import CaseAlert, case_alerts, deem_consent, for_user
from hub.levels import township_items
from hub.notify.base import Digest, DigestLine, Notifier
from hub.store import HubStoreProtocol
from sync.timeutil import iso_utc

__all__ = ("RunResult", "build_digests", "run_alerts")


class RunResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a run did: digests sent (0 when the day's had gone out and ``force`` was not given)."""

    day: str
    backend: str
    digests: int
    deemed: int
    already: bool = False


def _lines(alerts: list[CaseAlert]) -> tuple[DigestLine, ...]:
    return tuple(
        DigestLine(case_no=a.case_no, item_code=a.item_code, due_date=a.due_date, kind=a.kind, days_left=a.days_left)
        for a in alerts
    )


def build_digests(store: HubStoreProtocol, today: dt.date) -> list[Digest]:
    """One digest per active department or township account with something to hear about."""
    alerts = case_alerts(store, today)
    items = township_items(store)
    digests = []
    for user in store.users():
        if user.disabled_at or user.role not in ("department", "township"):
            continue
        mine, head = for_user(alerts, user, items)
        if not mine and not head:
            continue
        digests.append(
            Digest(
                day=today.isoformat(),
                user=user.name,
                role=user.role,
                unit=(user.department if user.role == "department" else user.township) or "",
                email=user.email,
                mine=_lines(mine),
                head=_lines(head),
            )
        )
    return digests


def run_alerts(
    store: HubStoreProtocol, notifier: Notifier, today: dt.date, *, now: dt.datetime, force: bool = False
) -> RunResult:
    """Record deemed consents past their date, then send the day's digests unless they went out already.

    The run is noted (``alert_runs``) after sending: a crash in between sends again rather than never.
    """
    day = today.isoformat()
    deemed = len(deem_consent(store, today, now=now))
    if store.alert_run(day) is not None and not force:
        return RunResult(day=day, backend=notifier.name, digests=0, deemed=deemed, already=True)
    sent = notifier.send(build_digests(store, today))
    with store.transaction():
        store.record_alert_run(day, at=iso_utc(now), backend=notifier.name, digests=sent, deemed=deemed)
    return RunResult(day=day, backend=notifier.name, digests=sent, deemed=deemed)
