"""A resident's progress query at the station: its own cases answered from the case book, any other
case of the county asked of the hub (online only), both by case number plus query code."""

from __future__ import annotations

import hmac
from typing import Any

import httpx
import msgspec

from station.errors import NotEnrolledError
from station.hubhttp import DEFAULT_TIMEOUT, hub_error, make_client, unreachable, url
from station.queries import outstanding_materials
from station.ratings import query_code_of
from station.store import Station
from sync.errors import NotFoundError, ProxyAppError
from sync.lifecycle import Status
from sync.progress import QUERY_PATH, ProgressAnswer, holder_of
from sync.ratings import normalize_code

__all__ = ("NoAnswer", "ask", "local_answer")


class NoAnswer(ProxyAppError):
    """No case with that number and code: said the same whether the number or the code is wrong."""

    code = "query.no_match"


def _no_match() -> NoAnswer:
    return NoAnswer(
        zh="没有查到：办件编号或查询码不对；请核对回执上的编号和查询码",
        en="nothing found: the case number or the query code is wrong; check both on the receipt",
        field="code",
    )


def local_answer(station: Station, case_no: str, code: str) -> ProgressAnswer | None:
    """The answer for a case of this station's book whose code matches; None when the book has no such
    case or the code is not its (the caller may ask the hub)."""
    number = case_no.strip()
    cursor = station.db.execute(
        "SELECT case_no, intake_id, item_code, status, outcome, due_date, due_provisional, updated_at "
        "FROM cases WHERE case_no = ?",
        [number],
    )
    row = cursor.fetchone()
    if row is None:
        return None
    case = dict(zip([d[0] for d in cursor.description], row))
    stored = query_code_of(station, case["intake_id"])
    if stored is None or not hmac.compare_digest(stored.encode(), normalize_code(code).encode()):
        return None
    try:
        item = station.catalog.item(case["item_code"])
        item_name, level = item.name_zh, item.approver_level
    except NotFoundError:
        item_name, level = case["item_code"], None
    correction = None
    if case["status"] == Status.AWAITING_CORRECTION.value:
        found = station.db.execute(
            "SELECT reason FROM case_events WHERE case_no = ? AND to_status = ? ORDER BY hlc DESC LIMIT 1",
            [number, Status.AWAITING_CORRECTION.value],
        ).fetchone()
        correction = found[0] if found else None
    return ProgressAnswer(
        case_no=case["case_no"],
        item_code=case["item_code"],
        item_name=item_name,
        status=case["status"],
        holder=holder_of(case["status"], level, _events(station, number)),
        due_date=case["due_date"],
        due_provisional=bool(case["due_provisional"]),
        missing=[name for name, _ in outstanding_materials(station, case["intake_id"])],
        correction=correction,
        outcome=case["outcome"],
        updated_at=case["updated_at"],
    )


def _events(station: Station, case_no: str) -> list[dict[str, Any]]:
    cursor = station.db.execute(
        "SELECT actor, from_status, to_status FROM case_events WHERE case_no = ? ORDER BY hlc", [case_no]
    )
    return [dict(zip(("actor", "from_status", "to_status"), row)) for row in cursor.fetchall()]


def ask(
    station: Station,
    case_no: str,
    code: str,
    *,
    transport: httpx.BaseTransport | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> tuple[ProgressAnswer, str]:
    """The progress of a case by number and query code: ``(answer, "station" | "hub")``.

    A case of this station's book is answered here (also offline); any other is asked of the hub.

    Raises:
        NoAnswer: no case with that number and code.
        SyncError: the station has no hub yet, or the hub cannot be reached (the query needs the network).
    """
    answer = local_answer(station, case_no, code)
    if answer is not None:
        return answer, "station"
    hub_url = station.meta.hub_url
    if not hub_url:
        raise NotEnrolledError()
    params: dict[str, Any] = {"case": case_no.strip()[:64], "code": normalize_code(code)[:32]}
    try:
        with make_client(transport, timeout) as client:
            response = client.get(url(hub_url, QUERY_PATH), params=params, headers={"Accept": "application/json"})
    except httpx.TransportError as exc:
        raise unreachable(hub_url, exc) from None
    if response.status_code == 404:
        raise _no_match()
    if response.status_code != 200:
        raise hub_error(response)
    try:
        return msgspec.json.decode(response.content, type=ProgressAnswer), "hub"
    except msgspec.DecodeError:
        raise hub_error(response) from None
