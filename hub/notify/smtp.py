"""The SMTP backend: one plain-text e-mail per account that has an address (``hub user add --email``)."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from hub.notify.base import Digest, NotifySettings
from sync.errors import ProxyAppError

__all__ = ("SmtpError", "SmtpNotifier")

LOG = logging.getLogger("hub.alerts")


class SmtpError(ProxyAppError):
    """The mail server could not be reached or refused the digest."""

    code = "smtp"


class SmtpNotifier:
    """Sends each digest to its account's address over one SMTP connection; accounts without one are skipped."""

    name = "smtp"

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings

    def send(self, digests: list[Digest]) -> int:
        addressed = [d for d in digests if d.email]
        if not addressed:
            return 0
        s = self.settings
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=30) as server:
                if s.smtp_starttls:
                    server.starttls()
                if s.smtp_user and s.smtp_password:
                    server.login(s.smtp_user, s.smtp_password)
                for digest in addressed:
                    message = EmailMessage()
                    message["From"] = s.smtp_from
                    message["To"] = digest.email or ""
                    counts = digest.counts()
                    message["Subject"] = (
                        f"[县级平台] {digest.day} 时限预警：将到期 {counts['due_soon']}，逾期 {counts['overdue']}"
                        + (f"，督办 {counts['head_overdue']}" if digest.head else "")
                    )
                    message.set_content(digest.text())
                    server.send_message(message)
                    LOG.info("alert digest %s mailed to %s: %s", digest.day, digest.user, counts)
        except (OSError, smtplib.SMTPException) as exc:
            raise SmtpError(
                zh=f"无法通过 {s.smtp_host}:{s.smtp_port} 发送预警邮件：{exc}；请检查 HUB_SMTP_HOST/HUB_SMTP_PORT",
                en=f"cannot send the alert e-mails through {s.smtp_host}:{s.smtp_port}: {exc}; "
                "check HUB_SMTP_HOST and HUB_SMTP_PORT",
                field="HUB_SMTP_HOST",
            ) from exc
        return len(addressed)
