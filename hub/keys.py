"""The hub's identity on disk: its key pair and the county ID-lookup key."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import msgspec

from sync.crypto import KeyPair, fingerprint, key_id_of
from sync.errors import StoreError
from sync.lookup import id_lookup_hash

__all__ = (
    "KEY_FILE",
    "HubIdentity",
    "create_identity",
    "id_lookup_hash",
    "load_identity",
)

KEY_FILE = "hub.key"


class HubIdentity(msgspec.Struct, frozen=True, kw_only=True):
    """What ``hub.key`` holds: the hub's signing and box keys and the county ID-lookup key."""

    v: int = 1
    keys: KeyPair
    lookup_key: bytes
    """32 random bytes; sealed to each station at enrolment so every replica hashes ID numbers alike."""

    @property
    def hub_id(self) -> str:
        """The key id of the signing key: how stations and logs name this hub."""
        return key_id_of(self.keys.sign_public)

    @property
    def fingerprint(self) -> str:
        """What an agent compares with the administrator at enrolment."""
        return fingerprint(self.keys.sign_public)


def create_identity(data_dir: Path) -> HubIdentity:
    """Make a new hub identity and write it to ``data_dir/hub.key`` (mode 0600).

    Raises:
        StoreError: a key file already exists (a hub's identity is never silently replaced:
            every station pinned it).
    """
    path = data_dir / KEY_FILE
    if path.exists():
        raise StoreError(
            zh=f"{path} 已存在；县平台密钥不能被替换（每个代办点都已固定该密钥）",
            en=f"{path} already exists; a hub key is never replaced (every station pinned it)",
            field="data_dir",
            code="store.exists",
        )
    identity = HubIdentity(keys=KeyPair.generate(), lookup_key=secrets.token_bytes(32))
    tmp = path.with_suffix(".tmp")
    # Created 0600 from the start (not chmod afterwards), written, synced, then renamed: a crash
    # never leaves a half-written or briefly world-readable key.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(msgspec.msgpack.encode(identity))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return identity


def load_identity(data_dir: Path) -> HubIdentity:
    """Read ``data_dir/hub.key``.

    Raises:
        StoreError: missing (run ``hub init``) or damaged.
    """
    path = data_dir / KEY_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise StoreError(
            zh=f"此处没有县平台数据：缺少 {path}；请先运行“hub init”",
            en=f"no hub here: {path} is missing; run 'hub init' first",
            field="data_dir",
            code="store.not_initialised",
        ) from None
    try:
        return msgspec.msgpack.decode(data, type=HubIdentity)
    except msgspec.DecodeError:
        raise StoreError(
            zh=f"{path} 已损坏；请从备份恢复", en=f"{path} is damaged; restore it from the backup", field="data_dir"
        ) from None
