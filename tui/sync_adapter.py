"""The one door from the TUI to the sync engine (station.client, station.transfer, ...), imported lazily.

The engine is written separately; when a module or function is missing, the adapter answers
"sync not available" and the station keeps working offline. Tests pass a fake adapter to
:class:`tui.app.StationApp` instead. The engine's calls that need the station key get it
unwrapped here (``keys=``): left to itself the engine would ask for the passphrase with
``getpass``, which cannot work under a full-screen terminal UI.
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from station.store import DB_FILE, Station
from sync.errors import ProxyAppError
from sync.timeutil import utc_now

__all__ = (
    "CLOCK_WARN_SECONDS",
    "PASSPHRASE_ENV",
    "EnrollOutcome",
    "PassphraseNeeded",
    "SyncAdapter",
    "SyncNotAvailable",
    "SyncOutcome",
    "SyncStatus",
    "TransferOutcome",
    "local_status",
)

CLOCK_WARN_SECONDS = 300
"""A clock more than five minutes off is worth telling the agent about (due dates, stamps)."""
PASSPHRASE_ENV = "STATION_PASSPHRASE"

Progress = Callable[[str], None]


class SyncNotAvailable(ProxyAppError):
    """The sync engine (or this part of it) is not in this build; the station works offline."""

    code = "sync.not_available"

    def __init__(self, what: str = "sync", what_zh: str = "同步") -> None:
        super().__init__(f"{what} is not available in this version; keep working offline",
                         f"此版本暂不支持{what_zh}，请继续离线工作", code="sync.not_available")


class PassphraseNeeded(ProxyAppError):
    """The station key is locked: the agent must type the station passphrase once per session."""

    code = "passphrase"

    def __init__(self) -> None:
        super().__init__("enter the station passphrase to sync", "同步前请输入本站密钥口令", field="passphrase",
                         code="passphrase")


@dataclass(frozen=True)
class SyncOutcome:
    """What one sync attempt did (from the engine's SyncReport)."""

    ok: bool
    pushed: int = 0
    acknowledged: int = 0
    pulled: int = 0
    in_step: bool = True
    error: str | None = None
    """English text of the first problem (None when all went well)."""
    error_zh: str | None = None
    available: bool = True
    fatal: bool = False
    """Retrying will not help (fork, revoked key): a person must act."""
    needs_passphrase: bool = False
    refused: tuple[Any, ...] = ()
    """The county's refusals of this station's changes that came down in this round
    (station.syncstate.Refusal: case number, code, the county's reason in both languages)."""

    def message(self, lang: str) -> str:
        return (self.error_zh if lang != "en" and self.error_zh else self.error) or "-"


@dataclass(frozen=True)
class SyncStatus:
    """What the status bar shows; every field has a local fallback when the engine is missing."""

    available: bool
    enrolled: bool
    online: bool
    """The last contact with the hub succeeded (there is no newer error)."""
    sets_waiting: int
    """Sealed sets the hub has not acknowledged yet."""
    changes_waiting: int
    """Changes not yet sealed into a set."""
    last_success: str | None
    """ISO UTC time of the last successful sync, None if never."""
    clock_skew_seconds: float | None = None
    """Station clock minus hub clock (or minus the newest stamp it wrote), when known."""
    needs_admin: bool = False
    """Pushing stopped (a fork) or the key was revoked: call the county."""
    refused: int = 0
    """Cases the county refused to file (station.syncstate.refused_cases): never in step until it acts."""

    @property
    def clock_warning(self) -> bool:
        return self.clock_skew_seconds is not None and abs(self.clock_skew_seconds) > CLOCK_WARN_SECONDS


@dataclass(frozen=True)
class EnrollOutcome:
    """The result of enrolment: the hub key fingerprint the agent compares with the administrator's."""

    fingerprint: str
    station_id: str
    village: str


@dataclass(frozen=True)
class TransferOutcome:
    """A USB export or import: the file and how many change sets it carried."""

    path: Path
    sets: int | None = None


def _function(module: str, *names: str) -> Callable[..., Any] | None:
    try:
        found: ModuleType | None = importlib.import_module(module)
    except ImportError:
        return None
    for name in names:
        func = getattr(found, name, None)
        if callable(func):
            return func
    return None


def _accepts(func: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _field(obj: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        if isinstance(obj, dict) and name in obj:
            return obj[name]
        if not isinstance(obj, dict) and hasattr(obj, name):
            return getattr(obj, name)
    return default


def local_status(station: Station, *, available: bool, now: dt.datetime | None = None) -> SyncStatus:
    """The status the station's own tables tell (outbox, sets_out, sync_log, meta): no engine, no network."""
    db = station.db
    meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('hub_id', 'hlc_last')").fetchall())
    changes = db.execute("SELECT COUNT(*) FROM outbox WHERE set_seq IS NULL").fetchone()[0]
    sets = db.execute("SELECT COUNT(*) FROM sets_out WHERE acked_at IS NULL").fetchone()[0]
    last = db.execute("SELECT MAX(at) FROM sync_log WHERE ok = 1").fetchone()[0]
    skew = None
    if meta.get("hlc_last"):
        # A clock set back runs behind the newest stamp this station has written.
        newest_ms = int(meta["hlc_last"]) >> 16
        now_ms = (now or station.now()).timestamp() * 1000
        if newest_ms - now_ms > CLOCK_WARN_SECONDS * 1000:
            skew = (now_ms - newest_ms) / 1000
    return SyncStatus(available=available, enrolled=bool(meta.get("hub_id")), online=False, sets_waiting=sets,
                      changes_waiting=changes, last_success=last, clock_skew_seconds=skew)


class SyncAdapter:
    """Calls the sync engine. Every method runs in a worker thread and opens its own Station there.

    Args:
        hub_url: a hub address that overrides the one stored at enrolment (``--hub``).
        now: the clock the opened stations use (tests pass a fixed one).
    """

    def __init__(self, hub_url: str | None = None, now: Callable[[], dt.datetime] = utc_now) -> None:
        self.hub_url = hub_url
        self.now = now
        self._keys: Any = None
        self._passphrase: str | None = None
        self.last_refused: tuple[Any, ...] = ()
        """The refusals the last sync round brought (for the sync screen)."""

    @property
    def available(self) -> bool:
        return _function("station.client", "sync_once") is not None

    # -- the station key --------------------------------------------------------------------

    def needs_passphrase(self, data_dir: Path) -> bool:
        """True when sync would need the passphrase and the agent has not typed it this session."""
        if self._keys is not None or self._passphrase or os.environ.get(PASSPHRASE_ENV):
            return False
        has_keypair = _function("station.identity", "has_keypair")
        return has_keypair is not None and bool(has_keypair(Path(data_dir)))

    def set_passphrase(self, text: str) -> None:
        """Keep the passphrase until the next engine call unwraps the key with it (then it is dropped)."""
        self._passphrase = text
        self._keys = None

    def has_station_key(self, data_dir: Path) -> bool:
        """True when the station has a key (``station.key``), so it has a passphrase to check."""
        has_keypair = _function("station.identity", "has_keypair")
        return has_keypair is not None and bool(has_keypair(Path(data_dir)))

    def check_passphrase(self, data_dir: Path, text: str) -> bool:
        """True when ``text`` unwraps the station key, as sync would; for the idle lock.

        Nothing is kept: neither the passphrase nor the keys, so the lock changes nothing about
        sync. Slow on purpose (scrypt): call it from a worker thread. A damaged key file raises.
        """
        load_keypair = _function("station.identity", "load_keypair")
        if load_keypair is None:
            return False
        try:
            load_keypair(Path(data_dir), text)
        except ProxyAppError as exc:
            if exc.code != "passphrase" and exc.field != "passphrase":
                raise
            return False
        return True

    def _unlock(self, data_dir: Path) -> Any:
        """The unwrapped key pair, or None when the engine reads ``$STATION_PASSPHRASE`` itself."""
        if self._keys is not None:
            return self._keys
        has_keypair = _function("station.identity", "has_keypair")
        if has_keypair is not None and not has_keypair(Path(data_dir)):
            return None  # not enrolled: the engine says so itself, before it needs a key
        load_keypair = _function("station.identity", "load_keypair")
        text = self._passphrase or os.environ.get(PASSPHRASE_ENV)
        if text is None:
            raise PassphraseNeeded()
        if load_keypair is None:
            return None
        try:
            self._keys = load_keypair(Path(data_dir), text)
        finally:
            self._passphrase = None  # the unwrapped keys stay in memory, the passphrase does not
        return self._keys

    # -- sync -------------------------------------------------------------------------------

    def sync_now(self, data_dir: Path, progress: Progress | None = None) -> SyncOutcome:
        """One round: ``station.client.sync_once(station, keys=..., [hub_url=...], [progress=...])``."""
        sync_once = _function("station.client", "sync_once")
        if sync_once is None:
            error = SyncNotAvailable()
            return SyncOutcome(ok=False, available=False, error=error.en, error_zh=error.zh)
        try:
            keys = self._unlock(data_dir)
        except ProxyAppError as exc:  # no passphrase yet, or a wrong one
            if exc.code != "passphrase" and exc.field != "passphrase":
                raise
            return SyncOutcome(ok=False, error=exc.en, error_zh=exc.zh, needs_passphrase=True)
        kwargs: dict[str, Any] = {}
        if keys is not None:
            kwargs["keys"] = keys
        if self.hub_url:
            kwargs["hub_url"] = self.hub_url
        if progress is not None and _accepts(sync_once, "progress"):
            kwargs["progress"] = progress
        with Station.open(data_dir, now=self.now) as station:
            report = sync_once(station, **kwargs)
        issues = list(_field(report, "errors", default=[]) or [])
        error_en = _field(report, "error")
        error_zh = None
        if error_en is None and issues:
            error_en, error_zh = _field(issues[0], "en", default=str(issues[0])), _field(issues[0], "zh")
        refused = tuple(_field(report, "refused", default=()) or ())
        self.last_refused = refused
        return SyncOutcome(
            ok=error_en is None, pushed=int(_field(report, "pushed", default=0) or 0),
            acknowledged=int(_field(report, "acknowledged", default=0) or 0),
            pulled=int(_field(report, "pulled", default=0) or 0),
            in_step=bool(_field(report, "in_step", default=True)),
            error=None if error_en is None else str(error_en), error_zh=error_zh,
            fatal=bool(_field(report, "fatal", default=False)), refused=refused,
        )

    def status(self, data_dir: Path) -> SyncStatus:
        """``station.syncstate.sync_status(station)`` when the engine has it, else the station's own tables."""
        if not (Path(data_dir) / DB_FILE).exists():
            return SyncStatus(available=self.available, enrolled=False, online=False, sets_waiting=0,
                              changes_waiting=0, last_success=None)
        engine = _function("station.syncstate", "sync_status") or _function("station.client", "sync_status", "status")
        with Station.open(data_dir, now=self.now) as station:
            base = local_status(station, available=self.available)
            if engine is None:
                return base
            report = engine(station)
        offset_ms = _field(report, "clock_offset_ms")  # hub clock minus ours
        skew = -offset_ms / 1000 if offset_ms is not None else base.clock_skew_seconds
        last = _field(report, "last_success", default=base.last_success)
        return SyncStatus(
            available=base.available, enrolled=bool(_field(report, "enrolled", default=base.enrolled)),
            online=last is not None and _field(report, "last_error") is None,
            sets_waiting=int(_field(report, "unacknowledged", "sets_waiting", default=base.sets_waiting)),
            changes_waiting=int(_field(report, "unsealed", "changes_waiting", default=base.changes_waiting)),
            last_success=last, clock_skew_seconds=skew,
            needs_admin=bool(_field(report, "fork") or _field(report, "revoked")),
            refused=int(_field(report, "refused_cases", default=0) or 0),
        )

    # -- USB and enrolment ------------------------------------------------------------------

    def export(self, data_dir: Path, path: Path) -> TransferOutcome:
        """Write the sets waiting for the hub to a file: ``station.transfer.export_file(station, path, keys)``."""
        export_file = _function("station.transfer", "export_file")
        if export_file is None:
            raise SyncNotAvailable("USB export", "U盘导出")
        keys = self._unlock(data_dir)
        with Station.open(data_dir, now=self.now) as station:
            result = export_file(station, Path(path), **({"keys": keys} if keys is not None else {}))
        return TransferOutcome(Path(_field(result, "path", default=path)), _count(result, "sets"))

    def import_(self, data_dir: Path, path: Path) -> TransferOutcome:
        """Apply a file from the hub: ``station.transfer.import_file(station, path, keys)``."""
        import_file = _function("station.transfer", "import_file")
        if import_file is None:
            raise SyncNotAvailable("USB import", "U盘导入")
        keys = self._unlock(data_dir)
        with Station.open(data_dir, now=self.now) as station:
            result = import_file(station, Path(path), **({"keys": keys} if keys is not None else {}))
        return TransferOutcome(Path(_field(result, "path", default=path)), _count(result, "applied", "sets"))

    def enroll(self, data_dir: Path, hub_url: str, code: str, passphrase: str | None = None,
               agent_name: str = "") -> EnrollOutcome:
        """Enrol: ``station.enrolment.enroll(data_dir, hub_url=, code=, passphrase=, agent_name=, now=)``."""
        enroll = _function("station.enrolment", "enroll") or _function("station.client", "enroll")
        if enroll is None:
            raise SyncNotAvailable("enrolment", "登记")
        kwargs: dict[str, Any] = {"hub_url": hub_url, "code": code}
        for name, value in (("passphrase", passphrase), ("agent_name", agent_name), ("now", self.now)):
            if value and _accepts(enroll, name):
                kwargs[name] = value
        result = enroll(Path(data_dir), **kwargs)
        if passphrase:
            self.set_passphrase(passphrase)  # the agent just typed it: the first sync need not ask again
        return EnrollOutcome(
            fingerprint=str(_field(result, "hub_fingerprint", "fingerprint", default="")),
            station_id=str(_field(result, "station_id", default="")),
            village=str(_field(result, "village_code", "village", default="")),
        )


def _count(result: Any, *names: str) -> int | None:
    value = _field(result, *names)
    if isinstance(value, (list, tuple)):
        return len(value)
    return value if isinstance(value, int) else None
