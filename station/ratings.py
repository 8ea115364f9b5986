"""Ratings (好差评) recorded at the station after delivery, and each intake's progress-query code (derived)."""

from __future__ import annotations

from typing import Any

import msgspec

from station.store import Station
from station.store.db import write_txn
from station.store.outbox import ChangeRecorder, recording
from sync.errors import InputError, IntakeError, NotFoundError
from sync.lifecycle import Status
from sync.ratings import (
    BAD_LEVELS,
    check_channel,
    check_level,
    new_query_key,
    query_code,
    rating_id,
    recorder_of,
)
from sync.text import check_text

__all__ = (
    "RatingView",
    "ensure_query_code",
    "own_query_key",
    "publish_query_key",
    "query_code_of",
    "rate",
    "ratings_of",
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


def own_query_key(station: Station) -> bytes:
    """This PC's query key: its replicated row once it has one (the hub's copy wins, e.g. after a restore),
    else the key kept in meta, made now the first time (the database is encrypted: it sits with the
    station's other secrets)."""
    row = station.db.execute("SELECT query_key FROM query_keys WHERE key_id = ?", [station.station_id]).fetchone()
    if row is not None:
        return bytes.fromhex(row[0])
    text = station.meta.query_key
    if text:
        return bytes.fromhex(text)
    key = new_query_key()
    with write_txn(station.db):
        station.meta.update({"query_key": key.hex()})
    return key


def publish_query_key(station: Station, rec: ChangeRecorder) -> None:
    """Record this PC's query key as its one ``query_keys`` row (once, and only once enrolled: the row is
    keyed by the hub's station id). Inside the caller's transaction: an intake's, or enrolment's."""
    if not station.meta.hub_id:
        return
    if station.db.execute("SELECT 1 FROM query_keys WHERE key_id = ?", [rec.origin]).fetchone():
        return
    key = own_query_key(station)
    rec.insert("query_keys", {"key_id": rec.origin, "query_key": key.hex(), "created_at": rec.now_iso})


def query_code_of(station: Station, intake_id: str) -> str | None:
    """The intake's query code, derived from the key of the PC that recorded it; None when there is no such
    intake here or that PC's key has not come down from the hub yet."""
    row = station.db.execute("SELECT versions FROM intakes WHERE intake_id = ?", [intake_id]).fetchone()
    recorder = recorder_of(row[0]) if row is not None else None
    if recorder is None:
        return None
    if recorder == station.station_id:
        return query_code(own_query_key(station), intake_id)
    found = station.db.execute("SELECT query_key FROM query_keys WHERE key_id = ?", [recorder]).fetchone()
    return query_code(bytes.fromhex(found[0]), intake_id) if found is not None else None


def ensure_query_code(station: Station, intake_id: str) -> str:
    """The intake's query code for its receipt, this PC's key sent to the hub if it was not yet."""
    if station.db.execute("SELECT 1 FROM intakes WHERE intake_id = ?", [intake_id]).fetchone() is None:
        raise NotFoundError(
            zh=f"本站没有编号为 {intake_id!r} 的收件", en=f"no intake numbered {intake_id!r} here", field="case_no"
        )
    if (
        station.meta.hub_id
        and not station.meta.restored
        and not station.db.execute("SELECT 1 FROM query_keys WHERE key_id = ?", [station.station_id]).fetchone()
    ):
        with recording(station.db, station.now, station.station_id) as rec:
            publish_query_key(station, rec)
    code = query_code_of(station, intake_id)
    if code is None:
        raise NotFoundError(
            zh=f"收件 {intake_id} 的查询码要待县平台传来原电脑的查询密钥后才能算出；请先同步",
            en=f"the query code of intake {intake_id} needs the key of the PC that recorded it, "
            "which comes from the hub: sync first",
            field="case_no",
        )
    return code


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
