"""Ratings (好差评) at the hub: checking a station's rating, opening the follow-up of a bad one on the desk of
the department concerned, recording its steps (call back, fix, answer), and satisfaction figures without
personal data (by department, township and item)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hub.departments import department_key, departments
from hub.store import HubStoreProtocol
from sync.errors import InputError, NotFoundError, ProxyAppError
from sync.ratings import BAD_LEVELS, CHANNELS, LEVELS, OVERALL
from sync.timeutil import business_date, iso_utc

__all__ = (
    "DEFAULT_FOLLOWUP_DAYS",
    "FOLLOWUP_DAYS_META",
    "STEPS",
    "after_rating",
    "followup_days",
    "rating_problem",
    "record_step",
    "satisfaction",
    "set_followup_days",
)

FOLLOWUP_DAYS_META = "followup_days"
DEFAULT_FOLLOWUP_DAYS = 15
"""Working days to call back, fix and answer a bad rating, unless the county sets its own
(``hub ratings followup-days N``): a Sichuan city's rule (brief §6.2)."""

STEPS = ("call", "fix", "answer")
"""A follow-up's steps in order: 回访 (call the applicant back), 整改 (fix), 答复 (answer)."""


def followup_days(store: HubStoreProtocol) -> int:
    """The county's follow-up limit in working days."""
    value = store.get_meta(FOLLOWUP_DAYS_META)
    return int(value) if value and value.isdigit() else DEFAULT_FOLLOWUP_DAYS


def set_followup_days(store: HubStoreProtocol, days: int) -> None:
    """Set the follow-up limit for bad ratings opened from now on (1..60 working days)."""
    if not 1 <= days <= 60:
        raise InputError(
            zh=f"差评整改期限应为 1 至 60 个工作日，而不是 {days}",
            en=f"the follow-up limit is 1 to 60 working days, not {days}",
            field="days",
        )
    store.set_meta(FOLLOWUP_DAYS_META, str(days))


def rating_problem(store: HubStoreProtocol, pk: str, fields: dict[str, Any]) -> tuple[str, str] | None:
    """Why a station's rating change cannot stand ((zh, en)), or None: a level 1..5, a known channel, and a
    key that names the rated case of the intake (``INTAKE/CASE``) or the bundle (``INTAKE/overall``)."""
    if "level" in fields and (
        isinstance(fields["level"], bool) or not isinstance(fields["level"], int) or fields["level"] not in LEVELS
    ):
        return "评价等级应为 1 至 5", "level must be 1 to 5"
    if "channel" in fields and fields["channel"] not in CHANNELS:
        return "评价渠道无效", f"channel must be one of {', '.join(CHANNELS)}"
    intake_id, _, tail = pk.partition("/")
    if "case_no" in fields:
        case_no = fields["case_no"]
        if (case_no is None) != (tail == OVERALL) or (case_no is not None and case_no != tail):
            return "评价的办件与记录编号不符", "case_no differs from the key"
        if case_no is not None:
            case = store.row("cases", case_no)
            if case is None or case["intake_id"] != intake_id:
                return "评价的办件不属于该收件", "case_no is not a case of the intake"
    return None


