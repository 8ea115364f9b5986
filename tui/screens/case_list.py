"""The case list: filters (status, item, due, text), sorts, pages of 100; ID and phone masked."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Input, Select, Static

from station.queries import CaseFilter, CaseSummary, list_cases
from sync.errors import ProxyAppError
from sync.i18n import label
from sync.lifecycle import Status, status_label
from tui.data import DUE_SOON_DAYS, short_number
from tui.fmt import cell, days_left_text, due_text
from tui.i18n import t
from tui.screens.base import StationScreen, error_text
from tui.widgets.fit_table import FitColumn, FitTable

__all__ = ("PAGE_SIZE", "CaseListScreen")

PAGE_SIZE = 100
"""Rows per page: the list never loads the whole case book (50,000 cases at a busy station)."""


def _held(level: str | None, lang: str) -> str:
    """A township holding the case, marked beside its status (乡镇初审中); the county is the usual level."""
    return f" · {label('level', level, lang)}" if level in ("township", "township_initial") else ""


_COLUMNS = ("case", "applicant", "item", "status", "due", "left", "id", "phone")
_SHRINK = {"applicant": 8, "item": 10}
"""The columns that may be cut on a narrow screen, and to how many cells at least."""
_ASIDE = frozenset({"id", "phone"})
"""The columns left whole to the right, to scroll to (Left/Right in the table), when the screen holds not all."""


class CaseListScreen(StationScreen):
    """Find a case. Typing in the search field filters as you type."""

    TITLE_KEY = "title.case_list"
    BINDINGS = [
        Binding("ctrl+f", "focus_search", "Search"),
        Binding("right_square_bracket", "next_page", "Next page", key_display="]"),
        Binding("left_square_bracket", "prev_page", "Previous page", key_display="["),
        Binding("escape", "back", "Back"),
    ]
    DEFAULT_CSS = """
    CaseListScreen .filters { height: 1; margin: 0 0 0 0; }
    CaseListScreen #search { width: 1fr; }
    CaseListScreen #status { width: 22; }
    CaseListScreen #due { width: 16; }
    CaseListScreen #item { width: 1fr; }
    CaseListScreen #sort { width: 18; }
    CaseListScreen #page { width: auto; padding: 0 1; }  /* "第2页  101-200  ] 下一页" whole */
    CaseListScreen #cases { height: 1fr; margin: 1 0 0 0; }
    CaseListScreen #list_empty { padding: 1 2; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.page = 0
        self.rows: list[CaseSummary] = []
        self.has_more = False
        self._timer: Timer | None = None

    def _status_options(self) -> list[tuple[str, str]]:
        return [(status_label(s, self.lang), s.value) for s in Status if s is not Status.DRAFT]

    def _item_options(self) -> list[tuple[Text, str]]:
        # Text, not str: a Select reads a str prompt as markup, and item names come from the hub's catalogue.
        return [(cell(f"{i.code} {i.name_zh}", 40), i.code) for i in self.station.catalog.items]

    def _due_options(self) -> list[tuple[str, str]]:
        return [(t("list.due_soon", self.lang), "soon"), (t("list.overdue", self.lang), "overdue")]

    def _sort_options(self) -> list[tuple[str, str]]:
        return [(t(f"list.sort.{key}", self.lang), key) for key in ("received", "due", "case_no")]

    def compose_body(self) -> Iterable[Widget]:
        lang = self.lang
        with Horizontal(classes="filters"):
            yield Input(id="search", compact=True, placeholder=t("list.search", lang))
            yield Select(self._status_options(), id="status", prompt=t("list.status_all", lang), compact=True)
            yield Select(self._due_options(), id="due", prompt=t("list.due_all", lang), compact=True)
        with Horizontal(classes="filters"):
            yield Select(self._item_options(), id="item", prompt=t("list.item_all", lang), compact=True)
            yield Select(self._sort_options(), id="sort", value="received", allow_blank=False, compact=True)
            yield Static("", id="page", markup=False)
        yield FitTable(id="cases")
        yield Static("", id="list_empty", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        # The stock arrows (▼ ▲) are East Asian "ambiguous" width: some Chinese terminals draw
        # them two cells wide and shift the line. ASCII says the same.
        for arrow, text in ((".down-arrow", "v"), (".up-arrow", "^")):
            for static in self.query(f"SelectCurrent {arrow}").results(Static):
                static.update(text)
        self.query_one("#search", Input).focus()

    def on_screen_resume(self) -> None:
        # Also sent when the screen is first shown: filling the table twice before its first
        # idle leaves stale column widths (textual 8.2.8), so this is the one first fill.
        self.reload(keep_cursor=True)

    def relabel(self) -> None:
        lang = self.lang
        self.query_one("#search", Input).placeholder = t("list.search", lang)
        for widget_id, options, prompt in (
            ("status", self._status_options(), "list.status_all"),
            ("due", self._due_options(), "list.due_all"),
        ):
            select = self.query_one(f"#{widget_id}", Select)
            value = select.value
            with self.prevent(Select.Changed):
                select.set_options(options)
                select.prompt = t(prompt, lang)
                select.value = value
        sort = self.query_one("#sort", Select)
        value = sort.value
        with self.prevent(Select.Changed):
            sort.set_options(self._sort_options())
            sort.value = value
        self.query_one("#item", Select).prompt = t("list.item_all", lang)
        self.reload(keep_cursor=True)

    def refresh_data(self) -> None:
        self.reload(keep_cursor=True)

    def case_filter(self) -> CaseFilter:
        """The filter the widgets describe, for the current page (one extra row tells if there is more)."""

        def chosen(widget_id: str) -> str | None:
            value = self.query_one(f"#{widget_id}", Select).value
            return value if isinstance(value, str) else None

        due = chosen("due")
        status = chosen("status")
        return CaseFilter(
            statuses=[status] if status else [],
            item=chosen("item"),
            text=self.query_one("#search", Input).value.strip() or None,
            due_within=DUE_SOON_DAYS if due == "soon" else None,
            overdue=due == "overdue",
            sort=chosen("sort") or "received",  # type: ignore[arg-type]
            limit=PAGE_SIZE + 1,
            offset=self.page * PAGE_SIZE,
        )

    def reload(self, *, keep_cursor: bool = False) -> None:
        if self.station_app.station is None:
            return
        table = self.query_one("#cases", FitTable)
        try:
            found = list_cases(self.station, self.case_filter())
        except ProxyAppError as exc:
            self.notify(error_text(exc, self.lang), severity="error", markup=False)
            found = []
        self.has_more = len(found) > PAGE_SIZE
        self.rows = found[:PAGE_SIZE]
        lang = self.lang
        # Names and items are cut (with "..") only when the screen is too narrow for them.
        columns = [FitColumn(c, t(f"list.col.{c}", lang), _SHRINK.get(c), c in _ASIDE) for c in _COLUMNS]
        rows = []
        for s in self.rows:
            # Text cells, never str: a DataTable reads a str as markup, and names come from people.
            cells = [
                cell(short_number(self.station, s.case_no)),
                cell(s.applicant_name),
                cell(s.item_name),
                cell(status_label(s.status, lang) + _held(getattr(s, "level", None), lang)),
                cell(due_text(s.due_date, s.due_provisional, lang)),
                Text(days_left_text(s.days_left, lang), style="bold" if s.overdue else ""),
                cell(s.id_number_masked),
                cell(s.phone_masked),
            ]
            rows.append((s.case_no, cells))
        if not keep_cursor:
            table.move_cursor(row=0)
        table.show(columns, rows)
        first = self.page * PAGE_SIZE + (1 if self.rows else 0)
        page_text = t("list.page", lang, page=self.page + 1, first=first, last=self.page * PAGE_SIZE + len(self.rows))
        self.query_one("#page", Static).update(page_text + (t("list.page_more", lang) if self.has_more else ""))
        empty = self.query_one("#list_empty", Static)
        empty.update(t("list.empty", lang))
        empty.display = not self.rows
        table.display = bool(self.rows)

    def _reload_first_page(self) -> None:
        self.page = 0
        self.reload()

    @on(Input.Changed, "#search")
    def _search_changed(self) -> None:
        # Wait for a pause in typing: an ID number typed digit by digit is one query, not eighteen.
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(0.25, self._reload_first_page)

    @on(Input.Submitted, "#search")
    def _search_submitted(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._reload_first_page()
        if len(self.rows) == 1:  # a whole ID or case number typed: the one case it finds opens at once
            self.station_app.open_case(self.rows[0].case_no)
        elif self.rows:
            self.query_one("#cases", DataTable).focus()

    @on(Select.Changed)
    def _filter_changed(self) -> None:
        self._reload_first_page()

    @on(DataTable.RowSelected, "#cases")
    def _open(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.station_app.open_case(str(event.row_key.value))

    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_next_page(self) -> None:
        if self.has_more:
            self.page += 1
            self.reload()

    def action_prev_page(self) -> None:
        if self.page > 0:
            self.page -= 1
            self.reload()

    def action_back(self) -> None:
        self.station_app.action_home()
