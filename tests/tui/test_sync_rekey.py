"""The TUI after ``station rekey`` ran elsewhere: the keys it unlocked are stale, so it asks for the passphrase again."""

from __future__ import annotations

import sys

from station.errors import SyncError
from tui.sync_adapter import SyncAdapter


def test_keys_changed_elsewhere_are_unlocked_again(station_dir, clock, monkeypatch):
    unlocked: list[str] = []
    rounds: list[object] = []

    def load_keypair(data_dir, text):
        unlocked.append(text)
        return f"KEYS-{len(unlocked)}"

    def sync_once(station, *, keys=None, hub_url=None):
        rounds.append(keys)
        raise SyncError(
            zh="本站密钥已更换（station rekey），此处解开的是旧密钥：请重新输入口令解锁后再同步",
            en="this station's key was changed ('station rekey') after it was unlocked here: unlock it again, then sync",
            code="stale_keys",
        )

    link = sys.modules[SyncAdapter.__module__]
    monkeypatch.setattr(link, "has_keypair", lambda data_dir: True)
    monkeypatch.setattr(link, "load_keypair", load_keypair)
    monkeypatch.setattr(link, "sync_once", sync_once)
    monkeypatch.delenv("STATION_PASSPHRASE", raising=False)

    adapter = SyncAdapter(now=clock)
    adapter.set_passphrase("secret-8")
    outcome = adapter.sync_now(station_dir)
    assert outcome.needs_passphrase and not outcome.ok and "station rekey" in (outcome.error or "")
    assert rounds == ["KEYS-1"] and adapter.needs_passphrase(station_dir)  # the stale keys were dropped
