"""The station's data key: 256 random bits that encrypt its database, drafts and receipts, wrapped under the passphrase."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from station.errors import PassphraseError
from station.fsutil import atomic_write
from station.identity import MIN_PASSPHRASE, PASSPHRASE_ENV
from sync.crypto import CryptoError, unwrap_private, wrap_private
from sync.errors import StoreError

__all__ = (
    "DATA_KEY_FILE",
    "KEYRING_SERVICE",
    "KEY_WORK",
    "create_data_key",
    "derive_key",
    "forget",
    "forget_in_keyring",
    "has_data_key",
    "held_key",
    "keyring_key",
    "needed_error",
    "open_data_key",
    "remember_in_keyring",
    "unlock",
)

DATA_KEY_FILE = "station.dbkey"
"""The data key wrapped under the station passphrase (scrypt + AES-GCM, as ``station.key``)."""
KEY_WORK = 2**15
"""scrypt's cost n for a new data key (~0.1 s, 32 MiB); only tests lower it."""
KEYRING_SERVICE = "proxyapp-station"
"""The service name under which ``station unlock --remember`` keeps the data key in the OS keyring."""


class _KeyFile(msgspec.Struct, frozen=True, array_like=True):
    v: int
    wrapped: bytes


# -- the unlocked keys of this process ----------------------------------------------------------
#
# A process unwraps a folder's key once (scrypt takes ~0.1 s by design) and keeps it, as the
# SQLCipher connection keeps it anyway: the TUI's worker threads and every later Station.open
# of the same folder then need no passphrase. A passphrase given again is compared with the one
# that unlocked (an HMAC under a random key of this process, never the passphrase itself), so a
# wrong one is still refused. Keyed by the wrapped file's digest: a folder initialised anew, or a
# key file restored from another backup, is not opened with a stale key.


@dataclass
class _Unlocked:
    digest: bytes
    key: bytes
    tokens: set[bytes] = field(default_factory=set)


_PROCESS_SECRET = secrets.token_bytes(32)
_unlocked: dict[str, _Unlocked] = {}
_lock = threading.Lock()


def _folder_id(data_dir: Path) -> str:
    return os.path.normcase(os.path.realpath(data_dir))


