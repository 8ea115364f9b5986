"""Home, "today": what needs the agent now. Each line opens its case."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import DataTable, Static

from station.catalog_notice import catalog_notice
from sync.progress import ProgressAnswer
from tui.data import KINDS, TodayItem, short_number, today_items
from tui.fmt import cell, due_text
from tui.i18n import t
from tui.screens.base import StationScreen
from tui.screens.case_actions import ActionDialog
from tui.screens.dialogs import ConfirmScreen
from tui.screens.ratings import ledger_form, progress_form, progress_text
from tui.widgets.fit_table import FitColumn, FitTable

__all__ = ("HomeScreen",)


class HomeScreen(StationScreen):
    """Today's work in one table, most urgent first."""

    TITLE_KEY = "title.home"
    BINDINGS = [
        Binding("enter", "open_case", "Open", show=False),
        Binding("r", "refresh", "Refresh"),
        Binding("q", "query", "Progress query"),
        Binding("t", "ledger", "Ledger"),
    ]
    DEFAULT_CSS = """
    HomeScreen #summary { height: 1; padding: 0 1; text-style: bold; }
    HomeScreen #catalog-notice { height: 1; padding: 0 1; }
    HomeScreen #today { height: 1fr; }
    HomeScreen #empty { padding: 1 2; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.items: list[TodayItem] = []

    def compose_body(self) -> Iterable[Widget]:
        yield Static(id="summary")
        notice = Static(id="catalog-notice")
        notice.display = False  # shown only while there is a new catalogue to tell of
        yield notice
        yield FitTable(id="today")
        yield Static(id="empty", markup=False)

    def on_screen_resume(self) -> None:
        # Also sent when the screen is first shown: filling the table twice before its first
        # idle leaves stale column widths (textual 8.2.8), so this is the one first fill.
        self.refresh_data()

    def relabel(self) -> None:
        self.refresh_data()

    def refresh_data(self) -> None:
        if self.station_app.station is None:
            return
        self.items = today_items(self.station)
        counts = Counter(item.kind for item in self.items)
        self.query_one("#summary", Static).update(
            Text(
                t("home.summary", self.lang, **{kind: counts.get(kind, 0) for kind in KINDS}),
                no_wrap=True,
                overflow="crop",
            )
        )
        self._catalog_notice()
        table = self.query_one("#today", FitTable)
        columns = [
            FitColumn("home.col.kind", t("home.col.kind", self.lang)),
            FitColumn("home.col.case", t("home.col.case", self.lang)),
            # Names, items and reasons are cut (with "..") only when the screen is too narrow for them.
            FitColumn("home.col.applicant", t("home.col.applicant", self.lang), 8),
            FitColumn("home.col.item", t("home.col.item", self.lang), 12),
            FitColumn("home.col.detail", t("home.col.detail", self.lang), 12),
        ]
        rows = []
        for index, item in enumerate(self.items):
            urgent = item.kind in ("overdue", "rejected") or (item.kind == "commitment" and item.overdue)
            # Text cells, never str: a DataTable reads a str as markup, and names and reasons come from people.
            cells = [
                Text(self._kind(item), style="bold" if urgent else ""),
                cell(short_number(self.station, item.case_no)),
                cell(item.applicant),
                cell(item.item_name),
                cell(self._detail(item)),
            ]
            rows.append((f"{index}:{item.case_no}", cells))
        table.show(columns, rows)
        empty = self.query_one("#empty", Static)
        empty.update(t("home.empty", self.lang))
        empty.display = not self.items
        table.display = bool(self.items)

    def _catalog_notice(self) -> None:
        """One line on a new catalogue version: what changed, and the open cases that keep their version."""
        notice, lang = catalog_notice(self.station), self.lang
        line = self.query_one("#catalog-notice", Static)
        line.display = notice is not None
        if notice is None:
            return
        if notice.failed is not None:
            text = t("home.catalog.failed", lang, failed=notice.failed, version=notice.version)
        else:
            counts = [t(f"home.catalog.{k}", lang, n=n) for k, n in notice.counts.items() if n]
            first = notice.changes[0].text(lang) if notice.changes else ""
            text = t(
                "home.catalog",
                lang,
                version=notice.version,
                counts=("，" if lang != "en" else ", ").join(counts),
                open=t("home.catalog.open", lang, n=notice.open_on_older) if notice.open_on_older else "",
                detail=(("。" if lang != "en" else ". ") + first) if first else "",
            )
        line.update(Text(text, no_wrap=True, overflow="ellipsis"))

    def _kind(self, item: TodayItem) -> str:
        lang = self.lang
        if item.kind == "overdue":
            return t("kind.overdue", lang, n=-(item.days_left or -1))
        if item.kind == "due_soon":
            return t("kind.due_today", lang) if item.days_left == 0 else t("kind.due_soon", lang, n=item.days_left)
        if item.kind == "commitment":
            return t("kind.commitment_overdue" if item.overdue else "kind.commitment", lang)
        return t(f"kind.{item.kind}", lang)

    def _detail(self, item: TodayItem) -> str:
        lang = self.lang
        due = due_text(item.due_date, item.provisional, lang)
        if item.kind in ("overdue", "due_soon"):
            return t("detail.due", lang, date=due)
        if item.kind == "commitment":
            return t("detail.commitment", lang, material=item.material, date=due)
        if item.kind == "ready":
            return t(f"detail.outcome.{item.outcome}", lang) if item.outcome in ("approved", "denied") else ""
        if item.kind == "rejected":
            return (item.reason_en if lang == "en" else item.reason_zh) or ""
        if item.kind == "correction":
            return item.reason_zh or ""
        return ""

    def action_open_case(self) -> None:
        table = self.query_one("#today", DataTable)
        if self.items and table.row_count:
            self.station_app.open_case(self.items[table.cursor_row].case_no)

    def action_refresh(self) -> None:
        self.refresh_data()
        self.station_app.refresh_status()

    def action_query(self) -> None:
        """Q: a resident's progress query by case number and query code (any village; the hub for others)."""
        lang = self.lang
        found: list[str] = []

        def done(answer: ProgressAnswer, source: str) -> None:
            found.append(progress_text(answer, source, lang))

        def after(result: object) -> None:
            if result and found:
                self.app.push_screen(ConfirmScreen(t("query.result", lang), found[0], no=t("action.close", lang)))

        title_key, fields, perform = progress_form(self.station, lang, done)
        self.app.push_screen(ActionDialog(t(title_key, lang), fields, perform), after)

    def action_ledger(self) -> None:
        """T: this month's ledger (台账) as an Excel workbook, names and ID numbers masked."""
        lang = self.lang

        def done(path: Path, count: int) -> None:
            self.notify(t("ledger.done", lang, count=count, path=str(path)), markup=False, timeout=10)

        title_key, fields, perform = ledger_form(self.station, lang, done)
        self.app.push_screen(ActionDialog(t(title_key, lang), fields, perform))

    @on(DataTable.RowSelected, "#today")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.station_app.open_case(str(event.row_key.value).split(":", 1)[1])
