"""The materials checklist of a new case: received or not, 容缺 offered where allowed, blocks explained."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Checkbox, Static

from sync.intake import MaterialRule
from tui.i18n import t
from tui.widgets.checkbox import Check

__all__ = ("MaterialChecklist",)


class MaterialChecklist(Vertical):
    """One row per material (sync.intake.material_rules); a 容缺 toggle under a missing one that may wait."""

    DEFAULT_CSS = """
    MaterialChecklist { height: auto; padding: 0 0 0 1; }
    MaterialChecklist .defer { margin: 0 0 0 4; }
    MaterialChecklist .blocked { margin: 0 0 0 4; color: $error; text-style: bold; height: auto; }
    MaterialChecklist .hidden { display: none; }
    """

    class Changed(Message):
        """A material was ticked or a 容缺 toggled."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rules: list[MaterialRule] = []
        self.defer_text = ""
        self.show_problems = False

    # -- building ---------------------------------------------------------------------------

    def _label(self, rule: MaterialRule) -> Content:
        lang = getattr(self.app, "lang", "zh")
        flags = [t("new.exempt", lang) if rule.exempt else t("new.required" if rule.required else "new.optional", lang)]
        if rule.allow_deferred and rule.required:
            flags.append("容缺" if lang != "en" else "may defer")
        name = rule.name_en if lang == "en" and rule.name_en else rule.name_zh
        # Content, not a markup string: material names come from the catalogue, not from us.
        return Content(f"{name} ({', '.join(flags)})")

    async def set_rules(
        self, rules: Sequence[MaterialRule], presented: Sequence[str] = (), deferred: Sequence[str] = ()
    ) -> None:
        """Show the materials of a newly chosen item, ticking the ones given."""
        self.rules = list(rules)
        self.show_problems = False
        await self.remove_children()
        if not self.rules:
            await self.mount(
                Static(t("new.materials_none", getattr(self.app, "lang", "zh")), classes="hint", markup=False)
            )
            return
        rows: list[Widget] = []
        for i, rule in enumerate(self.rules):
            rows.append(Check(self._label(rule), rule.name_zh in presented, id=f"mat-{i}"))
            if rule.required and rule.allow_deferred:
                rows.append(Check(Content(self.defer_text), rule.name_zh in deferred, id=f"defer-{i}", classes="defer"))
            rows.append(Static("", id=f"block-{i}", classes="blocked hidden", markup=False))
        await self.mount_all(rows)
        self._sync_rows()

    def relabel(self) -> None:
        """Redraw the labels in the current language."""
        for i, rule in enumerate(self.rules):
            self.query_one(f"#mat-{i}", Check).label = self._label(rule)
        self.set_defer_text(self.defer_text)
        if not self.rules:
            for hint in self.query(".hint").results(Static):
                hint.update(t("new.materials_none", getattr(self.app, "lang", "zh")))

    def set_defer_text(self, text: str) -> None:
        """The 容缺 toggle's label, with the commitment's due date."""
        self.defer_text = text
        for check in self.query(".defer").results(Check):
            check.label = Content(text)

    # -- state ------------------------------------------------------------------------------

    def _checked(self, widget_id: str) -> bool:
        found = self.query(f"#{widget_id}").results(Check)
        return any(check.value for check in found)

    def state(self) -> tuple[list[str], list[str]]:
        """(presented, deferred) material names."""
        presented = [r.name_zh for i, r in enumerate(self.rules) if self._checked(f"mat-{i}")]
        deferred = [
            r.name_zh
            for i, r in enumerate(self.rules)
            if r.name_zh not in presented and r.required and r.allow_deferred and self._checked(f"defer-{i}")
        ]
        return presented, deferred

    def set_state(self, presented: Sequence[str], deferred: Sequence[str]) -> None:
        for i, rule in enumerate(self.rules):
            self.query_one(f"#mat-{i}", Check).value = rule.name_zh in presented
            for check in self.query(f"#defer-{i}").results(Check):
                check.value = rule.name_zh in deferred
        self._sync_rows()

    def problems(self) -> tuple[list[str], list[str]]:
        """(missing and never deferrable, missing but deferrable and not deferred): both block saving."""
        presented, deferred = self.state()
        missing = [r for r in self.rules if r.required and r.name_zh not in presented and r.name_zh not in deferred]
        return [r.name_zh for r in missing if not r.allow_deferred], [r.name_zh for r in missing if r.allow_deferred]

    def reveal_problems(self) -> None:
        """After a save attempt: show under each missing material why it blocks."""
        self.show_problems = True
        self._sync_rows()

    def _sync_rows(self) -> None:
        lang = getattr(self.app, "lang", "zh")
        presented, deferred = self.state()
        for i, rule in enumerate(self.rules):
            for check in self.query(f"#defer-{i}").results(Check):
                check.set_class(rule.name_zh in presented, "hidden")
            block = self.query_one(f"#block-{i}", Static)
            missing = rule.required and rule.name_zh not in presented and rule.name_zh not in deferred
            block.set_class(not (self.show_problems and missing), "hidden")
            if missing:
                block.update(t("new.blocked" if not rule.allow_deferred else "new.blocked_deferrable", lang))

    @on(Checkbox.Changed)
    def _changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self._sync_rows()
        self.post_message(self.Changed())
