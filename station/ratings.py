"""Ratings (好差评) recorded at the station after delivery, and each intake's progress-query code."""

from __future__ import annotations

from typing import Any

import msgspec

from station.store import Station
from station.store.outbox import ChangeRecorder, recording
from sync.errors import InputError, IntakeError, NotFoundError
from sync.lifecycle import Status
from sync.ratings import (
    BAD_LEVELS,
    check_channel,
    check_level,
    new_query_code,
    rating_id,
)
from sync.text import check_text

__all__ = (
    "RatingView",
    "ensure_query_code",
    "query_code_of",
    "rate",
    "ratings_of",
    "record_query_code",
)

_CLOSED = frozenset({Status.DELIVERED.value, Status.WITHDRAWN.value, Status.NOT_ACCEPTED.value})
"""A bundle member in one of these states is done; the bundle can be rated overall once all are
and at least one was delivered."""


class RatingView(msgspec.Struct, frozen=True, kw_only=True):
    """A rating as the case detail and the ledger show it."""

    rating_id: str
    intake_id: str
    case_no: str | None
    """None for a bundle's overall rating."""
    level: int
    comment: str | None
    channel: str
    rated_at: str
    agent: str
    bad: bool
    """Level 1 or 2: the county follows it up."""


def record_query_code(rec: ChangeRecorder, intake_id: str) -> str:
    """Make and record a new random query code for an intake (inside the intake's transaction)."""
    code = new_query_code()
    rec.insert("query_codes", {"intake_id": intake_id, "code": code, "created_at": rec.now_iso})
    return code


def query_code_of(station: Station, intake_id: str) -> str | None:
    """The intake's query code, or None (an intake recorded before release 0.7 has none until its
    receipt is printed again)."""
    row = station.db.execute("SELECT code FROM query_codes WHERE intake_id = ?", [intake_id]).fetchone()
    return row[0] if row else None


def ensure_query_code(station: Station, intake_id: str) -> str:
    """The intake's query code, made now for an intake of this village recorded before codes existed."""
    code = query_code_of(station, intake_id)
    if code is not None:
        return code
    if station.db.execute("SELECT 1 FROM intakes WHERE intake_id = ?", [intake_id]).fetchone() is None:
        raise NotFoundError(
            zh=f"本站没有编号为 {intake_id!r} 的收件", en=f"no intake numbered {intake_id!r} here", field="case_no"
        )
    with recording(station.db, station.now, station.station_id) as rec:
        return record_query_code(rec, intake_id)


def _case(station: Station, number: str) -> dict[str, Any] | None:
    cursor = station.db.execute(
        "SELECT case_no, intake_id, bundle_code, status FROM cases WHERE case_no = ?", [number.strip()]
    )
    row = cursor.fetchone()
    return None if row is None else dict(zip([d[0] for d in cursor.description], row))


def _not_found(number: str) -> NotFoundError:
    return NotFoundError(
        zh=f"本站没有编号为 {number!r} 的办件或一件事；可用“station case list --search”查找",
        en=f"no case or bundle numbered {number!r} at this station; find it with 'station case list --search'",
        field="case_no",
        code="case.not_found",
    )


def _subject(station: Station, number: str, overall: bool) -> tuple[str, str | None]:
    """(intake id, case number or None for overall) of what is rated, checked against the lifecycle."""
    case = _case(station, number)
    if case is None:
        # A bundle's own number: only its overall rating.
        row = station.db.execute(
            "SELECT intake_id FROM intakes WHERE intake_id = ? AND bundle_code IS NOT NULL", [number.strip()]
        ).fetchone()
        if row is None:
            raise _not_found(number)
        intake_id, overall = row[0], True
    else:
        intake_id = case["intake_id"]
    if overall:
        members = station.db.execute("SELECT status FROM cases WHERE intake_id = ?", [intake_id]).fetchall()
        bundle = station.db.execute("SELECT bundle_code FROM intakes WHERE intake_id = ?", [intake_id]).fetchone()
        if not bundle or bundle[0] is None:
            raise InputError(
                zh="只有一件事（多个办件一并办理）才有总体评价；单个办件请去掉 --overall",
                en="only a bundle (一件事) has an overall rating; rate a single case without --overall",
                field="overall",
                code="rate.not_bundle",
            )
        statuses = [status for (status,) in members]
        if not all(s in _CLOSED for s in statuses) or Status.DELIVERED.value not in statuses:
            raise IntakeError(
                zh="一件事的各办件尚未全部办结送达，暂不能作总体评价",
                en="the bundle's cases are not all done and delivered yet: its overall rating comes after",
                field="overall",
                code="rate.not_delivered",
            )
        return intake_id, None
    assert case is not None
    if case["status"] != Status.DELIVERED.value:
        raise IntakeError(
            zh="结果送达后才能评价（一次一评）；请先登记送达",
            en="a case is rated after its result is delivered; record the delivery first "
            "('station case update CASE deliver')",
            field="status",
            code="rate.not_delivered",
        )
    return intake_id, case["case_no"]


def rate(
    station: Station,
    number: str,
    *,
    level: int,
    comment: str | None = None,
    channel: str = "onsite",
    overall: bool = False,
    by: str | None = None,
) -> RatingView:
    """Record the applicant's rating of a delivered case (or, ``overall``, of a delivered bundle).

    One rating per case and one overall per bundle (一次一评): a second is refused.

    Raises:
        InputError: a level outside 1..5, an unknown channel, a comment too long, rated already.
        IntakeError: not delivered yet.
        NotFoundError: no such case or bundle here.
    """
    level = check_level(level)
    channel = check_channel(channel)
    text = comment.replace("\r\n", "\n").strip() if comment else None
    if text:
        text = check_text("comment", text, multiline=True, label_zh="评价意见")
    agent = check_text("agent", (by or station.agent_name or "").strip(), label_zh="代办员姓名")
    intake_id, case_no = _subject(station, number, overall)
    key = rating_id(intake_id, case_no)
    if station.db.execute("SELECT 1 FROM ratings WHERE rating_id = ?", [key]).fetchone():
        raise InputError(
            zh=f"{case_no or intake_id} 已经评价过（一次一评），不能再评",
            en=f"{case_no or intake_id} has been rated already (one rating per case)",
            field="level",
            code="rate.already",
        )
    with recording(station.db, station.now, station.station_id) as rec:
        row = {
            "rating_id": key,
            "intake_id": intake_id,
            "case_no": case_no,
            "level": level,
            "comment": text or None,
            "channel": channel,
            "rated_at": rec.now_iso,
            "agent": agent,
        }
        rec.insert("ratings", row)
    return RatingView(**row, bad=level in BAD_LEVELS)  # type: ignore[arg-type]


def ratings_of(station: Station, intake_id: str, case_no: str | None = None) -> list[RatingView]:
    """The ratings of an intake: of one case (and the bundle's overall one) when ``case_no`` is given."""
    sql = (
        "SELECT rating_id, intake_id, case_no, level, comment, channel, rated_at, agent FROM ratings "
        "WHERE intake_id = ?"
    )
    params: list[Any] = [intake_id]
    if case_no is not None:
        sql += " AND (case_no = ? OR case_no IS NULL)"
        params.append(case_no)
    rows = station.db.execute(sql + " ORDER BY rated_at, rating_id", params).fetchall()
    return [
        RatingView(
            rating_id=r[0],
            intake_id=r[1],
            case_no=r[2],
            level=r[3],
            comment=r[4],
            channel=r[5],
            rated_at=r[6],
            agent=r[7],
            bad=r[3] in BAD_LEVELS,
        )
        for r in rows
    ]
