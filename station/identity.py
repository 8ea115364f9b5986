"""The station's identity: its key pair wrapped under a passphrase, and the hub it pinned at enrolment."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlite_utils import Database

from station.errors import NotEnrolledError, PassphraseError
from station.fsutil import atomic_write
from station.store.db import write_txn
from station.store.meta import get_meta, get_meta_json, set_meta
from sync.crypto import CryptoError, KeyPair, fingerprint, key_id_of, rewrap_private, unwrap_private_key, wrap_private
from sync.errors import StoreError
from sync.protocol import ProtocolError

__all__ = (
    "KEY_FILE",
    "MIN_PASSPHRASE",
    "PASSPHRASE_ENV",
    "HubPins",
    "StationKeys",
    "bump_counter",
    "get_meta",
    "get_meta_json",
    "has_keypair",
    "hub_pins",
    "load_keypair",
    "passphrase",
    "public_key_id",
    "require_pins",
    "save_keypair",
    "save_keys",
    "set_meta",
)

KEY_FILE = "station.key"
PASSPHRASE_ENV = "STATION_PASSPHRASE"
MIN_PASSPHRASE = 8
"""Shortest passphrase accepted for a new key: the wrapped key sits beside the data it protects."""


class _KeyFile(msgspec.Struct, frozen=True, array_like=True):
    # The public halves stay readable without the passphrase (status shows the key id); the
    # private halves are wrapped (scrypt + AES-GCM, sync.crypto.wrap_private): the current pair's
    # 64 bytes, then the pending pair's 64 (a key change on its way to the hub, station.rekey), then
    # 32 for each box key replaced before (feed sets sealed to it may still be on their way).
    v: int
    sign_public: bytes
    box_public: bytes
    wrapped: bytes
    pending_sign_public: bytes = b""
    pending_box_public: bytes = b""
    older_box_public: list[bytes] = []


class StationKeys(KeyPair, frozen=True, kw_only=True):
    """The station's unwrapped keys: the current pair (what a KeyPair holds) and what a key change keeps.

    ``pending`` is the new pair of a key change the hub has not acknowledged yet (station.rekey), and
    ``older_box`` the private halves of box keys replaced before, newest first. ``wrap_key`` is the
    key the passphrase unwrapped ``station.key`` with (never stored): the key file can be rewritten
    after a key change without asking for the passphrase again.
    """

    pending: KeyPair | None = None
    older_box: tuple[bytes, ...] = ()
    older_box_public: tuple[bytes, ...] = ()
    wrap_key: bytes = b""
    wrapped: bytes = b""

    @property
    def pair(self) -> KeyPair:
        """The current pair alone."""
        return KeyPair(self.sign_private, self.sign_public, self.box_private, self.box_public)

    def by_id(self, key_id: str) -> KeyPair | None:
        """The current or pending pair whose signing key has this id, or None."""
        if key_id == self.key_id:
            return self.pair
        if self.pending is not None and self.pending.key_id == key_id:
            return self.pending
        return None

    @property
    def box_privates(self) -> tuple[bytes, ...]:
        """Every box key this station may be sealed to, the current first."""
        pending = (self.pending.box_private,) if self.pending is not None else ()
        return (self.box_private, *pending, *self.older_box)


class HubPins(msgspec.Struct, frozen=True, kw_only=True):
    """The hub this station enrolled with: its address and the keys pinned then."""

    url: str
    hub_id: str
    sign_public: bytes
    box_public: bytes
    enrolled_at: str

    @property
    def fingerprint(self) -> str:
        """What the agent compares with the administrator's: ``3F2A 9C01 …``."""
        return fingerprint(self.sign_public)

    def public_key_for(self, key_id: str) -> bytes:
        """The pinned signing key when ``key_id`` names it, or names no key (a set of format 2,
        which is always the hub's) (for sync.protocol.open_set)."""
        if key_id and key_id != self.hub_id:
            raise ProtocolError(
                zh=f"签名密钥 {key_id} 不是登记时记录的县平台密钥（{self.hub_id}）",
                en=f"signed by key {key_id}, not by the hub key pinned at enrolment ({self.hub_id})",
                code="unknown_key",
            )
        return self.sign_public


# -- meta: the station's settings table --------------------------------------------------------


