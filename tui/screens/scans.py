"""A case's scanned pages: new files of the scan inbox assigned to its materials, reordered, dropped, previewed.

The document camera's software saves into the inbox (station.scans.inbox); each settled file is made
into pages in a worker thread (station.scans.normalise) and listed, page by page, under 收件夹新页面. The
agent gives each page a material (the digit keys, or M for the next one), puts pages in order, drops
the ones that are not wanted, looks at one (V here, O in the system's viewer), and saves (Ctrl+S):
the pages of each material are attached in the order listed (station.scans.store.attach_pages), each
normalised again from its file in the material's colour (a photo keeps colour, a form becomes grey),
and the files wholly dealt with leave the inbox (wiped, or kept when the agent pressed K). Pages
already attached are listed under 已附加 and can be reordered, dropped and looked at as well.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable
from pathlib import Path

from rich.text import Text
from textual import events, on, work
from textual.binding import Binding
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import DataTable, Static

from station.fsutil import atomic_write, private_folder
from station.scans.inbox import REFUSED_FOLDER, Inbox, InboxFile
from station.scans.normalise import NormalisedPage, ScanError, normalise_file, wants_colour
from station.scans.store import AttachmentRow, attach_pages, case_materials, drop_page, list_attachments, reorder_pages
from station.scans.store import page_bytes as stored_page_bytes
from sync.errors import ProxyAppError
from sync.timeutil import format_local, iso_utc
from tui.fmt import plain
from tui.i18n import t
from tui.receipt import PRINT_DIR, open_file
from tui.screens.base import StationModal, StationScreen, error_text
from tui.widgets.fit_table import FitColumn, FitTable
from tui.widgets.page_preview import PagePreview

__all__ = ("PendingPage", "PreviewScreen", "ScanScreen", "inbox_waiting")

POLL_SECONDS = 2.0
"""How often the inbox is looked at while the screen is shown."""


def inbox_waiting(data_dir: Path) -> tuple[int, int]:
    """(files ready, files still being written) in the station's scan inbox, for a line on other screens."""
    try:
        files = Inbox.for_station(data_dir).poll()
    except ProxyAppError:
        return (0, 0)
    ready = sum(1 for f in files if f.stable)
    return ready, len(files) - ready


@dataclasses.dataclass(eq=False)
class PendingPage:
    """One page of an inbox file, waiting for a material (``material`` None: not assigned yet)."""

    file: InboxFile
    index: int
    """1-based place in its file."""
    count: int
    page: NormalisedPage
    material: str | None = None


