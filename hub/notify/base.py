"""The digest a notifier sends, the notifier protocol, its settings from the environment, the factory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import msgspec

from sync.errors import InputError

__all__ = ("BACKENDS", "Digest", "DigestLine", "Notifier", "NotifySettings", "make_notifier")

BACKENDS = ("file", "smtp")


class DigestLine(msgspec.Struct, frozen=True, kw_only=True):
    """One case in a digest: its number, item, due date and how late, no personal data."""

    case_no: str
    item_code: str
    due_date: str
    kind: str
    """``due_soon`` or ``overdue``."""
    days_left: int


class Digest(msgspec.Struct, frozen=True, kw_only=True):
    """One account's alerts of one day: cases its unit holds, and (heads) overdue cases it answers for."""

    day: str
    user: str
    role: str
    unit: str
    """The department key or the township code."""
    email: str | None
    mine: tuple[DigestLine, ...]
    head: tuple[DigestLine, ...] = ()

    def counts(self) -> dict[str, int]:
        """``due_soon``, ``overdue`` (the unit's) and ``head_overdue``: what a log line may say."""
        return {
            "due_soon": sum(1 for line in self.mine if line.kind == "due_soon"),
            "overdue": sum(1 for line in self.mine if line.kind == "overdue"),
            "head_overdue": len(self.head),
        }

    def text(self) -> str:
        """The digest as a short bilingual text (the e-mail body)."""
        counts = self.counts()
        out = [
            f"{self.day} 时限预警 / time-limit alerts — {self.user} ({self.unit})",
            f"即将到期 due soon: {counts['due_soon']}  已逾期 overdue: {counts['overdue']}"
            + (f"  督办逾期 overdue (head): {counts['head_overdue']}" if self.head else ""),
            "",
        ]
        for title, lines in (("本单位办件 / held by your unit", self.mine), ("逾期督办 / overdue, as head", self.head)):
            if lines:
                out.append(title)
                out += [
                    f"  {line.case_no}  {line.item_code}  {line.due_date}  "
                    + ("逾期 overdue" if line.kind == "overdue" else "将到期 due soon")
                    for line in lines
                ]
        return "\n".join(out) + "\n"


class Notifier(Protocol):
    """Sends digests; returns how many went out."""

    name: str

    def send(self, digests: list[Digest]) -> int: ...


class NotifySettings(msgspec.Struct, frozen=True, kw_only=True):
    """The notifier's settings (``HUB_ALERTS_*`` and ``HUB_SMTP_*``; docs/hub.md, "Alerts")."""

    data_dir: Path
    backend: str = "file"
    hour: int = 8
    """China-time hour after which ``hub serve`` sends the day's digest."""
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_from: str = "hub@localhost"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False

    @classmethod
    def from_env(cls, data_dir: Path, environ: Mapping[str, str] | None = None) -> NotifySettings:
        """From ``HUB_ALERTS_BACKEND`` (file|smtp), ``HUB_ALERTS_HOUR``, ``HUB_SMTP_HOST``, ``HUB_SMTP_PORT``,
        ``HUB_SMTP_FROM``, ``HUB_SMTP_USER``, ``HUB_SMTP_PASSWORD``, ``HUB_SMTP_STARTTLS`` (1/true).

        Raises:
            InputError: an unknown backend or a port or hour that is not a number in range.
        """
        env = os.environ if environ is None else environ
        backend = (env.get("HUB_ALERTS_BACKEND") or "file").strip().lower()
        if backend not in BACKENDS:
            raise InputError(
                zh=f"HUB_ALERTS_BACKEND 应为 file 或 smtp，而不是 {backend!r}",
                en=f"HUB_ALERTS_BACKEND must be file or smtp, not {backend!r}",
                field="HUB_ALERTS_BACKEND",
            )
        return cls(
            data_dir=data_dir,
            backend=backend,
            hour=_number(env, "HUB_ALERTS_HOUR", 8, 0, 23),
            smtp_host=(env.get("HUB_SMTP_HOST") or "127.0.0.1").strip(),
            smtp_port=_number(env, "HUB_SMTP_PORT", 25, 1, 65535),
            smtp_from=(env.get("HUB_SMTP_FROM") or "hub@localhost").strip(),
            smtp_user=env.get("HUB_SMTP_USER") or None,
            smtp_password=env.get("HUB_SMTP_PASSWORD") or None,
            smtp_starttls=(env.get("HUB_SMTP_STARTTLS") or "").strip().lower() in ("1", "true", "yes"),
        )


def _number(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InputError(
            zh=f"{name} 应为 {low} 到 {high} 之间的整数，而不是 {raw!r}",
            en=f"{name} must be a whole number from {low} to {high}, not {raw!r}",
            field=name,
        )
    return int(raw)


def make_notifier(settings: NotifySettings) -> Notifier:
    """The backend the settings name."""
    if settings.backend == "smtp":
        from hub.notify.smtp import SmtpNotifier

        return SmtpNotifier(settings)
    from hub.notify.file import FileNotifier

    return FileNotifier(settings)