def hub_pins(db: Database) -> HubPins | None:
    """The pinned hub, or None before enrolment."""
    meta = dict(
        db.execute(
            "SELECT key, value FROM meta WHERE key IN ('hub_url', 'hub_id', 'hub_sign_public', 'hub_box_public', "
            "'enrolled_at')"
        ).fetchall()
    )
    if "enrolled_at" not in meta:
        return None
    return HubPins(
        url=meta["hub_url"],
        hub_id=meta["hub_id"],
        sign_public=bytes.fromhex(meta["hub_sign_public"]),
        box_public=bytes.fromhex(meta["hub_box_public"]),
        enrolled_at=meta["enrolled_at"],
    )


def require_pins(db: Database) -> HubPins:
    pins = hub_pins(db)
    if pins is None:
        raise NotEnrolledError()
    return pins


def bump_counter(db: Database, *, at_least: int = 0) -> int:
    """The next request counter, saved before the request is sent so it never repeats after a crash.

    ``at_least``: the hub's ``last_counter`` after a 409 replay; the counter jumps past it.
    """
    # Read and moved in one statement (a counter never stored, or stored empty, counts as 0).
    with write_txn(db):
        rows = db.execute(
            "INSERT INTO meta (key, value) VALUES ('request_counter', ?) ON CONFLICT(key) DO UPDATE "
            "SET value = CAST(max(CAST(value AS INTEGER) + 1, CAST(excluded.value AS INTEGER)) AS TEXT) "
            "RETURNING value",
            [str(max(at_least, 0) + 1)],
        ).fetchall()  # all: a statement with RETURNING is done (and the commit free) once read to its end
    return int(rows[0][0])


# -- the key pair ------------------------------------------------------------------------------


def has_keypair(data_dir: Path) -> bool:
    return (Path(data_dir) / KEY_FILE).exists()


def save_keypair(data_dir: Path, keys: KeyPair, passphrase_text: str, *, work: int = 2**15) -> None:
    """Write the key pair wrapped under the passphrase to ``station.key`` (atomically).

    ``work`` is scrypt's cost n; only tests lower it.
    """
    if len(passphrase_text) < MIN_PASSPHRASE:
        raise PassphraseError(
            zh=f"本站密钥口令至少需要 {MIN_PASSPHRASE} 个字符",
            en=f"the station passphrase must be at least {MIN_PASSPHRASE} characters",
            field="passphrase",
        )
    wrapped = wrap_private(keys.sign_private + keys.box_private, passphrase_text, n=work)
    data = msgspec.msgpack.encode(_KeyFile(1, keys.sign_public, keys.box_public, wrapped))
    atomic_write(Path(data_dir) / KEY_FILE, data)


def save_keys(data_dir: Path, keys: StationKeys) -> None:
    """Rewrite ``station.key`` with ``keys`` (current, pending, older box keys), wrapped as before.

    Under the key the passphrase unwrapped the file with (``keys.wrap_key``), so the same passphrase
    opens it and none is asked for. Atomic: a crash leaves the old file or the new one.
    """
    if not keys.wrap_key:
        raise StoreError(
            zh=f"无法重写 {KEY_FILE}：密钥未用口令解开",
            en=f"cannot rewrite {KEY_FILE}: the key was not unlocked",
            field="station_key",
        )
    secret = keys.sign_private + keys.box_private
    if keys.pending is not None:
        secret += keys.pending.sign_private + keys.pending.box_private
    secret += b"".join(keys.older_box)
    pending = keys.pending
    record = _KeyFile(
        2 if pending is not None or keys.older_box else 1,
        keys.sign_public,
        keys.box_public,
        rewrap_private(keys.wrapped, keys.wrap_key, secret),
        pending.sign_public if pending is not None else b"",
        pending.box_public if pending is not None else b"",
        list(keys.older_box_public),
    )
    atomic_write(Path(data_dir) / KEY_FILE, msgspec.msgpack.encode(record))


def _read_key_file(data_dir: Path) -> _KeyFile:
    path = Path(data_dir) / KEY_FILE
    if not path.exists():
        raise NotEnrolledError()
    try:
        return msgspec.msgpack.decode(path.read_bytes(), type=_KeyFile)
    except msgspec.DecodeError:
        raise StoreError(
            zh=f"{path} 已损坏；请从备份恢复（或用新的登记码重新登记）",
            en=f"{path} is damaged; restore it from the backup (or enrol again with a new code)",
            field="station_key",
        ) from None


