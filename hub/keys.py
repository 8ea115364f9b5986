"""The hub's identity on disk: its key pair (and the generations it replaced) and the county ID-lookup key."""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

import msgspec

from sync.crypto import KeyPair, fingerprint, key_id_of
from sync.errors import StoreError
from sync.lookup import id_lookup_hash
from sync.protocol import sign_hub_key

__all__ = (
    "KEY_FILE",
    "HubIdentity",
    "HubKeyGen",
    "IdentityFile",
    "create_identity",
    "id_lookup_hash",
    "load_identity",
    "rotated",
    "save_identity",
)

KEY_FILE = "hub.key"


class HubKeyGen(msgspec.Struct, frozen=True, kw_only=True):
    """A generation of the hub's keys that ``hub key rotate`` replaced, kept for as long as the hub runs:
    stations that have not taken the handover yet (a release before key rotation, a PC offline) are
    still served under it, and sets sealed to its box key may still be on their way."""

    gen: int
    keys: KeyPair
    created_at: str = ""
    retired_at: str = ""
    handover: bytes = b""
    """Generation ``gen - 1``'s signature over these keys; empty for generation 1."""


class HubIdentity(msgspec.Struct, frozen=True, kw_only=True):
    """What ``hub.key`` holds: the hub's signing and box keys and the county ID-lookup key."""

    v: int = 1
    keys: KeyPair
    lookup_key: bytes
    """32 random bytes; sealed to each station at enrolment so every replica hashes ID numbers alike."""
    gen: int = 1
    """The generation of ``keys``: 1 as ``hub init`` made them, one more at each ``hub key rotate``."""
    created_at: str = ""
    """When ``keys`` were made ("" for a hub made before key rotation)."""
    handover: bytes = b""
    """Generation ``gen - 1``'s signature over these keys (sync.protocol.sign_hub_key); empty for gen 1."""
    previous: list[HubKeyGen] = []
    """The generations replaced, oldest first."""

    def keys_of(self, gen: int) -> KeyPair:
        """The key pair of generation ``gen``.

        Raises:
            KeyError: no such generation here.
        """
        if gen == self.gen:
            return self.keys
        for old in self.previous:
            if old.gen == gen:
                return old.keys
        raise KeyError(gen)

    def generation(self, gen: int) -> HubKeyGen:
        """Generation ``gen`` with its handover (the current one too).

        Raises:
            KeyError: no such generation here.
        """
        if gen == self.gen:
            return HubKeyGen(gen=self.gen, keys=self.keys, created_at=self.created_at, handover=self.handover)
        for old in self.previous:
            if old.gen == gen:
                return old
        raise KeyError(gen)

    def generations(self) -> tuple[int, ...]:
        """The generations in :attr:`box_privates`'s order: the current first, then newest to oldest."""
        return (self.gen, *(old.gen for old in reversed(self.previous)))

    @property
    def box_privates(self) -> tuple[bytes, ...]:
        """Every box key a station may have sealed to, the current first, then newest to oldest."""
        return (self.keys.box_private, *(old.keys.box_private for old in reversed(self.previous)))

    @property
    def key_ids(self) -> frozenset[str]:
        """The key ids of every generation: the same hub, before and after a rotation."""
        return frozenset({self.hub_id, *(key_id_of(old.keys.sign_public) for old in self.previous)})

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
    save_identity(data_dir, identity)
    return identity


def save_identity(data_dir: Path, identity: HubIdentity) -> None:
    """Write ``data_dir/hub.key`` (mode 0600), replacing it atomically."""
    path = data_dir / KEY_FILE
    tmp = path.with_suffix(".tmp")
    # Created 0600 from the start (not chmod afterwards), written, synced, then renamed: a crash
    # never leaves a half-written or briefly world-readable key.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(msgspec.msgpack.encode(identity))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def rotated(identity: HubIdentity, *, at: str) -> HubIdentity:
    """The identity with new keys as generation ``gen + 1``, handed over by the current signing key;
    the current keys join ``previous``. The lookup key stays (every replica hashes ID numbers with it)."""
    new = KeyPair.generate()
    gen = identity.gen + 1
    handover = sign_hub_key(
        gen=gen,
        old_sign_private=identity.keys.sign_private,
        old_sign_public=identity.keys.sign_public,
        sign_public=new.sign_public,
        box_public=new.box_public,
        at=at,
    )
    retired = HubKeyGen(
        gen=identity.gen,
        keys=identity.keys,
        created_at=identity.created_at,
        retired_at=at,
        handover=identity.handover,
    )
    return msgspec.structs.replace(
        identity, keys=new, gen=gen, created_at=at, handover=handover, previous=[*identity.previous, retired]
    )


class IdentityFile:
    """``hub.key`` as a running hub reads it: read again whenever the file changed (``hub key rotate``
    while ``hub serve`` runs), so the server signs with the new keys without a restart."""

    def __init__(self, data_dir: Path, identity: HubIdentity | None = None) -> None:
        self.path = data_dir / KEY_FILE
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._identity = identity if identity is not None else load_identity(data_dir)

    def _stat(self) -> tuple[int, int, int]:
        try:
            status = self.path.stat()
        except FileNotFoundError:
            return (0, 0, 0)
        return (status.st_mtime_ns, status.st_size, status.st_ino)

    def current(self) -> HubIdentity:
        """The identity as the file holds it now (one stat per call; read again only when it changed)."""
        stamp = self._stat()
        if stamp != self._stamp and stamp != (0, 0, 0):
            with self._lock:
                if stamp != self._stamp:
                    self._identity = load_identity(self.path.parent)
                    self._stamp = stamp
        return self._identity


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