class ScanScreen(StationScreen):
    """The scanned pages of one case (opened with S from case detail, or after saving a new case)."""

    TITLE_KEY = "title.scans"
    BINDINGS = [
        Binding("m", "assign", "Material"),
        Binding("shift+up,left_square_bracket", "move_up", "Move up"),
        Binding("shift+down,right_square_bracket", "move_down", "Move down"),
        Binding("x,delete", "drop", "Drop"),
        Binding("v", "preview", "Preview"),
        Binding("o", "open_page", "Open in viewer"),
        Binding("k", "keep_originals", "Keep originals"),
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("escape", "back", "Back"),
    ]
    DEFAULT_CSS = """
    ScanScreen #scan_body { height: 1fr; padding: 0 1; }
    ScanScreen #scan_head, ScanScreen #scan_legend, ScanScreen #scan_note { height: auto; }
    ScanScreen .scan-label { text-style: bold; height: 1; }
    ScanScreen #pending { height: 1fr; min-height: 3; }
    ScanScreen #attached { height: 1fr; min-height: 3; }
    ScanScreen #scan_note.error { color: $error; text-style: bold; }
    """

    def __init__(self, case_no: str) -> None:
        super().__init__()
        self.case_no = case_no
        self.materials: list[str] = []
        self.pending: list[PendingPage] = []
        self.attached: list[AttachmentRow] = []
        self.keep_originals = False
        self.writing = 0
        self.notes: list[str] = []
        self._known: set[tuple[Path, int, float]] = set()
        self._loading = False
        self._saving = False
        self._dropped: set[Path] = set()
        """Files at least one page of which the agent dropped (wiped at save once none of theirs is left)."""
        self.inbox: Inbox

    # -- layout -----------------------------------------------------------------------------

    def compose_body(self) -> Iterable[Widget]:
        with Vertical(id="scan_body"):
            yield Static("", id="scan_head", markup=False)
            yield Static("", id="scan_legend", markup=False)
            yield Static("", id="pending_label", classes="scan-label", markup=False)
            yield FitTable(id="pending")
            yield Static("", id="scan_note", markup=False)
            yield Static("", id="attached_label", classes="scan-label", markup=False)
            yield FitTable(id="attached")

    def on_mount(self) -> None:
        super().on_mount()
        self.inbox = Inbox.for_station(self.station_app.data_dir)
        try:
            self.materials = case_materials(self.station, self.case_no)
        except ProxyAppError as exc:
            self.notify(error_text(exc, self.lang), severity="error", markup=False)
        self.refresh_data()
        self.query_one("#pending", FitTable).focus()
        self.poll_inbox()
        self.set_interval(POLL_SECONDS, self.poll_inbox)

    def relabel(self) -> None:
        self.refresh_data()

    def on_screen_resume(self) -> None:
        self.refresh_data()

    def refresh_data(self) -> None:
        """Re-read the attached pages and redraw everything."""
        try:
            self.attached = list_attachments(self.station, self.case_no)
        except ProxyAppError as exc:
            self.notify(error_text(exc, self.lang), severity="error", markup=False)
            self.attached = []
        self._draw()

    def _draw(self) -> None:
        lang = self.lang
        head = t("scans.case", lang, case=self.case_no)
        if self.keep_originals:
            head += "  " + t("scans.keeping", lang)
        self.query_one("#scan_head", Static).update(head)
        legend = "  ".join(f"{i} {plain(name)}" for i, name in enumerate(self.materials[:9], 1))
        self.query_one("#scan_legend", Static).update(t("scans.legend", lang, materials=legend or "-"))
        self.query_one("#pending_label", Static).update(t("scans.pending", lang, count=len(self.pending)))
        self.query_one("#attached_label", Static).update(t("scans.attached", lang, count=len(self.attached)))
        self._draw_pending()
        self._draw_attached()
        self._draw_note()

    def _draw_pending(self) -> None:
        lang = self.lang
        columns = [
            FitColumn("n", "#"),
            FitColumn("file", t("scans.col.file", lang), 8),
            FitColumn("page", t("scans.col.page", lang)),
            FitColumn("arrived", t("scans.col.arrived", lang)),
            FitColumn("kb", "KB"),
            FitColumn("material", t("scans.col.material", lang), 8),
        ]
        rows = []
        for number, item in enumerate(self.pending, 1):
            material = Text(plain(item.material)) if item.material else Text(t("scans.unassigned", lang), style="dim")
            rows.append(
                (
                    str(id(item)),
                    [
                        Text(str(number)),
                        Text(plain(item.file.name)),
                        Text(f"{item.index}/{item.count}"),
                        Text(format_local(iso_utc(item.file.arrived))[5:]),  # MM-DD HH:MM, China time
                        Text(f"{len(item.page.data) / 1024:.0f}"),
                        material,
                    ],
                )
            )
        self.query_one("#pending", FitTable).show(columns, rows)

    def _draw_attached(self) -> None:
        lang = self.lang
        columns = [
            FitColumn("material", t("scans.col.material", lang), 8),
            FitColumn("page", t("scans.col.page", lang)),
            FitColumn("kb", "KB"),
            FitColumn("hub", t("scans.col.hub", lang)),
        ]
        rows = []
        for row in self.attached:
            if row.refused is not None:  # kept here, never sent (the county will not take it)
                hub = t("scans.hub.refused", lang)
            elif row.acked:
                hub = t("scans.hub.held", lang)
            elif row.hub_held:
                hub = t("scans.hub.part", lang, percent=100 * row.hub_held // max(row.size, 1))
            else:
                hub = t("scans.hub.waiting", lang)
            rows.append(
                (
                    row.attachment_id,
                    [Text(plain(row.material)), Text(str(row.page)), Text(f"{row.size / 1024:.0f}"), Text(hub)],
                )
            )
        self.query_one("#attached", FitTable).show(columns, rows)

    def _draw_note(self) -> None:
        lang = self.lang
        lines = list(self.notes[-3:])
        if self.writing:
            lines.append(t("scans.writing", lang, count=self.writing))
        if not self.pending and not self.writing:
            lines.append(t("scans.empty", lang, folder=self.inbox.folder))
        note = self.query_one("#scan_note", Static)
        note.update("\n".join(lines))
        note.set_class(bool(self.notes), "error")

    # -- the inbox --------------------------------------------------------------------------

    def poll_inbox(self) -> None:
        """Look at the inbox; make the new settled files into pages in a worker (one batch at a time)."""
        if self._loading or self._saving:
            return
        try:
            files = self.inbox.poll()
        except ProxyAppError as exc:
            self._say(error_text(exc, self.lang))
            return
        listed = {item.file.path for item in self.pending}
        fresh = [f for f in files if f.stable and f.path not in listed and _key(f) not in self._known]
        writing = sum(1 for f in files if not f.stable)
        if writing != self.writing:
            self.writing = writing
            self._draw_note()
        if fresh:
            self._loading = True
            self._known.update(_key(f) for f in fresh)
            self.load_files(fresh)

    @work(thread=True, exclusive=True, group="scan_load", exit_on_error=False)
    def load_files(self, files: list[InboxFile]) -> None:
        """Normalise each file (off the UI thread: a PDF of several pages takes seconds)."""
        results: list[tuple[InboxFile, list[NormalisedPage] | ScanError]] = []
        for file in files:
            try:
                results.append((file, normalise_file(file.path)))
            except ScanError as exc:
                results.append((file, exc))
        self.app.call_from_thread(self._loaded, results)

    def _loaded(self, results: list[tuple[InboxFile, list[NormalisedPage] | ScanError]]) -> None:
        self._loading = False
        for file, made in results:
            if isinstance(made, ScanError):
                try:
                    self.inbox.refuse(file)
                except OSError:
                    pass  # gone or locked by the camera's software: it is listed again next time
                self._say(t("scans.refused", self.lang, folder=REFUSED_FOLDER, error=made.message(self.lang)))
                continue
            for index, page in enumerate(made, 1):
                self.pending.append(PendingPage(file, index, len(made), page))
        self._draw()

    def _say(self, text: str) -> None:
        self.notes.append(text)
        self._draw_note()

    # -- which row ---------------------------------------------------------------------------

    def _focused_table(self) -> str:
        focused = self.focused
        return focused.id if isinstance(focused, FitTable) and focused.id in ("pending", "attached") else "pending"

    def _cursor(self, table_id: str) -> int | None:
        table = self.query_one(f"#{table_id}", FitTable)
        size = len(self.pending) if table_id == "pending" else len(self.attached)
        return table.cursor_row if size and 0 <= table.cursor_row < size else None

    def _set_cursor(self, table_id: str, row: int) -> None:
        self.query_one(f"#{table_id}", FitTable).move_cursor(row=row)

    # -- assigning ----------------------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        # 1-9 give the page under the cursor the material of that number, 0 takes it back.
        digit = event.character if event.character and len(event.character) == 1 else ""
        if digit.isdigit() and digit.isascii() and self._focused_table() == "pending":
            event.stop()
            self._assign(None if digit == "0" else int(digit) - 1)

    def action_assign(self) -> None:
        """M: the next material for the page (after the last one: none)."""
        row = self._cursor("pending")
        if row is None or not self.materials:
            return
        current = self.pending[row].material
        index = self.materials.index(current) + 1 if current in self.materials else 0
        self._assign(index if index < len(self.materials) else None)

    def _assign(self, index: int | None) -> None:
        row = self._cursor("pending")
        if row is None:
            return
        if index is not None and index >= len(self.materials):
            self.notify(t("scans.no_material", self.lang, number=index + 1), severity="warning", markup=False)
            return
        self.pending[row].material = None if index is None else self.materials[index]
        self._draw_pending()
        # On to the next page: a file's pages are usually all of one material, assigned key after key.
        self._set_cursor("pending", min(row + 1, len(self.pending) - 1))

    # -- order, drop ----------------------------------------------------------------------------

    def action_move_up(self) -> None:
        self._move(-1)

    def action_move_down(self) -> None:
        self._move(1)

    def _move(self, step: int) -> None:
        table_id = self._focused_table()
        row = self._cursor(table_id)
        if row is None:
            return
        if table_id == "pending":
            other = row + step
            if 0 <= other < len(self.pending):
                self.pending[row], self.pending[other] = self.pending[other], self.pending[row]
                self._draw_pending()
                self._set_cursor("pending", other)
            return
        # An attached page moves among its material's pages only.
        moving = self.attached[row]
        same = [r for r in self.attached if r.material == moving.material]
        place = same.index(moving)
        if not 0 <= place + step < len(same):
            return
        same[place], same[place + step] = same[place + step], same[place]
        try:
            reorder_pages(self.station, self.case_no, moving.material, [r.attachment_id for r in same])
        except ProxyAppError as exc:
            self.notify(error_text(exc, self.lang), severity="error", markup=False)
            return
        self.refresh_data()
        self._set_cursor("attached", row + step)

    def action_drop(self) -> None:
        table_id = self._focused_table()
        row = self._cursor(table_id)
        if row is None:
            return
        if table_id == "pending":
            dropped = self.pending.pop(row)
            self._dropped.add(dropped.file.path)
            self._draw_pending()
            self.query_one("#pending_label", Static).update(t("scans.pending", self.lang, count=len(self.pending)))
            if self.pending:
                self._set_cursor("pending", min(row, len(self.pending) - 1))
            return
        try:
            drop_page(self.station, self.case_no, self.attached[row].attachment_id)
        except ProxyAppError as exc:
            self.notify(error_text(exc, self.lang), severity="error", markup=False)
            return
        self.notify(t("scans.dropped", self.lang), markup=False)
        self.refresh_data()

    def action_keep_originals(self) -> None:
        self.keep_originals = not self.keep_originals
        self.notify(t("scans.keep_on" if self.keep_originals else "scans.keep_off", self.lang), markup=False)
        self._draw()

    # -- looking at a page ----------------------------------------------------------------------

    def _page_data(self) -> tuple[bytes, str] | None:
        table_id = self._focused_table()
        row = self._cursor(table_id)
        if row is None:
            return None
        if table_id == "pending":
            page = self.pending[row].page
            return page.data, page.format
        found = self.attached[row]
        data = stored_page_bytes(self.station, found.sha256)
        if data is None:
            self.notify(t("scans.no_bytes", self.lang), severity="warning", markup=False)
            return None
        return data, found.format

    def action_preview(self) -> None:
        found = self._page_data()
        if found is not None:
            self.app.push_screen(PreviewScreen(found[0]))

    def action_open_page(self) -> None:
        """O: a copy of the page in the print folder (wiped at the next start), handed to the system's viewer."""
        found = self._page_data()
        if found is None:
            return
        data, fmt = found
        folder = self.station_app.data_dir / PRINT_DIR
        try:
            private_folder(folder)
            path = folder / f"scan-{hashlib.sha256(data).hexdigest()[:12]}.{fmt}"
            atomic_write(path, data)
        except OSError as exc:
            self.notify(str(exc.strerror or exc), severity="error", markup=False)
            return
        self.notify(t("done.opening", self.lang), markup=False)
        self.open_in_viewer(path)

    @work(thread=True, exclusive=True, group="open_page", exit_on_error=False)
    def open_in_viewer(self, path: Path) -> None:
        try:
            open_file(path)
        except ProxyAppError as exc:
            self.app.call_from_thread(self.notify, error_text(exc, self.lang), severity="error", markup=False)

    # -- saving -----------------------------------------------------------------------------------

    def action_save(self) -> None:
        """Ctrl+S: attach the assigned pages, each material's in the order listed; clear the inbox of done files."""
        chosen = [item for item in self.pending if item.material]
        if not chosen and not self._dropped:
            self.notify(t("scans.nothing", self.lang), severity="warning", markup=False)
            return
        if self._saving:
            return
        self._saving = True
        self.notify(t("scans.saving", self.lang), markup=False)
        self.renormalise(chosen)

    @work(thread=True, exclusive=True, group="scan_save", exit_on_error=False)
    def renormalise(self, chosen: list[PendingPage]) -> None:
        """Each chosen page again from its file, in its material's colour (a photo in colour, a form in grey)."""
        made: dict[tuple[Path, bool], list[NormalisedPage] | ScanError] = {}
        for item in chosen:
            key = (item.file.path, wants_colour(item.material or ""))
            if key not in made:
                try:
                    made[key] = normalise_file(item.file.path, colour=key[1])
                except ScanError as exc:
                    made[key] = exc
        self.app.call_from_thread(self._store_chosen, chosen, made)

    def _store_chosen(
        self, chosen: list[PendingPage], made: dict[tuple[Path, bool], list[NormalisedPage] | ScanError]
    ) -> None:
        self._saving = False
        by_material: dict[str, list[NormalisedPage]] = {}
        for item in chosen:
            pages = made[(item.file.path, wants_colour(item.material or ""))]
            if isinstance(pages, ScanError):  # the file changed or went since it was listed
                self._say(pages.message(self.lang))
                return
            by_material.setdefault(item.material or "", []).append(pages[item.index - 1])
        try:
            for material, pages in by_material.items():
                attach_pages(self.station, self.case_no, material, pages)
        except ProxyAppError as exc:
            self._say(error_text(exc, self.lang))
            self.refresh_data()
            return
        stored = set(chosen)
        self.pending = [item for item in self.pending if item not in stored]
        self._finish_files({item.file.path: item.file for item in chosen})
        count = sum(len(p) for p in by_material.values())
        self.notify(t("scans.saved", self.lang, pages=count, case=self.case_no), markup=False)
        self.refresh_data()

    def _finish_files(self, touched: dict[Path, InboxFile]) -> None:
        """Files none of whose pages are still listed leave the inbox: wiped, or kept when K was pressed."""
        left = {item.file.path for item in self.pending}
        finished = (set(touched) | self._dropped) - left
        self._dropped -= finished
        for path in finished:
            if not path.exists():
                continue
            try:
                if path in touched:
                    self.inbox.done(touched[path], keep=self.keep_originals)
                else:  # every page of it dropped
                    self.inbox.discard(path)
            except OSError as exc:
                self._say(str(exc.strerror or exc))

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(DataTable.RowSelected, "#pending")
    def _row_chosen(self) -> None:
        self.action_preview()


def _key(file: InboxFile) -> tuple[Path, int, float]:
    return (file.path, file.size, file.arrived.timestamp())


class PreviewScreen(StationModal):
    """One page drawn in the terminal, as large as the screen allows; Esc, Enter or V closes it."""

    BINDINGS = [Binding("escape,enter,v", "close", "Close")]
    DEFAULT_CSS = """
    PreviewScreen > #dialog { width: 100%; height: 100%; padding: 0; }
    PreviewScreen #preview_hint { height: 1; }
    """

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.data = data

    def compose(self) -> Iterable[Widget]:
        with Vertical(id="dialog"):
            yield Static(t("scans.preview_hint", self.lang), id="preview_hint", markup=False)
            yield PagePreview(self.data, id="preview")

    def action_close(self) -> None:
        self.dismiss(None)