def after_rating(store: HubStoreProtocol, rating_id: str, now: dt.datetime) -> bool:
    """Open the follow-up of a bad rating just applied (once), on the desk of the rated case's department;
    True when one was opened. A bundle's overall rating goes to the department of its first member."""
    rating = store.row("ratings", rating_id)
    if rating is None or rating["level"] not in BAD_LEVELS:
        return False
    case_no = rating["case_no"]
    if case_no is None:
        members = sorted(
            (r for r in store.village_rows("cases", rating_id[:12]) if r["intake_id"] == rating["intake_id"]),
            key=lambda r: (r["stage"], r["case_no"]),
        )
        if not members:
            return False
        case_no = members[0]["case_no"]
    case = store.row("cases", case_no)
    if case is None:
        return False
    today = business_date(now)
    try:
        due = store.calendar().add_working_days(today, followup_days(store)).date
    except ProxyAppError:  # no calendar for the year: a plain estimate, never a refused rating
        due = today + dt.timedelta(days=followup_days(store) * 7 // 5)
    return store.open_followup(
        {
            "rating_id": rating_id,
            "case_no": case_no,
            "department": department_key(case["item_code"]),
            "township": case["village_code"][:9] + "000",
            "level": rating["level"],
            "opened_at": iso_utc(now),
            "due_date": due.isoformat(),
        }
    )


def record_step(
    store: HubStoreProtocol,
    *,
    department: str,
    rating_id: str,
    step: str,
    by: str,
    now: dt.datetime,
    answer: str | None = None,
) -> dict[str, Any]:
    """Record a step of a follow-up on the department's desk; returns the follow-up after it.

    Raises:
        NotFoundError: no such follow-up for this department.
        InputError: an unknown step, an answer without text, a step recorded already.
    """
    if step not in STEPS:
        raise InputError(zh=f"未知的整改环节 {step!r}", en=f"unknown follow-up step {step!r}", field="step")
    current = store.followup(rating_id)
    if current is None or current["department"] != department:
        raise NotFoundError(
            zh=f"本部门没有评价 {rating_id} 的整改", en=f"no follow-up of rating {rating_id} here", field="rating_id"
        )
    text = (answer or "").strip()
    if step == "answer" and not text:
        raise InputError(zh="答复须填写答复内容", en="an answer needs its text", field="answer")
    if len(text) > 500:
        raise InputError(zh="答复不超过 500 字", en="an answer is at most 500 characters", field="answer")
    with store.transaction():
        if not store.record_followup_step(rating_id, step, by=by, at=iso_utc(now), answer=text or None):
            raise InputError(zh="此环节已记录过", en="this step has been recorded already", field="step")
    after = store.followup(rating_id)
    assert after is not None
    return after


def _line() -> dict[str, Any]:
    return {"n": 0, "levels": {level: 0 for level in sorted(LEVELS)}, "sum": 0}


def _finish(line: dict[str, Any]) -> dict[str, Any]:
    n = line["n"]
    good = sum(count for level, count in line["levels"].items() if level not in BAD_LEVELS)
    return {
        **{k: v for k, v in line.items() if k != "sum"},
        "satisfaction_rate": round(good / n, 4) if n else None,
        "average": round(line["sum"] / n, 2) if n else None,
        "bad": n - good,
    }


def satisfaction(store: HubStoreProtocol, *, today: dt.date | None = None) -> dict[str, Any]:
    """Ratings summed by department, township and item (bundles' overall ratings apart): counts per level,
    the satisfaction rate (levels 3–5 of all) and the mean level; follow-ups open, overdue and answered per
    department. Counts only: no case number, name or comment."""
    catalog = store.catalog()
    names = {item.code: item.name_zh for item in catalog.items}
    bundle_names = {bundle.code: bundle.name_zh for bundle in catalog.bundles}
    department_names = {d.key: (d.name_zh, d.name_en) for d in departments(catalog)}
    tree = store.divisions()
    township_names = {t.code: t.name_zh for t in tree.townships}
    total = _line()
    by_department: dict[str, dict[str, Any]] = {}
    by_township: dict[str, dict[str, Any]] = {}
    by_item: dict[str, dict[str, Any]] = {}
    by_bundle: dict[str, dict[str, Any]] = {}
    for row in store.rating_counts():
        township = str(row["village_code"])[:9] + "000"
        lines = [
            by_department.setdefault(department_key(row["item_code"]), _line()),
            by_township.setdefault(township, _line()),
            by_item.setdefault(str(row["item_code"]), _line()),
            total,
        ]
        for line in lines:
            line["n"] += row["n"]
            line["levels"][row["level"]] = line["levels"].get(row["level"], 0) + row["n"]
            line["sum"] += row["level"] * row["n"]
    for row in store.bundle_rating_counts():
        line = by_bundle.setdefault(row["bundle_code"] or "", _line())
        line["n"] += row["n"]
        line["levels"][row["level"]] += row["n"]
        line["sum"] += row["level"] * row["n"]
    followups = {row["department"]: row for row in store.followup_counts((today or dt.date.today()).isoformat())}
    return {
        "total": _finish(total),
        "by_department": [
            {
                "department": key,
                "name_zh": department_names.get(key, (key, key))[0],
                "name_en": department_names.get(key, (key, key))[1],
                **_finish(line),
                "followups_open": int((followups.get(key) or {}).get("open") or 0),
                "followups_overdue": int((followups.get(key) or {}).get("overdue") or 0),
                "followups_answered": int((followups.get(key) or {}).get("answered") or 0),
            }
            for key, line in sorted(by_department.items())
        ],
        "by_township": [
            {"township": key, "township_name": township_names.get(key, key), **_finish(line)}
            for key, line in sorted(by_township.items())
        ],
        "by_item": [
            {"item_code": key, "item_name": names.get(key, key), **_finish(line)}
            for key, line in sorted(by_item.items())
        ],
        "by_bundle": [
            {"bundle_code": key, "bundle_name": bundle_names.get(key, key), **_finish(line)}
            for key, line in sorted(by_bundle.items())
        ],
    }