def _token(passphrase: str) -> bytes:
    return hmac.new(_PROCESS_SECRET, passphrase.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()


def _remember(data_dir: Path, blob: bytes, key: bytes, passphrase: str | None) -> None:
    digest = hashlib.sha256(blob).digest()
    with _lock:
        entry = _unlocked.get(_folder_id(data_dir))
        if entry is None or entry.digest != digest or entry.key != key:
            entry = _unlocked[_folder_id(data_dir)] = _Unlocked(digest, key)
        if passphrase is not None:
            entry.tokens.add(_token(passphrase))


def forget(data_dir: Path | None = None) -> None:
    """Drop the key this process holds for ``data_dir`` (all folders when None)."""
    with _lock:
        if data_dir is None:
            _unlocked.clear()
        else:
            _unlocked.pop(_folder_id(Path(data_dir)), None)


# -- the key file -------------------------------------------------------------------------------


def has_data_key(data_dir: Path) -> bool:
    return (Path(data_dir) / DATA_KEY_FILE).exists()


def _read_blob(data_dir: Path) -> bytes:
    path = Path(data_dir) / DATA_KEY_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise StoreError(
            zh=f"缺少 {path}，无法打开本站数据；请从与数据库同一次的备份中恢复（二者须配套）",
            en=f"{path} is missing, so the station's data cannot be opened; restore it from the backup taken "
            "with the database (the two belong together)",
            field="data_key",
            code="store.no_data_key",
        ) from None


def _damaged(path: Path) -> StoreError:
    return StoreError(
        zh=f"{path} 已损坏；请从与数据库同一次的备份中恢复",
        en=f"{path} is damaged; restore it from the backup taken with the database",
        field="data_key",
    )


def create_data_key(data_dir: Path, passphrase: str, *, work: int | None = None) -> bytes:
    """Make a new data key, write it wrapped under ``passphrase`` (atomically, 0600) and return it.

    Raises:
        PassphraseError: the passphrase is shorter than :data:`station.identity.MIN_PASSPHRASE`.
    """
    if len(passphrase) < MIN_PASSPHRASE:
        raise PassphraseError(
            zh=f"本站密钥口令至少需要 {MIN_PASSPHRASE} 个字符",
            en=f"the station passphrase must be at least {MIN_PASSPHRASE} characters",
            field="passphrase",
            code="passphrase.short",
        )
    key = secrets.token_bytes(32)
    blob = msgspec.msgpack.encode(_KeyFile(1, wrap_private(key, passphrase, n=work or KEY_WORK)))
    atomic_write(Path(data_dir) / DATA_KEY_FILE, blob)
    _remember(Path(data_dir), blob, key, passphrase)
    return key


def open_data_key(data_dir: Path, passphrase: str) -> bytes:
    """Unwrap the data key with ``passphrase`` (at once when this process already did).

    Raises:
        PassphraseError: the passphrase is wrong (exit status 2 at the CLI); nothing was changed.
        StoreError: the key file is missing or damaged.
    """
    data_dir = Path(data_dir)
    blob = _read_blob(data_dir)
    with _lock:
        entry = _unlocked.get(_folder_id(data_dir))
        if entry is not None and entry.digest == hashlib.sha256(blob).digest() and _token(passphrase) in entry.tokens:
            return entry.key
    try:
        stored = msgspec.msgpack.decode(blob, type=_KeyFile)
        key = unwrap_private(stored.wrapped, passphrase)
    except msgspec.DecodeError:
        raise _damaged(data_dir / DATA_KEY_FILE) from None
    except CryptoError as exc:
        if exc.code != "crypto.passphrase":
            raise _damaged(data_dir / DATA_KEY_FILE) from None
        raise PassphraseError(
            zh=f"本站密钥口令错误：无法打开本站数据（{DATA_KEY_FILE}），未做任何更改",
            en=f"wrong passphrase: it does not open this station's data ({DATA_KEY_FILE}); nothing was changed",
            field="passphrase",
        ) from None
    if len(key) != 32:
        raise _damaged(data_dir / DATA_KEY_FILE)
    _remember(data_dir, blob, key, passphrase)
    return key


def held_key(data_dir: Path) -> bytes | None:
    """The data key this process unlocked for ``data_dir`` earlier, if its key file is unchanged."""
    data_dir = Path(data_dir)
    with _lock:
        entry = _unlocked.get(_folder_id(data_dir))
    if entry is None:
        return None
    try:
        blob = (data_dir / DATA_KEY_FILE).read_bytes()
    except OSError:
        return None
    return entry.key if hashlib.sha256(blob).digest() == entry.digest else None


def needed_error() -> PassphraseError:
    return PassphraseError(
        zh=f"本站数据已加密，需要本站密钥口令：请设置环境变量 {PASSPHRASE_ENV}，或在终端中运行命令以输入口令",
        en=f"the station's data is encrypted and needs the station passphrase: set {PASSPHRASE_ENV}, or run "
        "the command at a terminal to be asked for it",
        field="passphrase",
        code="passphrase.needed",
    )


def unlock(data_dir: Path, passphrase: str | None = None, *, environ: Mapping[str, str] | None = None) -> bytes:
    """The data key of ``data_dir``, from the first of: ``passphrase``, ``$STATION_PASSPHRASE``, the
    key this process unlocked before, the OS keyring (``station unlock --remember``).

    Never asks: asking is for the command line and the TUI, which know whether a person is there.

    Raises:
        PassphraseError: wrong passphrase, or none anywhere (code ``passphrase.needed``).
        StoreError: the key file is missing or damaged.
    """
    env = os.environ if environ is None else environ
    if passphrase is None:
        passphrase = env.get(PASSPHRASE_ENV) or None
    if passphrase is not None:
        return open_data_key(data_dir, passphrase)
    key = held_key(data_dir) or keyring_key(data_dir)
    if key is None:
        raise needed_error()
    return key


def derive_key(key: bytes, purpose: str) -> bytes:
    """A key for one purpose (``"drafts"``), derived from the data key (HKDF-SHA256)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"proxyapp/station/" + purpose.encode("ascii")
    ).derive(key)


# -- the OS keyring (the agent's choice) --------------------------------------------------------


def _keyring_entry(data_dir: Path) -> tuple[str, str]:
    return KEYRING_SERVICE, _folder_id(Path(data_dir))


def _key_check(blob: bytes) -> str:
    # Stored beside the key: a keyring entry left from a folder initialised anew is ignored.
    return hashlib.sha256(b"proxyapp/keyring-check/v1\x00" + blob).hexdigest()[:16]


def keyring_key(data_dir: Path) -> bytes | None:
    """The data key ``station unlock --remember`` put in the OS keyring; None when there is none,
    no keyring backend on this PC, or the entry belongs to another key file."""
    try:
        blob = (Path(data_dir) / DATA_KEY_FILE).read_bytes()
    except OSError:
        return None
    try:
        import keyring  # loaded only here: it scans for backends (~0.1 s)

        value = keyring.get_password(*_keyring_entry(data_dir))
    except Exception:  # noqa: BLE001 - no backend, a locked keyring, D-Bus gone: all mean "not there"
        return None
    if not value or ":" not in value:
        return None
    check, _, hex_key = value.partition(":")
    if check != _key_check(blob):
        return None
    try:
        key = bytes.fromhex(hex_key)
    except ValueError:
        return None
    if len(key) != 32:
        return None
    _remember(Path(data_dir), blob, key, None)
    return key


def remember_in_keyring(data_dir: Path, key: bytes) -> None:
    """Keep the data key in the OS keyring of this user, so commands and the TUI open the data
    without the passphrase (sync still asks for it: the station key stays under the passphrase).

    Raises:
        StoreError: there is no usable keyring on this PC.
    """
    blob = _read_blob(Path(data_dir))
    try:
        import keyring

        keyring.set_password(*_keyring_entry(data_dir), f"{_key_check(blob)}:{key.hex()}")
    except Exception as exc:  # noqa: BLE001 - every backend failure means the same to the agent
        raise StoreError(
            zh=f"本机没有可用的系统密钥环（{type(exc).__name__}）；请使用环境变量 {PASSPHRASE_ENV} 或输入口令",
            en=f"no usable keyring on this PC ({type(exc).__name__}); use {PASSPHRASE_ENV} or type the passphrase",
            field="keyring",
            code="store.no_keyring",
        ) from None


def forget_in_keyring(data_dir: Path) -> bool:
    """Remove the data key from the OS keyring; False when it was not there (or there is no keyring)."""
    try:
        import keyring

        keyring.delete_password(*_keyring_entry(data_dir))
    except Exception:  # noqa: BLE001 - PasswordDeleteError, no backend: nothing to remove
        return False
    return True