def public_key_id(data_dir: Path) -> str | None:
    """The key id of the station's signing key, readable without the passphrase; None without a key."""
    if not has_keypair(data_dir):
        return None
    return key_id_of(_read_key_file(data_dir).sign_public)


def load_keypair(data_dir: Path, passphrase_text: str) -> StationKeys:
    """Unwrap the station's key pair.

    Raises:
        PassphraseError: the passphrase is wrong (exit status 2 at the CLI).
        NotEnrolledError: there is no key yet.
    """
    stored = _read_key_file(data_dir)
    try:
        secret, wrap_key = unwrap_private_key(stored.wrapped, passphrase_text)
    except CryptoError as exc:
        if exc.code == "crypto.passphrase":
            raise PassphraseError(
                zh=f"本站密钥口令错误（{KEY_FILE}），未做任何更改",
                en=f"wrong passphrase for the station key ({KEY_FILE}); nothing was changed",
                field="passphrase",
            ) from None
        raise
    inconsistent = StoreError(
        zh=f"{KEY_FILE} 内容不一致（公钥与私钥不匹配）；请从备份恢复",
        en=f"{KEY_FILE} is inconsistent (its public and private halves differ); restore it from the backup",
        field="station_key",
    )
    pending_length = 64 if stored.pending_sign_public else 0
    if len(secret) != 64 + pending_length + 32 * len(stored.older_box_public):
        raise inconsistent
    keys = _pair(secret[:32], secret[32:64])
    pending = _pair(secret[64:96], secret[96:128]) if pending_length else None
    older = tuple(
        secret[64 + pending_length + 32 * i : 96 + pending_length + 32 * i] for i in range(len(stored.older_box_public))
    )
    if (
        (keys.sign_public, keys.box_public) != (stored.sign_public, stored.box_public)
        or (
            pending is not None
            and (pending.sign_public, pending.box_public) != (stored.pending_sign_public, stored.pending_box_public)
        )
        or [_box_public(private) for private in older] != stored.older_box_public
    ):
        raise inconsistent
    return StationKeys(
        keys.sign_private,
        keys.sign_public,
        keys.box_private,
        keys.box_public,
        pending=pending,
        older_box=older,
        older_box_public=tuple(stored.older_box_public),
        wrap_key=wrap_key,
        wrapped=stored.wrapped,
    )


def _box_public(box_private: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(box_private).public_key().public_bytes_raw()


def _pair(sign_private: bytes, box_private: bytes) -> KeyPair:
    return KeyPair(
        sign_private=sign_private,
        sign_public=Ed25519PrivateKey.from_private_bytes(sign_private).public_key().public_bytes_raw(),
        box_private=box_private,
        box_public=_box_public(box_private),
    )


def passphrase(
    *,
    confirm: bool = False,
    environ: Mapping[str, str] | None = None,
    prompt: Callable[[str], str] = getpass.getpass,
    interactive: bool | None = None,
) -> str:
    """The station passphrase: ``$STATION_PASSPHRASE``, else asked for when a person is at the keyboard.

    Args:
        confirm: ask twice (when a new key is made).
        interactive: whether stdin is a terminal; detected when None.

    Raises:
        PassphraseError: no passphrase available (a script without the variable), or the two
            entries differ.
    """
    env = os.environ if environ is None else environ
    if env.get(PASSPHRASE_ENV):
        return env[PASSPHRASE_ENV]
    if interactive is None:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    if not interactive:
        raise PassphraseError(
            zh=f"需要本站密钥口令：请设置环境变量 {PASSPHRASE_ENV}（当前无法在终端中询问）",
            en=f"the station key needs its passphrase: set {PASSPHRASE_ENV} (no terminal to ask on)",
            field="passphrase",
        )
    first = prompt("Station passphrase / 本站密钥口令: ")
    if confirm and prompt("Again / 再输入一次: ") != first:
        raise PassphraseError(zh="两次输入的口令不一致", en="the two passphrases differ", field="passphrase")
    return first
