"""The dialogs of ratings (好差评), progress queries and the monthly ledger: V on a delivered case, Q and T on
the home screen. Each is an ActionDialog (tui.screens.case_actions) over station functions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from station import progress
from station.ledger import write_ledger
from station.queries import CaseDetail, get_bundle
from station.ratings import rate
from station.store import Station
from station.store.datakey import open_data_key
from sync.errors import InputError, ProxyAppError
from sync.lifecycle import TERMINAL, Status, status_label
from sync.progress import ProgressAnswer, holder_label
from sync.ratings import CHANNELS
from tui.fmt import plain
from tui.i18n import t
from tui.screens.case_actions import Field, Values

__all__ = ("LEDGER_DIR", "ledger_form", "progress_form", "progress_text", "ratable", "rating_form")

LEDGER_DIR = "ledgers"
"""Folder of the data folder the TUI writes ledgers to (masked: no full name or ID number)."""

_CHANNEL_CHECKS = [channel for channel in CHANNELS if channel != "onsite"]


def ratable(station: Station, detail: CaseDetail) -> bool:
    """Whether V may rate now: the case is delivered and not rated yet, or it closes a bundle not rated overall."""
    s = detail.summary
    rated = {r.case_no for r in detail.ratings}
    if s.status == Status.DELIVERED and s.case_no not in rated:
        return True
    return bool(s.bundle_code) and None not in rated and _bundle_done(station, s.intake_id)


def _bundle_done(station: Station, intake_id: str) -> bool:
    try:
        members = get_bundle(station, intake_id).members
    except ProxyAppError:
        return False
    states = [m.status for m in members]
    return all(Status(x) in TERMINAL for x in states) and Status.DELIVERED in states


def rating_form(
    station: Station, detail: CaseDetail, lang: str, *, by: str | None
) -> tuple[str, list[Field], Callable[[Values], object]]:
    """Title key, fields and action of the V dialog: level 1–5, comment, how it was given, and for a bundle
    whether it rates the bundle as a whole."""
    s = detail.summary
    fields = [
        Field("heading", "h-levels", t("rate.levels", lang)),
        Field("input", "level", t("rate.level", lang), required=True),
        Field("input", "comment", t("rate.comment", lang)),
        Field("heading", "h-channel", t("rate.channel", lang)),
        *[Field("check", f"c-{channel}", t(f"rate.channel.{channel}", lang)) for channel in _CHANNEL_CHECKS],
    ]
    own_rated = any(r.case_no == s.case_no for r in detail.ratings)
    if s.bundle_code:
        fields.append(Field("heading", "h-overall", t("rate.bundle", lang)))
        fields.append(Field("check", "overall", t("rate.overall", lang), value=own_rated))

    def perform(values: Values) -> None:
        text = str(values["level"]).strip()
        if not (text.isascii() and text.isdigit()):
            raise InputError(zh=t("rate.bad_level", "zh"), en=t("rate.bad_level", "en"), field="level")
        ticked = [channel for channel in _CHANNEL_CHECKS if values[f"c-{channel}"]]
        if len(ticked) > 1:
            raise InputError(zh=t("rate.one_channel", "zh"), en=t("rate.one_channel", "en"), field="channel")
        rate(
            station,
            s.case_no,
            level=int(text),
            comment=str(values["comment"]) or None,
            channel=ticked[0] if ticked else "onsite",
            overall=bool(values.get("overall")),
            by=by,
        )

    return "rate.title", fields, perform


def ledger_form(
    station: Station, lang: str, done: Callable[[Path, int], None]
) -> tuple[str, list[Field], Callable[[Values], object]]:
    """Title key, fields and action of the T dialog: the month's ledger into DATA_DIR/ledgers/, masked unless
    the agent asks for it in full and types the station passphrase (as ``station ledger --full`` asks)."""
    month = station.today().strftime("%Y-%m")
    fields = [
        Field("input", "month", t("ledger.month", lang), month, required=True),
        Field("heading", "h-masked", t("ledger.masked", lang)),
        Field("check", "full", t("ledger.full", lang), False),
        Field("input", "passphrase", t("ledger.passphrase", lang), "", secret=True),
    ]

    def perform(values: Values) -> None:
        chosen = str(values["month"]).strip()
        full = bool(values["full"])
        if full:
            passphrase = str(values["passphrase"])
            if not passphrase:
                raise InputError(
                    zh=t("ledger.passphrase_needed", "zh"), en=t("ledger.passphrase_needed", "en"), field="passphrase"
                )
            # Full personal data leaves the encrypted folder: the passphrase proves the agent is there,
            # even when the keyring opened the station (PassphraseError when it is wrong; nothing written).
            open_data_key(station.data_dir, passphrase)
        folder = station.data_dir / LEDGER_DIR
        folder.mkdir(mode=0o700, exist_ok=True)
        path = folder / (f"ledger-{chosen}-full.xlsx" if full else f"ledger-{chosen}.xlsx")
        count = write_ledger(station, chosen, path, full=full, lang=lang)
        done(path, count)

    return "ledger.title", fields, perform


def progress_form(
    station: Station, lang: str, done: Callable[[ProgressAnswer, str], None]
) -> tuple[str, list[Field], Callable[[Values], object]]:
    """Title key, fields and action of the Q dialog: a resident's case number and query code, any village."""
    fields = [
        Field("input", "case", t("query.case", lang), required=True),
        Field("input", "code", t("query.code", lang), required=True),
        Field("heading", "h-online", t("query.online", lang)),
    ]

    def perform(values: Values) -> None:
        answer, source = progress.ask(station, str(values["case"]), str(values["code"]), timeout=15.0)
        done(answer, source)

    return "query.title", fields, perform


def progress_text(answer: ProgressAnswer, source: str, lang: str) -> str:
    """The answer as the agent reads it out: no name or ID number is in it to begin with."""
    due = answer.due_date or t("query.batch", lang)
    if answer.due_date and answer.due_provisional:
        due += t("query.provisional", lang)
    lines = [
        f"{t('case.number', lang)}: {answer.case_no}",
        f"{t('case.item', lang)}: {plain(answer.item_name)} ({answer.item_code})",
        f"{t('case.status', lang)}: {status_label(answer.status, lang)}",
        f"{t('query.holder', lang)}: {holder_label(answer.holder, lang)}",
        f"{t('case.due', lang)}: {due}",
    ]
    if answer.missing:
        lines.append(f"{t('query.missing', lang)}: {plain('、'.join(answer.missing))}")
    if answer.correction:
        lines.append(f"{t('case.notice', lang)}: {plain(answer.correction)}")
    lines.append(t("query.from_station" if source == "station" else "query.from_hub", lang))
    return "\n".join(lines)
