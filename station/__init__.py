"""The village station: local SQLite case book, intake rules applied, outbox for sync.

Depends on :mod:`sync` only (never on :mod:`hub`). The public entry point for programs is
:class:`station.store.Station`; for people and scripts, the ``station`` command
(:mod:`station.cli`).
"""
