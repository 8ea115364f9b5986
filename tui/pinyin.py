"""The catalogue matcher of the item picker, kept where the TUI has always imported it from (sync.catalog_search)."""

from __future__ import annotations

from sync.catalog_search import Entry, SearchIndex, find, index_for

__all__ = ("Entry", "SearchIndex", "find", "index_for")
