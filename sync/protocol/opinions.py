"""Parallel review's opinions (并联审批) as the hub sends them down with a case's state: which department holds it."""

from __future__ import annotations

import msgspec

__all__ = ("OPINIONS", "JointOpinion")

OPINIONS = ("consent", "object", "deemed_consent")
"""A department's answer: it agrees, it objects (the lead decides with that), or it did not answer by the
due date and the system counted its silence as consent (缺席默认: never a person's approval)."""


class JointOpinion(msgspec.Struct, frozen=True, kw_only=True):
    """One department asked to join a case's review, and its opinion once given.

    Departments, kinds and times only: no staff or applicant names, no reasons (the lead's single result
    carries the reasons the applicant is told)."""

    department: str
    """The department's key (the item-code prefix: ``RS``, ``YB`` …)."""
    name_zh: str
    name_en: str = ""
    opinion: str | None = None
    """One of :data:`OPINIONS`; None while the department has not answered (it holds the case)."""
    requested_at: str
    """When the lead asked (UTC)."""
    due_date: str
    """The China date the department answers by; past it, the system records ``deemed_consent``."""
    answered_at: str | None = None
    """When the opinion was given (or deemed), UTC."""
