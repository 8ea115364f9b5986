"""The daily digest inside ``hub serve``: a background thread that runs hub.notify.digest once a China date."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from hub.notify.base import NotifySettings, make_notifier
from hub.notify.digest import run_alerts
from hub.store import HubStore
from sync.errors import ProxyAppError
from sync.timeutil import CHINA_TZ, business_date

__all__ = ("DAILY_ENV", "daily_alerts", "lifespans", "run_if_due")

DAILY_ENV = "HUB_ALERTS_DAILY"
"""Set by ``hub serve`` (``--no-alerts`` leaves it unset): the app then sends the digest each day."""

LOG = logging.getLogger("hub.alerts")
_CHECK_EVERY_S = 300.0


def run_if_due(settings: NotifySettings, now: dt.datetime) -> bool:
    """Send today's digest if the configured China-time hour has passed and it has not gone out; True if sent."""
    if now.astimezone(CHINA_TZ).hour < settings.hour:
        return False
    with HubStore.open(settings.data_dir, migrate=False) as store:
        result = run_alerts(store, make_notifier(settings), business_date(now), now=now)
    if not result.already:
        LOG.info(
            "alert digests for %s: %d sent (%s), %d deemed consents",
            result.day,
            result.digests,
            result.backend,
            result.deemed,
        )
    return not result.already


@contextlib.asynccontextmanager
async def daily_alerts(app: Any, settings: NotifySettings, now: Callable[[], dt.datetime]) -> AsyncIterator[None]:
    """A Litestar lifespan: a daemon thread checks every few minutes and sends the day's digest once."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                run_if_due(settings, now())
            except (ProxyAppError, OSError) as exc:  # a mail server down must not stop the hub
                LOG.warning("alert digest not sent: %s", exc)
            stop.wait(_CHECK_EVERY_S)

    worker = threading.Thread(target=loop, name="hub-alerts", daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()


def lifespans(data_dir: Any, now: Callable[[], dt.datetime], environ: Mapping[str, str] | None = None) -> list[Any]:
    """The app's lifespan hooks: the daily digest when ``HUB_ALERTS_DAILY=1`` (``hub serve`` sets it), else none."""
    env = os.environ if environ is None else environ
    if env.get(DAILY_ENV, "").strip() != "1":
        return []
    settings = NotifySettings.from_env(data_dir, env)
    return [functools.partial(daily_alerts, settings=settings, now=now)]
