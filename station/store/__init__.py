"""The station's storage: the encrypted database (db), its migrations (schema), the data key, the outbox,
and the :class:`Station` facade that opens a data folder; ``from station.store import Station``."""

from station.store.facade import DB_FILE, PRIVATE_NAMES, PRIVATE_SUBFOLDERS, Station, default_data_dir

__all__ = ("DB_FILE", "PRIVATE_NAMES", "PRIVATE_SUBFOLDERS", "Station", "default_data_dir")
