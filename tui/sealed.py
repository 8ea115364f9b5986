"""Files the TUI keeps encrypted (AES-256-GCM) under keys derived from the station's data key: drafts, receipts."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from station.store import datakey

__all__ = ("cipher", "seal", "unseal")

_NONCE = 12
_TAG = 16


def cipher(data_dir: Path, purpose: str, key: bytes | None = None) -> AESGCM | None:
    """The AES-GCM cipher for one kind of file (``purpose`` is its HKDF label: "drafts", "receipts").

    Args:
        key: the data key; None: the one this process unlocked for ``data_dir``. None is returned
            when there is neither (the station is still locked).
    """
    if key is None:
        key = datakey.held_key(Path(data_dir))
    return AESGCM(datakey.derive_key(key, purpose)) if key is not None else None


def seal(aead: AESGCM, magic: bytes, plain: bytes, name: str) -> bytes:
    """``magic`` + a random nonce + the ciphertext; ``name`` is bound in (a file renamed does not open)."""
    nonce = os.urandom(_NONCE)
    return magic + nonce + aead.encrypt(nonce, plain, name.encode("utf-8"))


def unseal(aead: AESGCM, magic: bytes, raw: bytes, name: str) -> bytes | None:
    """The plain bytes, or None when ``raw`` is torn, altered, renamed or sealed under another key."""
    if not raw.startswith(magic) or len(raw) < len(magic) + _NONCE + _TAG:
        return None
    nonce, sealed = raw[len(magic) : len(magic) + _NONCE], raw[len(magic) + _NONCE :]
    try:
        return aead.decrypt(nonce, sealed, name.encode("utf-8"))
    except InvalidTag:
        return None
