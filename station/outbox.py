"""Moved to :mod:`station.store.outbox`; this name stays until tests/support/apply.py imports the new one."""

from station.store.outbox import ChangeRecorder, recording

__all__ = ("ChangeRecorder", "recording")
