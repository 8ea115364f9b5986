"""The sync status line at the bottom of every screen: online/offline, refused cases, waiting sets, last sync, clock."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from station.syncstate import SyncStatus
from sync.timeutil import format_local, parse_iso
from tui.i18n import t

__all__ = ("StatusBar", "SyncView", "status_line", "status_parts")


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
    """Always visible; words and colour together, so it reads without colour too. One line, or two
    when a narrow screen cannot hold every part: it wraps between parts, so none is cut off."""

    DEFAULT_CSS = """
    StatusBar {
        height: auto;
        max-height: 3;
        background: $panel;
        color: $foreground;
    }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "sync_view", self._changed)
        self.watch(self.app, "lang", self._changed)

    def on_resize(self) -> None:
        self._changed()

    def _changed(self, _value: object = None) -> None:
        width = self.size.width or self.app.size.width
        self.update(_wrapped(status_parts(self._view(), self._lang()), width))

    def _view(self) -> SyncView:
        return getattr(self.app, "sync_view", SyncView())

    def _lang(self) -> str:
        return getattr(self.app, "lang", "zh")

    def line(self) -> Text:
        """The status as styled text on one line (also what tests read)."""
        return status_line(self._view(), self._lang())


def _online_this_session(status: SyncStatus | None, started: str | None) -> bool:
    """The stored status says online, from a contact made in this session. After a restart with
    the hub down, the last session's success must not read [在线] before a sync was even tried."""
    if status is None or not status.online or status.last_success is None:
        return False
    return started is None or parse_iso(status.last_success) >= parse_iso(started)


def _wrapped(parts: list[tuple[str, Text]], width: int) -> Text:
    """The parts on as few lines of ``width`` cells as they fit, each part whole."""
    text = Text(no_wrap=True, overflow="crop")
    used = 0
    for separator, part in parts:
        if used and used + len(separator) + part.cell_len > width:
            text.append("\n")
            used = 0
            separator = ""  # a new line starts with the part itself
        text.append(separator)
        text.append_text(part)
        used += len(separator) + part.cell_len
    return text


def _size(size: int) -> str:
    return f"{size / 1024 / 1024:.1f}MB" if size >= 100 * 1024 else f"{max(1, round(size / 1024))}KB"


def status_line(view: SyncView, lang: str) -> Text:
    """Words and colour for a sync view: ``[离线] 待上报 0批/3条 | 从未同步``."""
    text = Text(no_wrap=True, overflow="crop")
    for separator, part in status_parts(view, lang):
        text.append(separator)
        text.append_text(part)
    return text


def status_parts(view: SyncView, lang: str) -> list[tuple[str, Text]]:
    """The status line's parts in order, each with the separator shown before it."""
    status = view.status
    parts: list[tuple[str, Text]] = []

    def add(separator: str, words: str, style: str = "") -> None:
        parts.append((separator, Text(words, style=style)))

    online = view.online if view.online is not None else _online_this_session(status, view.started)
    if view.running:
        add("", t("status.syncing", lang), "bold black on yellow")
    elif status is not None and not view.available:
        add("", t("status.unavailable", lang), "bold white on red")
    elif online:
        add("", t("status.online", lang), "bold black on green")
    else:
        add("", t("status.offline", lang), "bold white on red")
    if status is None:
        return parts
    if not status.enrolled:
        add(" ", t("status.not_enrolled", lang))
    if status.needs_admin:
        add(" ", t("status.admin", lang), "bold white on red")
    if status.refused_cases:
        # Before the counts: the county holds none of these cases.
        add(" ", t("status.refused", lang, count=status.refused_cases), "bold white on red")
    add(" ", t("status.waiting", lang, sets=status.unacknowledged, changes=status.unsealed))
    if status.scans_pages:
        # Scans apart from the records: they go after them, and never hold one up (station.link.scans).
        done = (
            100
            if not status.scans_total
            else int(100 * (status.scans_total - status.scans_waiting) / status.scans_total)
        )
        add(" ", t("status.scans", lang, size=_size(status.scans_waiting), percent=done))
    if status.last_success:
        add(" | ", t("status.last", lang, when=format_local(status.last_success)))
    else:
        add(" | ", t("status.never", lang))
    if view.locked:
        add(" | ", t("status.locked", lang), "bold")
    if status.clock_warning:
        minutes = round(abs(status.clock_skew_seconds or 0) / 60)
        add(" ", t("status.clock", lang, minutes=minutes), "bold black on yellow")
    return parts
