"""Moved to :mod:`station.store.db`; this name stays until tests/support/apply.py imports the new one."""

from station.store.db import write_txn

__all__ = ("write_txn",)
