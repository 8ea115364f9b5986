"""``GET /metrics``: Prometheus text from a per-app registry. Counts and states only, no personal data."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub.dashboard import STATES, Thresholds, station_rows
from hub.settings import Settings
from hub.store import HubStore

__all__ = ("CONTENT_TYPE", "HubMetrics", "MetricsMiddleware")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_COUNTERS = {
    "contacts": ("hub_contacts", "Station contacts (signed requests and imported files)", ("kind", "ok")),
    "sets": ("hub_sets_ingested", "Change sets accepted from stations", ("via",)),
    "changes": ("hub_changes_ingested", "Changes in the accepted sets", ("via",)),
    "rejected": ("hub_changes_rejected", "Changes kept but not applied (a rule refused them)", ("via",)),
    "forks": ("hub_forks_detected", "Forks detected (a set quarantined)", ()),
}


class _StoreCollector(Collector):
    """Figures read from the hub database at scrape time: the trigger-kept counters and station states."""

    def __init__(self, settings: Settings, now: Callable[[], dt.datetime]) -> None:
        self.settings, self.now = settings, now

    def collect(self) -> Iterator[Metric]:
        with HubStore.open(self.settings.data_dir, migrate=False) as store:
            counters = store.counters()
            rows = station_rows(store, now=self.now(), limits=Thresholds.from_settings(self.settings))
            open_forks = store.open_fork_count()
            statuses: dict[str, int] = {}
            for row in store.case_counts():
                statuses[row["status"]] = statuses.get(row["status"], 0) + row["n"]
        for key, (name, doc, labels) in _COUNTERS.items():
            family = CounterMetricFamily(name, doc, labels=list(labels))
            for counter, label, value in counters:
                if counter == key:
                    family.add_metric(label.split(",") if labels else [], value)
            yield family
        states = GaugeMetricFamily(
            "hub_stations", "Station-table rows by state (villages without a station: not_enrolled)", labels=["state"]
        )
        for state in STATES:
            states.add_metric([state], sum(1 for r in rows if r["state"] == state))
        yield states
        attention = GaugeMetricFamily("hub_stations_attention", "Enrolled stations needing attention")
        attention.add_metric([], sum(1 for r in rows if r["attention"]))
        yield attention
        forks = GaugeMetricFamily("hub_forks_open", "Forks not yet resolved")
        forks.add_metric([], open_forks)
        yield forks
        cases = GaugeMetricFamily("hub_cases", "Cases at the hub by status", labels=["status"])
        for status, n in sorted(statuses.items()):
            cases.add_metric([status], n)
        yield cases


class HubMetrics:
    """One registry per app (never the process-global one, so two apps in one process stay apart)."""

    def __init__(self, settings: Settings, now: Callable[[], dt.datetime]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.latency = Histogram(
            "hub_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        self.registry.register(_StoreCollector(settings, now))

    def render(self) -> bytes:
        """The exposition text (reads the database: call it off the event loop)."""
        return generate_latest(self.registry)


class MetricsMiddleware(ASGIMiddleware):
    """Times every HTTP request; labelled by route template, so station ids never become label values."""

    def __init__(self, metrics: HubMetrics) -> None:
        self.metrics = metrics

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Time the request; the status comes from the response start message."""
        if scope["type"] != ScopeType.HTTP:  # the enum member (a str), so mypy narrows the scope to HTTPScope
            await next_app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, watch)
        finally:
            route = scope.get("path_template") or "unmatched"
            self.metrics.latency.labels(scope["method"], route, str(status["code"])).observe(
                time.perf_counter() - started
            )
