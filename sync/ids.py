"""Identifiers a station mints, and whom each binds: the village and the device letter it names.

A station numbers what it creates without asking anyone (it works offline), so every key carries
its minter: a case or intake number is ``VILLAGE-YYYYMMDD-DNNN`` (12-digit village code, the
business date, the device letter and a counter per day), a material or commitment is keyed
``INTAKE/NAME`` under its intake's number, and a note or a lifecycle move is keyed ``ORIGIN:HLC``
(a PC's query key: ``ORIGIN``) under the station id ``VILLAGE-D-SERIAL`` of the PC that made it. The hub reads a row's village
from its key (never from whoever inserted it first) and takes a new row only from the station the
key names (docs/security.md, "Identifiers bound to a village and a device").
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import NamedTuple

__all__ = (
    "Minter",
    "case_number",
    "event_minter",
    "intake_of_key",
    "origin_minter",
    "parse_case_number",
    "row_minter",
)

_CASE_NUMBER = re.compile(r"(\d{12})-(\d{8})-([A-Z])(\d{3,9})")
"""The counter is zero-padded to three digits and grows past them on a very busy day."""
_STATION_ID = re.compile(r"(\d{12})-([A-Z])-([0-9A-Za-z]{1,32})")
"""The serial is the hub's enrolment serial, or 8 hex digits before enrolment (station.store)."""
_STAMP = re.compile(r"\d{1,20}")


class Minter(NamedTuple):
    """Who minted an identifier: the village and the device letter it names."""

    village: str
    device: str


def case_number(village: str, day: dt.date, device: str, counter: int) -> str:
    """The number of the ``counter``-th case a device records on ``day`` (``349921001001-20261126-A001``)."""
    return f"{village}-{day:%Y%m%d}-{device}{counter:03d}"


def parse_case_number(text: str) -> Minter | None:
    """The village and device a case (or intake) number names; None when it is not one."""
    return _parse_case_number(text) if isinstance(text, str) else None


@functools.lru_cache(maxsize=4096)
def _parse_case_number(text: str) -> Minter | None:
    # Remembered: the hub judges every row of a set by its intake's number, a dozen times an intake.
    match = _CASE_NUMBER.fullmatch(text)
    return Minter(match.group(1), match.group(3)) if match else None


def origin_minter(station_id: str) -> Minter | None:
    """The village and device of a station id ``VILLAGE-D-SERIAL``; None when it is not one."""
    match = _STATION_ID.fullmatch(station_id) if isinstance(station_id, str) else None
    return Minter(match.group(1), match.group(2)) if match else None


def event_minter(event_id: str) -> Minter | None:
    """Who minted a note or lifecycle move id ``ORIGIN:HLC``; None when it is not one."""
    if not isinstance(event_id, str):
        return None
    origin, sep, stamp = event_id.rpartition(":")
    if not sep or not _STAMP.fullmatch(stamp):
        return None
    return origin_minter(origin)


def intake_of_key(table: str, pk: str) -> str | None:
    """The intake number a row's key names (intakes, materials, commitments, ratings); None for other tables."""
    if table == "intakes":
        return pk
    if table in ("intake_materials", "commitments", "ratings"):
        intake_id, sep, name = pk.partition("/")
        return intake_id if sep and name else None
    return None


def row_minter(table: str, pk: str) -> Minter | None:
    """Who minted the key of a row of a replicated table; None when the key is not in its table's form."""
    if not isinstance(pk, str):
        return None
    if table == "cases":
        return parse_case_number(pk)
    if table == "case_notes":
        return event_minter(pk)
    if table == "query_keys":  # keyed by the station id of the PC whose key it is
        return origin_minter(pk)
    if table == "attachments":  # CASE_NO/page hash: the case's number says who minted it
        case_no, sep, page = pk.partition("/")
        return parse_case_number(case_no) if sep and page else None
    intake_id = intake_of_key(table, pk)
    return parse_case_number(intake_id) if intake_id is not None else None
