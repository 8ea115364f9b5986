"""Errors of the station's sync side: each says what happened and what the agent can do, in both languages."""

from __future__ import annotations

from typing import Any

from sync.errors import InputError, ProxyAppError

__all__ = ("FeedError", "HubError", "NotEnrolledError", "PassphraseError", "SyncError", "TransferError")


class SyncError(ProxyAppError):
    """Sync with the hub could not go on; ``code`` is the protocol's error code where there is one."""

    code = "sync"


class HubError(SyncError):
    """The hub answered with an error: ``code`` is its protocol code, ``status`` the HTTP status."""

    def __init__(self, en: str, zh: str, *, code: str, status: int, data: dict[str, Any] | None = None) -> None:
        super().__init__(en, zh, code=code)
        self.status = status
        self.data = data or {}


class NotEnrolledError(SyncError):
    """The station has not enrolled with a hub yet, so it has no hub key to seal to or check against."""

    code = "not_enrolled"

    def __init__(self) -> None:
        super().__init__(
            "this station is not enrolled with a county hub yet; run 'station enroll --hub URL --code CODE' "
            "with the code the county administrator gave you",
            "本站尚未在县平台登记；请用县管理员提供的登记码运行“station enroll --hub 地址 --code 登记码”",
        )


class FeedError(SyncError):
    """A feed set from the hub was refused; nothing of it was applied. ``seq`` is the feed seq concerned."""

    code = "feed"

    def __init__(self, en: str, zh: str, *, seq: int, code: str | None = None) -> None:
        super().__init__(en, zh, code=code)
        self.seq = seq


class PassphraseError(InputError):
    """No passphrase, or the wrong one, for the station key."""

    code = "passphrase"


class TransferError(InputError):
    """A transfer file (USB) is malformed, tampered with, or not for this station; nothing was changed."""

    code = "transfer"
