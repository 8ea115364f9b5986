"""The one door from the TUI to the station's sync engine: the :class:`StationLink` protocol and its real side.

:class:`SyncAdapter` calls station.client, station.syncstate, station.transfer, station.enrolment and
station.identity directly; tests pass a double that implements the same protocol to
:class:`tui.app.StationApp` instead. The engine's calls that need the station key get it unwrapped
here (``keys=``): left to itself the engine would ask for the passphrase with ``getpass``, which
cannot work under a full-screen terminal UI.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import msgspec

from station.enrolment import enroll
from station.identity import has_keypair, load_keypair
from station.link import SyncReport, sync_once
from station.store import DB_FILE, Station
from station.syncstate import (
    Refusal,
    SyncStatus,
    blank_status,
    stamp_lead_ms,
    sync_status,
)
from station.transfer import export_file, import_file
from sync.crypto import KeyPair
from sync.errors import ProxyAppError
from sync.timeutil import utc_now

__all__ = (
    "CLOCK_WARN_SECONDS",
    "PASSPHRASE_ENV",
    "EnrollOutcome",
    "PassphraseNeeded",
    "StationLink",
    "SyncAdapter",
    "SyncOutcome",
    "SyncStatus",
    "TransferOutcome",
)

CLOCK_WARN_SECONDS = 300
"""A clock more than five minutes off is worth telling the agent about (due dates, stamps)."""
PASSPHRASE_ENV = "STATION_PASSPHRASE"

Progress = Callable[[str], None]


class PassphraseNeeded(ProxyAppError):
    """The station key is locked: the agent must type the station passphrase once per session."""

    code = "passphrase"

    def __init__(self) -> None:
        super().__init__(
            zh="同步前请输入本站密钥口令",
            en="enter the station passphrase to sync",
            field="passphrase",
            code="passphrase",
        )


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
    refused: tuple[Refusal, ...] = ()
    """The county's refusals of this station's changes that came down in this round
    (station.syncstate.Refusal: case number, code, the county's reason in both languages)."""

    def message(self, lang: str) -> str:
        return (self.error_zh if lang != "en" and self.error_zh else self.error) or "-"


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


class StationLink(Protocol):
    """What the TUI asks of the station's sync side; :class:`SyncAdapter` is the real one, tests hold a double.

    Every method may be called from a worker thread and opens its own Station there.
    """

    available: bool
    """Sync is in this build (the real link: always; a double may say otherwise)."""
    last_refused: Sequence[Refusal]
    """The refusals the last sync round brought (for the sync screen)."""

    def status(self, data_dir: Path) -> SyncStatus: ...

    def sync_now(self, data_dir: Path, progress: Progress | None = None) -> SyncOutcome: ...

    def export(self, data_dir: Path, path: Path) -> TransferOutcome: ...

    def import_(self, data_dir: Path, path: Path) -> TransferOutcome: ...

    def enroll(
        self, data_dir: Path, hub_url: str, code: str, passphrase: str | None = None, agent_name: str = ""
    ) -> EnrollOutcome: ...

    def needs_passphrase(self, data_dir: Path) -> bool: ...

    def set_passphrase(self, text: str) -> None: ...

    def has_station_key(self, data_dir: Path) -> bool: ...

    def check_passphrase(self, data_dir: Path, text: str) -> bool: ...


def _stamp_clock(station: Station, status: SyncStatus, *, now: dt.datetime | None = None) -> SyncStatus:
    """``status`` with the clock judged by this station's own stamps when the hub's clock is not known.

    A clock set back runs behind the newest stamp this station has written; that lead stands in
    for the hub's offset (``clock_offset_ms``: hub minus ours) on the status bar only.
    """
    if status.clock_offset_ms is not None:
        return status
    lead = stamp_lead_ms(station, now)
    if lead is None or lead <= CLOCK_WARN_SECONDS * 1000:
        return status
    return msgspec.structs.replace(status, clock_offset_ms=round(lead), clock_warning=True)


class SyncAdapter:
    """The real :class:`StationLink`: calls the sync engine, each call with its own Station.

    Args:
        hub_url: a hub address that overrides the one stored at enrolment (``--hub``).
        now: the clock the opened stations use (tests pass a fixed one).
    """

    available = True

    def __init__(self, hub_url: str | None = None, now: Callable[[], dt.datetime] = utc_now) -> None:
        self.hub_url = hub_url
        self.now = now
        self._keys: KeyPair | None = None
        self._passphrase: str | None = None
        self.last_refused: Sequence[Refusal] = ()

    # -- the station key --------------------------------------------------------------------

    def needs_passphrase(self, data_dir: Path) -> bool:
        """True when sync would need the passphrase and the agent has not typed it this session."""
        if self._keys is not None or self._passphrase or os.environ.get(PASSPHRASE_ENV):
            return False
        return has_keypair(Path(data_dir))

    def set_passphrase(self, text: str) -> None:
        """Keep the passphrase until the next engine call unwraps the key with it (then it is dropped)."""
        self._passphrase = text
        self._keys = None

    def has_station_key(self, data_dir: Path) -> bool:
        """True when the station has a key (``station.key``), so it has a passphrase to check."""
        return has_keypair(Path(data_dir))

    def check_passphrase(self, data_dir: Path, text: str) -> bool:
        """True when ``text`` unwraps the station key, as sync would; for the idle lock.

        Nothing is kept: neither the passphrase nor the keys, so the lock changes nothing about
        sync. Slow on purpose (scrypt): call it from a worker thread. A damaged key file raises.
        """
        try:
            load_keypair(Path(data_dir), text)
        except ProxyAppError as exc:
            if exc.code != "passphrase" and exc.field != "passphrase":
                raise
            return False
        return True

    def _unlock(self, data_dir: Path) -> KeyPair | None:
        """The unwrapped key pair, or None when the station has none yet (not enrolled)."""
        if self._keys is not None:
            return self._keys
        if not has_keypair(Path(data_dir)):
            return None  # not enrolled: the engine says so itself, before it needs a key
        text = self._passphrase or os.environ.get(PASSPHRASE_ENV)
        if text is None:
            raise PassphraseNeeded()
        try:
            self._keys = load_keypair(Path(data_dir), text)
        finally:
            self._passphrase = None  # the unwrapped keys stay in memory, the passphrase does not
        return self._keys

    # -- sync -------------------------------------------------------------------------------

    def sync_now(self, data_dir: Path, progress: Progress | None = None) -> SyncOutcome:
        """One round: ``station.client.sync_once(station, keys=..., hub_url=...)`` (it reports no progress)."""
        try:
            keys = self._unlock(data_dir)
        except ProxyAppError as exc:  # no passphrase yet, or a wrong one
            if exc.code != "passphrase" and exc.field != "passphrase":
                raise
            return SyncOutcome(ok=False, error=exc.en, error_zh=exc.zh, needs_passphrase=True)
        with Station.open(data_dir, now=self.now) as station:
            try:
                report: SyncReport = sync_once(station, keys=keys, hub_url=self.hub_url or None)
            except ProxyAppError as exc:
                if exc.code != "stale_keys":
                    raise
                # The station's key was changed ('station rekey') after these keys were unlocked.
                self._keys = None
                return SyncOutcome(ok=False, error=exc.en, error_zh=exc.zh, needs_passphrase=True)
        first = report.errors[0] if report.errors else None
        refused = tuple(report.refused)
        self.last_refused = refused
        return SyncOutcome(
            ok=first is None,
            pushed=report.pushed,
            acknowledged=report.acknowledged,
            pulled=report.pulled,
            in_step=report.in_step,
            error=None if first is None else first.en,
            error_zh=None if first is None else first.zh,
            fatal=report.fatal,
            refused=refused,
        )

    def status(self, data_dir: Path) -> SyncStatus:
        """``station.syncstate.sync_status``, the clock judged by the station's stamps when the hub's is unknown."""
        if not (Path(data_dir) / DB_FILE).exists():
            return blank_status()
        with Station.open(data_dir, now=self.now) as station:
            return _stamp_clock(station, sync_status(station))

    # -- USB and enrolment ------------------------------------------------------------------

    def export(self, data_dir: Path, path: Path) -> TransferOutcome:
        """Write the sets waiting for the hub to a file: ``station.transfer.export_file(station, path, keys)``."""
        keys = self._unlock(data_dir)
        with Station.open(data_dir, now=self.now) as station:
            result = export_file(station, Path(path), keys)
        return TransferOutcome(Path(result.path), result.sets)

    def import_(self, data_dir: Path, path: Path) -> TransferOutcome:
        """Apply a file from the hub: ``station.transfer.import_file(station, path, keys)``."""
        keys = self._unlock(data_dir)
        with Station.open(data_dir, now=self.now) as station:
            result = import_file(station, Path(path), keys)
        return TransferOutcome(Path(result.path), result.applied)

    def enroll(
        self, data_dir: Path, hub_url: str, code: str, passphrase: str | None = None, agent_name: str = ""
    ) -> EnrollOutcome:
        """Enrol: ``station.enrolment.enroll(data_dir, hub_url=, code=, passphrase=, agent_name=, now=)``."""
        result = enroll(
            Path(data_dir),
            hub_url=hub_url,
            code=code,
            passphrase=passphrase or None,
            agent_name=agent_name,
            now=self.now,
        )
        if passphrase:
            self.set_passphrase(passphrase)  # the agent just typed it: the first sync need not ask again
        return EnrollOutcome(
            fingerprint=result.hub_fingerprint, station_id=result.station_id, village=result.village_code
        )
