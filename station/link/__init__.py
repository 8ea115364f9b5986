"""The station's link to the hub: sync rounds and the watch loop, re-exported from the modules that hold them.

- :mod:`station.link.round`: one round (seal, then the exchange): ``sync_once``.
- :mod:`station.link.exchange`: up and down in one ``POST /api/v1/sync`` per batch.
- :mod:`station.link.session`: signed requests, retries and what every answer is checked for.
- :mod:`station.link.budget`: bytes per request, adapted to what the link carries.
- :mod:`station.link.loop`: ``watch``, rounds while the link comes and goes, with cheap probes.
- :mod:`station.link.report`: ``SyncReport`` and ``SyncIssue``, what a round tells its caller.
"""

from __future__ import annotations

from station.link.loop import watch
from station.link.report import SyncIssue, SyncReport
from station.link.round import sync_once

__all__ = ("SyncIssue", "SyncReport", "sync_once", "watch")
