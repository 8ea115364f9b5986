"""Errors of the station's sync side: each says what happened and what the agent can do, in both languages."""

from __future__ import annotations

from typing import Any

from sync.errors import InputError, ProxyAppError

__all__ = (
    "FeedError",
    "HubError",
    "NotEnrolledError",
    "PassphraseError",
    "RefusedChange",
    "SyncError",
    "TransferError",
)


class SyncError(ProxyAppError):
    """Sync with the hub could not go on; ``code`` is the protocol's error code where there is one."""

    code = "sync"


class HubError(SyncError):
    """The hub answered with an error: ``code`` is its protocol code, ``status`` the HTTP status."""

    def __init__(self, *, zh: str, en: str, code: str, status: int, data: dict[str, Any] | None = None) -> None:
        super().__init__(zh=zh, en=en, code=code)
        self.status = status
        self.data = data or {}


class NotEnrolledError(SyncError):
    """The station has not enrolled with a hub yet, so it has no hub key to seal to or check against."""

    code = "not_enrolled"

    def __init__(self) -> None:
        super().__init__(
            zh="本站尚未在县平台登记；请用县管理员提供的登记码运行“station enroll --hub 地址 --code 登记码”",
            en="this station is not enrolled with a county hub yet; run 'station enroll --hub URL --code CODE' "
            "with the code the county administrator gave you",
        )


class RefusedChange(SyncError):
    """The county kept a change of this station's but did not apply it (architecture invariant 4).

    ``code`` is the hub's rejection code (docs/protocol.md); the message names the case, the code
    and the hub's reason, never personal data. ``filed`` is False when the refused change created
    the row: the county does not hold the case at all, and only the county can sort that out.
    """

    code = "refused"

    def __init__(self, case_no: str, code: str, *, reason_zh: str, reason_en: str, filed: bool) -> None:
        if filed:
            en = f"case {case_no}: the county refused a change ({code}): {reason_en}"
            zh = f"办件 {case_no}：县平台拒收了一项更改（{code}）：{reason_zh}"
        else:
            en = (
                f"case {case_no} is not filed at the county: it refused the case ({code}): {reason_en}; "
                "call the county administrator"
            )
            zh = f"办件 {case_no} 未在县平台立案：县平台拒收（{code}）：{reason_zh}；请联系县管理员"
        super().__init__(zh=zh, en=en, field="case_no", code=code)
        self.case_no = case_no
        self.filed = filed


class FeedError(SyncError):
    """A feed set from the hub was refused; nothing of it was applied. ``seq`` is the feed seq concerned."""

    code = "feed"

    def __init__(self, *, zh: str, en: str, seq: int, code: str | None = None) -> None:
        super().__init__(zh=zh, en=en, code=code)
        self.seq = seq


class PassphraseError(InputError):
    """No passphrase, or the wrong one, for the station key."""

    code = "passphrase"


class TransferError(InputError):
    """A transfer file (USB) is malformed, tampered with, or not for this station; nothing was changed."""

    code = "transfer"
