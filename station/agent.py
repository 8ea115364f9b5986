"""Who works at this PC: the agent's name, asked at enrolment and changed when someone else takes over.

The name is a local setting (``meta``, never replicated as such); it is written into each case
history line, note and receipt the station makes from then on, so the county sees who acted.
"""

from __future__ import annotations

from station.store import Station
from station.store.db import write_txn
from sync.errors import InputError
from sync.text import check_text

__all__ = ("clean_agent_name", "set_agent_name")


def clean_agent_name(name: str, *, required: bool = False) -> str:
    """The name as stored: runs of spaces as one, bounded, no control characters; '' when none given.

    Raises:
        InputError: a control or bidi character, too long, or empty when ``required``.
    """
    cleaned = " ".join(name.split())
    if required and not cleaned:
        raise InputError(
            zh="代办员姓名不能为空：请填写在本机办件的代办员的姓名",
            en="the agent's name is empty: give the name of the agent working at this PC",
            field="agent",
            code="agent.empty",
        )
    return check_text("agent", cleaned, label_zh="代办员姓名")


def set_agent_name(station: Station, name: str) -> str:
    """Record the name of the agent working at this PC from now on; returns it as stored.

    Earlier history lines keep the name they were written with: they record who acted then.
    """
    cleaned = clean_agent_name(name, required=True)
    with write_txn(station.db):
        station.meta.update({"agent_name": cleaned})
    station.agent_name = cleaned
    return cleaned
