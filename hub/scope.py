"""An account's scope beyond its role: a township clerk's township, a head's flag, the digest address."""

from __future__ import annotations

import re

from hub.store import HubStoreProtocol
from sync.errors import InputError

__all__ = ("check_scope",)

_EMAIL = re.compile(r"^[^@\s<>,;\"']+@[^@\s<>,;\"']+\.[^@\s<>,;\"']+$")


def check_scope(
    store: HubStoreProtocol, role: str, *, township: str | None, head: bool, email: str | None
) -> tuple[str | None, str | None]:
    """The township code (12 digits, known to the division tree) and e-mail address to store.

    Raises:
        InputError: a township account without ``--township`` or another role with one, an unknown
            township, a head flag on an administrator, or a malformed address.
    """
    township = (township or "").strip() or None
    email = (email or "").strip() or None
    if role == "township":
        if township is None:
            raise InputError(
                zh="乡镇账号须指定 --township（12 位乡镇区划代码，以 000 结尾）",
                en="a township account needs --township CODE (the township's 12-digit code, ending 000)",
                field="township",
            )
        township = store.divisions().township(township).code  # DivisionCodeError names the code
    elif township is not None:
        raise InputError(
            zh="只有乡镇账号（--role township）才指定 --township",
            en="only a township account (--role township) takes --township",
            field="township",
        )
    if head and role == "admin":
        raise InputError(
            zh="--head 用于部门或乡镇负责人，不用于管理员",
            en="--head marks a department's or township's head, not an administrator",
            field="head",
        )
    if email is not None and not _EMAIL.match(email):
        raise InputError(
            zh=f"电子邮箱 {email!r} 格式不对（例：clerk@county.example）",
            en=f"e-mail address {email!r} is malformed (e.g. clerk@county.example)",
            field="email",
        )
    return township, email
