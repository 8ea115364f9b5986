"""The station's storage: the encrypted database (db), its migrations (schema), the data key, the outbox,
and the :class:`Station` facade that opens a data folder; ``from station.store import Station``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from station.store.facade import DB_FILE, PRIVATE_NAMES, PRIVATE_SUBFOLDERS, Station, default_data_dir

__all__ = ("DB_FILE", "PRIVATE_NAMES", "PRIVATE_SUBFOLDERS", "Station", "default_data_dir")


def __getattr__(name: str) -> Any:
    # The facade is imported on first use, not with the package: station.identity needs station.store.db
    # and station.store.meta, and the facade needs station.identity (PEP 562 keeps that from being a cycle).
    if name in __all__:
        from station.store import facade

        return getattr(facade, name)
    raise AttributeError(f"module 'station.store' has no attribute {name!r}")
