"""The county hub: enrols stations, ingests their signed change sets, decides cases, serves signed feeds.

Depends only on :mod:`sync` (never on ``station``). Storage goes through :class:`hub.store.HubStore`,
the one interface a PostgreSQL backend would implement for province scale.
"""
