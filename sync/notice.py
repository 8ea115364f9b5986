"""The correction notice (补正通知, 一次性告知): written by the hub, read back by the station.

A reviewer's request for corrections travels as the reason of the move to AWAITING_CORRECTION
(a StatusChange), so it needs no new field on the wire. Its materials are written in one fixed
form, numbered, so the station can list them for the agent to tick when the applicant comes back.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ("NOTICE_PREFIX", "correction_notice", "notice_materials")

NOTICE_PREFIX = "一次性告知，请补正以下材料："
"""How every correction notice begins; the numbered materials follow, then 。 and the reason, if any."""


def correction_notice(missing: Sequence[str], reason: str | None = None) -> str:
    """The notice text: every missing material in one notice, so the applicant comes back once."""
    items = "；".join(f"{i}. {name}" for i, name in enumerate(missing, 1))
    text = f"{NOTICE_PREFIX}{items}"
    return f"{text}。{reason}" if reason else text


def notice_materials(text: str | None) -> list[str]:
    """The materials a notice written by :func:`correction_notice` asks for, in its order.

    A reason in another form (older data, a free-text reason) asks for no listed material: [].
    Items are found by their running numbers ("1. ", "；2. ", …); the last one ends at the first
    "。" after it, where the reviewer's reason starts.
    """
    if not text or not text.startswith(NOTICE_PREFIX):
        return []
    body = text[len(NOTICE_PREFIX) :]
    found: list[str] = []
    number, pos = 1, 0
    while body.startswith(f"{number}. ", pos):
        start = pos + len(f"{number}. ")
        following = body.find(f"；{number + 1}. ", start)
        if following == -1:
            end = body.find("。", start)
            found.append(body[start : end if end != -1 else len(body)])
            break
        found.append(body[start:following])
        number, pos = number + 1, following + 1
    names = [name.strip() for name in found]
    return [name for i, name in enumerate(names) if name and name not in names[:i]]
