"""The sync status line at the bottom of every screen: online/offline, refused cases, waiting sets, last sync, clock."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from station.syncstate import SyncStatus
from sync.timeutil import format_local, parse_iso
from tui.i18n import t

__all__ = ("StatusBar", "SyncView", "status_line")


@dataclass(frozen=True)
class SyncView:
    """What the app knows about sync right now (the app's ``sync_view`` reactive)."""

    status: SyncStatus | None = None
    available: bool = True
    """Sync is in this build (the link says so)."""
    running: bool = False
    online: bool | None = None
    """Outcome of the last attempt in this session; None before the first attempt."""
    started: str | None = None
    """When this session began (stored form, UTC): before its first attempt, only a contact made
    since then (by another program, say) shows as online; the last session's does not."""
    locked: bool = False
    """Sync needs the station passphrase, not yet typed this session."""


class StatusBar(Static):
    """One line, always visible; words and colour together, so it reads without colour too."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $foreground;
    }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "sync_view", self._changed)
        self.watch(self.app, "lang", self._changed)

    def _changed(self, _value: object = None) -> None:
        self.update(self.line())

    def line(self) -> Text:
        """The status as styled text (also what tests read)."""
        return status_line(getattr(self.app, "sync_view", SyncView()), getattr(self.app, "lang", "zh"))


def _online_this_session(status: SyncStatus | None, started: str | None) -> bool:
    """The stored status says online, from a contact made in this session. After a restart with
    the hub down, the last session's success must not read [在线] before a sync was even tried."""
    if status is None or not status.online or status.last_success is None:
        return False
    return started is None or parse_iso(status.last_success) >= parse_iso(started)


def status_line(view: SyncView, lang: str) -> Text:
    """Words and colour for a sync view: ``[离线] 待上报 0批/3条 | 从未同步``."""
    status = view.status
    text = Text(no_wrap=True, overflow="crop")
    online = view.online if view.online is not None else _online_this_session(status, view.started)
    if view.running:
        text.append(t("status.syncing", lang), style="bold black on yellow")
    elif status is not None and not view.available:
        text.append(t("status.unavailable", lang), style="bold white on red")
    elif online:
        text.append(t("status.online", lang), style="bold black on green")
    else:
        text.append(t("status.offline", lang), style="bold white on red")
    if status is None:
        return text
    if not status.enrolled:
        text.append(" " + t("status.not_enrolled", lang))
    if status.needs_admin:
        text.append(" ")
        text.append(t("status.admin", lang), style="bold white on red")
    if status.refused_cases:
        # Before the counts, so it is never cropped at 80 columns: the county holds none of these cases.
        text.append(" ")
        text.append(t("status.refused", lang, count=status.refused_cases), style="bold white on red")
    text.append(" " + t("status.waiting", lang, sets=status.unacknowledged, changes=status.unsealed))
    if status.last_success:
        text.append(" | " + t("status.last", lang, when=format_local(status.last_success)))
    else:
        text.append(" | " + t("status.never", lang))
    if view.locked:
        text.append(" | " + t("status.locked", lang), style="bold")
    if status.clock_warning:
        minutes = round(abs(status.clock_skew_seconds or 0) / 60)
        text.append(" ")
        text.append(t("status.clock", lang, minutes=minutes), style="bold black on yellow")
    return text
