"""Choosing the item (or bundle) of a new case: type a name, code or pinyin initials, pick with the arrows."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from sync.catalog import Catalog
from sync.catalog_search import Entry, index_for
from tui.i18n import t

__all__ = ("ItemPicker", "SearchInput")

VISIBLE_RESULTS = 5


class SearchInput(Input):
    """The search field; Up/Down move through the results without leaving it, Enter chooses."""

    BINDINGS = [
        Binding("down", "item_down", "Next item", show=False),
        Binding("up", "item_up", "Previous item", show=False),
    ]

    def action_item_down(self) -> None:
        self.post_message(ItemPicker.Move(1))

    def action_item_up(self) -> None:
        self.post_message(ItemPicker.Move(-1))


class ItemPicker(Vertical):
    """A search field over the catalogue with a short result list below it."""

    DEFAULT_CSS = """
    ItemPicker { height: auto; }
    ItemPicker OptionList { height: auto; max-height: 5; border: none; padding: 0; background: $panel; }
    ItemPicker OptionList.-empty { display: none; }
    ItemPicker #item_no_match { display: none; color: $error; text-style: bold; }
    ItemPicker #item_no_match.-shown { display: block; }
    """

    class Chosen(Message):
        """The agent chose an item or a bundle."""

        def __init__(self, entry: Entry) -> None:
            super().__init__()
            self.entry = entry

    class Move(Message):
        def __init__(self, step: int) -> None:
            super().__init__()
            self.step = step

    def __init__(self, catalog: Catalog, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.index = index_for(catalog)
        self.results: list[Entry] = []

    def compose(self) -> ComposeResult:
        yield SearchInput(id="item_search", compact=True)
        yield OptionList(id="item_results", classes="-empty")
        yield Static("", id="item_no_match", markup=False)

    def on_mount(self) -> None:
        self.watch(self.app, "lang", self._relabel)

    def _relabel(self, _value: object = None) -> None:
        self.query_one(SearchInput).placeholder = t("new.item_placeholder", self.app.lang)  # type: ignore[attr-defined]
        self._show(self.query_one(SearchInput).value)

    def _label(self, entry: Entry) -> Text:
        lang = getattr(self.app, "lang", "zh")
        tag = t("new.bundle_tag", lang) + " " if entry.kind == "bundle" else ""
        name = entry.name_en if lang == "en" and entry.name_en else entry.name_zh
        return Text(f"{entry.code:<8} {tag}{name}", no_wrap=True, overflow="ellipsis")

    def _show(self, query: str, *, browse: bool = False) -> None:
        results = self.query_one(OptionList)
        results.clear_options()
        # Nothing typed: no list, unless the agent asks to browse (Down in the empty field).
        self.results = self.index.search(query, limit=200 if browse else 30) if query.strip() or browse else []
        results.add_options(Option(self._label(e), id=f"{e.kind}:{e.code}") for e in self.results)
        results.set_class(not self.results, "-empty")
        if self.results:
            results.highlighted = 0
        # Typed, and nothing found: say so (Enter would do nothing, silently).
        lang = getattr(self.app, "lang", "zh")
        no_match = self.query_one("#item_no_match", Static)
        no_match.update("! " + t("new.no_match", lang) if query.strip() and not self.results else "")
        no_match.set_class(bool(query.strip()) and not self.results, "-shown")

    @on(Input.Changed, "#item_search")
    def _search(self, event: Input.Changed) -> None:
        event.stop()
        self._show(event.value)

    @on(Move)
    def _move(self, event: Move) -> None:
        results = self.query_one(OptionList)
        if not self.results:
            if not self.query_one(SearchInput).value.strip() and event.step > 0:
                self._show("", browse=True)
            return
        current = results.highlighted or 0
        results.highlighted = max(0, min(len(self.results) - 1, current + event.step))

    @on(Input.Submitted, "#item_search")
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        highlighted = self.query_one(OptionList).highlighted
        if self.results:
            self._choose(self.results[highlighted or 0])

    @on(OptionList.OptionSelected, "#item_results")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._choose(self.results[event.option_index])

    def _choose(self, entry: Entry) -> None:
        self.query_one(SearchInput).value = ""
        self._show("")
        self.post_message(self.Chosen(entry))
