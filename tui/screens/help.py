"""Help: every key binding, generated from the BINDINGS of the app and its screens so it never goes stale."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.dom import DOMNode
from textual.widgets import DataTable, Static

from tui.demo_info import demo_help_lines, demo_info_from_env
from tui.i18n import action_label, t
from tui.screens.base import StationModal
from tui.screens.case_actions import ActionDialog
from tui.screens.case_detail import CaseDetailScreen
from tui.screens.case_list import CaseListScreen
from tui.screens.dialogs import ConfirmScreen, DraftOfferScreen
from tui.screens.enroll import EnrollScreen
from tui.screens.home import HomeScreen
from tui.screens.intake_done import IntakeDoneScreen
from tui.screens.lock import LockScreen
from tui.screens.new_case import NewCaseScreen
from tui.screens.scans import ScanScreen
from tui.screens.sync import SyncScreen
from tui.widgets.item_picker import SearchInput
from tui.widgets.key_bar import key_display

__all__ = ("HELP_SECTIONS", "HelpScreen", "help_rows")

HELP_SECTIONS: tuple[tuple[str, type[DOMNode]], ...] = (
    ("title.home", HomeScreen),
    ("title.new_case", NewCaseScreen),
    ("help.section.picker", SearchInput),
    ("done.title", IntakeDoneScreen),
    ("draft.title", DraftOfferScreen),
    ("title.case_list", CaseListScreen),
    ("title.case_detail", CaseDetailScreen),
    ("title.scans", ScanScreen),
    ("help.section.action", ActionDialog),
    ("title.sync", SyncScreen),
    ("title.enroll", EnrollScreen),
    ("title.lock", LockScreen),
    ("help.section.confirm", ConfirmScreen),
)
"""Where each binding lives, in the order the help lists them (after the keys of the app itself)."""


def _bindings(node_class: type[DOMNode]) -> list[Binding]:
    # One row per binding, its keys together ("Esc/F1/Q"); tuples are the short form BINDINGS may use.
    found = [b if isinstance(b, Binding) else Binding(*b) for b in node_class.BINDINGS if not isinstance(b, str)]
    return [b for b in found if not b.system]


def help_rows(app_class: type[DOMNode], lang: str) -> list[tuple[str, str, str]]:
    """(section, key, what it does) for every binding of the app and of each screen and dialog."""
    rows = [
        (t("help.screen.app", lang), key_display(b), action_label(b.action, lang, b.description))
        for b in _bindings(app_class)
    ]
    sections: tuple[tuple[str, type[DOMNode]], ...] = (*HELP_SECTIONS, ("title.help", HelpScreen))
    for title_key, node_class in sections:
        for b in _bindings(node_class):
            rows.append((t(title_key, lang).rstrip("*"), key_display(b), action_label(b.action, lang, b.description)))
    return rows


class HelpScreen(StationModal):
    """The key list, in the current language. Esc or F1 closes it.

    Under ``./run demo`` the hub's addresses and the demo accounts come first (tui/demo_info.py): the
    URL printed before the TUI opened is covered by it, and this is where a newcomer looks.
    """

    BINDINGS = [Binding("escape,f1,q", "close", "Close")]
    DEFAULT_CSS = """
    HelpScreen > #dialog { width: 100%; height: 100%; }
    HelpScreen #help_table { height: 1fr; }
    HelpScreen #help_demo { margin-bottom: 1; }
    """

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("", id="help_title", classes="dialog-title", markup=False)
            yield Static("", id="help_intro", markup=False)
            yield Static("", id="help_demo", markup=False)
            yield DataTable(id="help_table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.watch(self.app, "lang", self._fill)  # F9 here relabels the list too
        self.query_one(DataTable).focus()

    def _fill(self, _value: object = None) -> None:
        lang = self.lang
        self.query_one("#help_title", Static).update(t("title.help", lang))
        self.query_one("#help_intro", Static).update(t("help.intro", lang))
        demo = demo_info_from_env()
        self.query_one("#help_demo", Static).update("\n".join(demo_help_lines(*demo, lang)) if demo else "")
        self.query_one("#help_demo", Static).display = demo is not None
        table = self.query_one(DataTable)
        table.clear(columns=True)
        for key in ("help.col.where", "help.col.key", "help.col.action"):
            table.add_column(t(key, lang), key=key)
        for section, key, what in help_rows(type(self.app), lang):
            table.add_row(section, key, what)
        table.check_idle()

    def action_close(self) -> None:
        self.dismiss(None)
