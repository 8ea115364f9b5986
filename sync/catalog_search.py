"""Finding an item or bundle by Chinese name, by code, or by pinyin initials (``ylbx`` finds 养老保险).

One matcher for every place that searches the catalogue: the TUI's item picker and ``station catalog
list --search`` both call :meth:`SearchIndex.search`, so a query finds the same entries in either.
A bundle (一件事) matches on its own code, name, pinyin or English name, never because one of its
member items matches: ``养老`` finds the pension items and no bundle, since no bundle is about pensions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from pypinyin import Style, lazy_pinyin, pinyin

from sync.catalog import Bundle, Catalog, ServiceItem

__all__ = ("Entry", "SearchIndex", "find", "index_for")

Kind = Literal["item", "bundle"]


@dataclass(frozen=True)
class Entry:
    """One searchable catalogue entry: an item or a bundle (一件事)."""

    kind: Kind
    code: str
    name_zh: str
    name_en: str
    promised_days: int | None
    letters: tuple[frozenset[str], ...]
    """Possible first letters of each Han character (or the character itself for ASCII), in order."""
    spelled: str
    """Full pinyin without tones or spaces: lets ``yanglao`` match as well as ``yl``."""


def _keep(chars: str) -> list[str]:
    # lazy_pinyin hands non-Han runs to this callback: split them so that the result keeps
    # one element per character, aligned with the name.
    return list(chars)


@functools.lru_cache(maxsize=8192)
def _heteronym_initials(char: str) -> frozenset[str]:
    """Every first letter a character may be read with (重 may be zhong or chong)."""
    return frozenset(reading[0] for reading in pinyin(char, style=Style.FIRST_LETTER, heteronym=True)[0] if reading)


def _letters(name: str) -> tuple[frozenset[str], ...]:
    # The phrase-aware reading comes first (lazy_pinyin knows 重度 is zhongdu); the heteronyms
    # are added so an agent who reads a character the other way still finds the item.
    # pypinyin's stubs type `errors` as returning str; its docs and code also take a list (one item per character).
    primary = lazy_pinyin(name, style=Style.FIRST_LETTER, errors=_keep)  # type: ignore[arg-type]
    letters: list[frozenset[str]] = []
    for char, first in zip(name, primary):
        if "\u4e00" <= char <= "\u9fff":
            letters.append(frozenset({first.lower()}) | _heteronym_initials(char))
        elif char.isascii() and char.isalnum():
            letters.append(frozenset({char.lower()}))
        # Punctuation (（）、) is skipped, so initials run across it.
    return tuple(letters)


def _matches_at(letters: tuple[frozenset[str], ...], needle: str) -> int:
    """Position where ``needle`` matches the initials, or -1."""
    span = len(needle)
    for start in range(len(letters) - span + 1):
        if all(needle[i] in letters[start + i] for i in range(span)):
            return start
    return -1


class SearchIndex:
    """The searchable entries of one catalogue (items first, then bundles), built once per catalogue."""

    def __init__(self, catalog: Catalog) -> None:
        entries = [
            Entry(
                "item",
                i.code,
                i.name_zh,
                i.name_en,
                i.promised_days,
                _letters(i.name_zh),
                "".join(lazy_pinyin(i.name_zh, errors=_keep)).lower(),  # type: ignore[arg-type]  # as in _letters
            )
            for i in catalog.items
            if not i.withdrawn  # 停办: not offered for new cases
        ]
        entries += [
            Entry(
                "bundle",
                b.code,
                b.name_zh,
                b.name_en,
                b.promised_days,
                _letters(b.name_zh),
                "".join(lazy_pinyin(b.name_zh, errors=_keep)).lower(),  # type: ignore[arg-type]  # as in _letters
            )
            for b in catalog.bundles
            if not b.withdrawn
        ]
        self.entries: tuple[Entry, ...] = tuple(entries)

    def search(self, query: str, limit: int = 50) -> list[Entry]:
        """Entries matching ``query``, best first; all entries (catalogue order) when it is empty.

        Ranking: exact code, code prefix, Chinese name, pinyin initials, full pinyin, English name;
        an earlier match position ranks higher within each group.
        """
        text = query.strip()
        if not text:
            return list(self.entries[:limit])
        lower = text.lower()
        plain = lower.replace("-", "")
        ascii_word = lower.isascii() and plain.isalnum()
        scored: list[tuple[tuple[int, int, int], Entry]] = []
        for order, entry in enumerate(self.entries):
            code = entry.code.lower()
            # Agents type codes without the hyphen (rs002 for RS-002).
            code_plain = code.replace("-", "")
            score: tuple[int, int] | None = None
            if code == lower or (ascii_word and code_plain == plain):
                score = (0, 0)
            elif code.startswith(lower) or (ascii_word and code_plain.startswith(plain)):
                score = (1, 0)
            elif text in entry.name_zh:
                score = (2, entry.name_zh.index(text))
            elif ascii_word and lower.isalnum() and (pos := _matches_at(entry.letters, lower)) >= 0:
                score = (3, pos)
            elif ascii_word and lower in entry.spelled:
                score = (4, entry.spelled.index(lower))
            elif ascii_word and lower in code:
                score = (5, code.index(lower))
            elif entry.name_en and lower in entry.name_en.lower():
                score = (6, entry.name_en.lower().index(lower))
            if score is not None:
                scored.append(((*score, order), entry))
        scored.sort(key=lambda pair: pair[0])
        return [entry for _, entry in scored[:limit]]


_CACHE: dict[int, tuple[Catalog, SearchIndex]] = {}


def index_for(catalog: Catalog) -> SearchIndex:
    """The (cached) index of a catalogue: built once per catalogue version, not per keystroke."""
    cached = _CACHE.get(catalog.version)
    if cached is not None and (cached[0] is catalog or cached[0] == catalog):
        return cached[1]
    index = SearchIndex(catalog)
    _CACHE[catalog.version] = (catalog, index)
    return index


def find(catalog: Catalog, query: str) -> tuple[list[ServiceItem], list[Bundle]]:
    """Every item and every bundle matching ``query`` (each best first); the whole catalogue when it is empty.

    The lists a command prints: unlike the picker it has no limit, and it keeps items and bundles apart.
    """
    index = index_for(catalog)
    found = index.search(query, limit=len(index.entries))
    items = {item.code: item for item in catalog.items}
    bundles = {bundle.code: bundle for bundle in catalog.bundles}
    return (
        [items[e.code] for e in found if e.kind == "item"],
        [bundles[e.code] for e in found if e.kind == "bundle"],
    )
