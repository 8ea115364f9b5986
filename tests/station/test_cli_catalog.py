"""``station catalog list --search``: the TUI's item matcher, for items and bundles alike (issue 12, item 9)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from station.cli import main

BUNDLES = ("BND-NEWBORN", "BND-DISABILITY", "BND-AFTER-DEATH")


def row_codes(table: str) -> list[str]:
    """The first cell of each row of a printed table (an item's row names its bundles in a later cell)."""
    cells = [line.strip("|").split("|")[0].strip() for line in table.splitlines() if line.startswith("|")]
    return [cell for cell in cells if re.fullmatch(r"[A-Z]+-[A-Z0-9-]+", cell)]


@pytest.fixture
def catalog_list(tmp_path: Path):
    runner = CliRunner()
    env = {"STATION_DATA_DIR": str(tmp_path / "data"), "LANG": "", "LC_ALL": ""}
    made = runner.invoke(main, ["init", "--village", "349921001001", "--agent", "李代办"], env=env)
    assert made.exit_code == 0, made.output

    def invoke(*args: str) -> str:
        result = runner.invoke(main, ["catalog", "list", *args], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    return invoke


def found(catalog_list, query: str) -> tuple[list[str], list[str]]:
    listed = json.loads(catalog_list("--search", query, "--json"))
    return [item["code"] for item in listed["items"]], [bundle["code"] for bundle in listed["bundles"]]


def test_pinyin_initials_find_the_items_and_no_bundle(catalog_list):
    items, bundles = found(catalog_list, "ylbx")
    # As in the TUI's picker: the earliest match first (城乡居民养老保险… before 城乡居民基本养老保险…).
    assert items[:5] == ["RS-005", "RS-001", "RS-002", "RS-003", "RS-004"]
    assert "YB-001" in items  # 城乡居民基本医疗保险…: y(i)-l(iao)-b(ao)-x(ian) too
    assert bundles == []
    table = catalog_list("--search", "ylbx")
    assert row_codes(table) == items and "城乡居民基本养老保险参保登记" in table


def test_a_chinese_name_lists_no_unrelated_bundle(catalog_list):
    items, bundles = found(catalog_list, "养老")
    assert set(items) == {"RS-001", "RS-002", "RS-003", "RS-004", "RS-005"} and bundles == []
    table = catalog_list("--search", "养老")
    assert row_codes(table) == items and not set(row_codes(table)) & set(BUNDLES)
    assert "新生儿出生一件事" not in table and "残疾人服务一件事" not in table


def test_a_bundle_is_listed_when_its_own_name_matches(catalog_list):
    # 出生登记（新生儿落户） is found by its own name too.
    assert found(catalog_list, "新生儿") == (["GA-001"], ["BND-NEWBORN"])
    assert found(catalog_list, "xsecs") == ([], ["BND-NEWBORN"])  # 新生儿出生…: pinyin initials
    assert found(catalog_list, "bnd-newborn") == ([], ["BND-NEWBORN"])
    # Items named 残疾人… match, and so does the bundle named 残疾人服务一件事 (by its own name).
    items, bundles = found(catalog_list, "残疾人")
    assert bundles == ["BND-DISABILITY"] and {"CL-001", "MZ-005", "MZ-006"} <= set(items)
    table = catalog_list("--search", "新生儿")
    assert (
        row_codes(table) == ["GA-001", "BND-NEWBORN"] and "| 5个工作日" in table
    )  # the bundle's limit in the items' unit


def test_a_member_match_does_not_list_its_bundle(catalog_list):
    # GA-001 出生登记（新生儿落户） is a member of the newborn bundle; the bundle is not called that.
    assert found(catalog_list, "csdj") == (["GA-001"], [])


def test_same_matcher_as_the_tui_picker(catalog_list):
    from sync.catalog import sample_catalog
    from tui.pinyin import index_for  # the picker's import, now a re-export of sync.catalog_search

    for query in ("ylbx", "养老", "rs002", "zdcjr", "cdcjr", "yanglao", "disability", "一件事"):
        picked = [entry.code for entry in index_for(sample_catalog()).search(query, limit=100)]
        items, bundles = found(catalog_list, query)
        assert sorted(items + bundles) == sorted(picked), query
        assert items == [code for code in picked if not code.startswith("BND-")], query


def test_no_search_lists_everything_and_a_miss_says_so(catalog_list):
    items, bundles = found(catalog_list, "")
    assert len(items) == 31 and bundles == list(BUNDLES)
    assert "没有与“qqqzz”相符的事项或一件事" in catalog_list("--search", "qqqzz")
    assert found(catalog_list, "qqqzz") == ([], [])
