"""Catalogue publication at the hub: the file checked whole, the diff, versions, and what each station is queued."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from hub.catalog import CatalogFileError, catalog_json, publish_catalog, read_catalog
from hub.cli import main
from hub.dashboard import Thresholds, station_rows, to_csv
from hub.enroll import enroll as hub_enroll
from hub.enroll import issue_code
from hub.feed import seal_pending
from hub.ingest import ingest_sets
from hub.store import Contact, HubStore
from sync.catalog import Catalog
from sync.catalog_patch import apply_edits, body_digest
from sync.crypto import KeyPair
from sync.protocol import STATION_FEATURES, CatalogItem, CatalogPatch, DownItem
from sync.timeutil import iso_utc
from tests.hub.builders import VILLAGE, TestStation, enroll_request

ENV = {"LANG": "", "LC_ALL": ""}
_DOWN = msgspec.msgpack.Decoder(DownItem)


def cli(hub_dir: Path, *args: str, input_text: str | None = None, lang: str = "en"):
    return CliRunner().invoke(main, ["--data-dir", str(hub_dir), "--lang", lang, *args], env=ENV, input=input_text)


def shown(hub_dir: Path) -> dict:
    result = cli(hub_dir, "catalog", "show", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def edited(data: dict) -> dict:
    """One item's promised days shortened, one item withdrawn (停办), one material made optional."""
    data = json.loads(json.dumps(data))
    items = {item["code"]: item for item in data["items"]}
    items["RS-004"]["promised_days"] = 7
    items["MZ-004"]["withdrawn"] = True
    items["YB-003"]["materials"][1]["required"] = False
    return data


def enrol_reading(store: HubStore, identity, clock, device: str) -> TestStation:
    """A station of this release: it says FEATURE_CATALOG_PATCH in its enrolment request."""
    issued = issue_code(store, VILLAGE, device=device, now=clock)
    keys = KeyPair.generate()
    request, _ = enroll_request(issued.code, keys)
    response = hub_enroll(store, identity, msgspec.structs.replace(request, features=STATION_FEATURES), now=clock)
    return TestStation(keys=keys, response=response, clock=clock)


def catalog_items(store: HubStore, station_id: str) -> list:
    return [_DOWN.decode(body) for _, kind, body in store.pending_items(station_id) if kind.startswith("catalog")]


def test_show_json_round_trips_into_publish(hub_dir: Path, store: HubStore) -> None:
    data = shown(hub_dir)
    assert data["version"] == 1 and len(data["items"]) == 31 and len(data["bundles"]) == 3
    assert msgspec.convert(data, Catalog) == store.catalog()
    same = cli(hub_dir, "catalog", "publish", "-", input_text=json.dumps(data, ensure_ascii=False))
    assert same.exit_code == 0, same.output
    assert "The file is the same as version 1 in force; nothing published." in same.stdout
    assert same.stderr == ""  # every field of show --json is a catalogue field
    assert store.catalog_version() == 1


def test_dry_run_prints_the_changes_and_publishes_nothing(hub_dir: Path, store: HubStore, station) -> None:
    before = store.pending_count(station.station_id)
    result = cli(hub_dir, "catalog", "publish", "-", "--dry-run", input_text=json.dumps(edited(shown(hub_dir))))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Changes (3):",
        "  RS-004 Residents' basic pension: deregistration on death and funeral grant: "
        "promised time 10 working day(s) → 7 working day(s)",
        "  YB-003 Registration for medical treatment outside the insured area: material made optional: 异地就医备案表（个人承诺）",
        "  withdrawn (no new cases; open ones carry on): MZ-004 Old-age allowance (80 and over)",
        "Dry run: nothing published. It would be version 2, queued to 1 station(s).",
    ]
    assert store.catalog_version() == 1 and store.pending_count(station.station_id) == before
    zh = cli(hub_dir, "catalog", "publish", "-", "--dry-run", input_text=json.dumps(edited(shown(hub_dir))), lang="zh")
    assert "RS-004 城乡居民基本养老保险注销登记及丧葬补助金申领 承诺时限：10 个工作日 → 7 个工作日" in zh.stdout
    assert "试运行：未发布。发布后将为第 2 版，发往 1 个代办点。" in zh.stdout


def test_a_bad_file_exits_2_listing_every_problem_and_publishes_nothing(
    hub_dir: Path, store: HubStore, station
) -> None:
    data = shown(hub_dir)
    items = data["items"]
    items[0]["promised_days"] = 300
    items[1]["code"] = items[2]["code"]
    items[3]["materials"][0]["required"] = "yes"
    items[6]["promised_days"], items[6]["legal_days"] = 9, 5
    del items[7]["department_zh"]
    items[8]["code"] = "NOPREFIX"
    items[9]["materials"].append(dict(items[9]["materials"][0]))
    data["bundles"][0]["members"].append("ZZ-404")
    data["bundles"][2]["ordering"] = [["GA-002"], ["RS-004"]]
    items[12]["withdrawn"] = True  # MZ-001, in no bundle: fine. A member must take its bundle along:
    next(i for i in items if i["code"] == "CL-003")["withdrawn"] = True
    before = store.pending_count(station.station_id)
    result = cli(hub_dir, "catalog", "publish", "-", input_text=json.dumps(data, ensure_ascii=False))
    assert result.exit_code == 2, result.output
    lines = [line.strip() for line in result.stderr.splitlines()]
    assert lines == [
        "Error: the catalogue file has 11 problem(s); nothing was published:",
        "items[0] (RS-001).promised_days: 300 is not between 0 and 250 working days",
        "items[2] (RS-003).code: item code RS-003 repeats items[1] (RS-003)",
        'items[3] (RS-004).materials[0].required: invalid value "yes" (Expected `bool`, got `str`)',
        "items[6] (RS-007).promised_days: promised 9 working days exceeds the legal limit of 5",
        "items[7] (YB-001).department_zh: is missing",
        "items[8] (NOPREFIX).code: item code NOPREFIX has no department prefix (RS in RS-001): "
        "the prefix names the department",
        "items[9] (YB-003).materials[2].name_zh: material '居民身份证' repeats materials[0]",
        "bundles[0] (BND-NEWBORN).members: member ZZ-404 is not an item of this catalogue",
        "bundles[0] (BND-NEWBORN).ordering: the stages must list every member exactly once",
        "bundles[1] (BND-DISABILITY).members: member CL-003 is withdrawn: withdraw the bundle too, or drop the member",
        "bundles[2] (BND-AFTER-DEATH).ordering: the stages must list every member exactly once",
    ]
    assert store.catalog_version() == 1 and store.pending_count(station.station_id) == before
    zh = cli(hub_dir, "catalog", "publish", "-", input_text=json.dumps(data, ensure_ascii=False), lang="zh")
    assert zh.exit_code == 2 and zh.stderr.startswith("错误：事项目录文件有 11 处问题，未发布任何内容：")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"items": [', "file: is not valid JSON (line 1, column 12"),
        ("[1]", "file: must be a JSON object"),
        ('{"items": []}', "items: must be a non-empty list of items"),
        ('{"version": 9, "items": [{"code": "RS-001"}]}', "version: the file was edited from version 9 but version 1"),
    ],
)
def test_unreadable_or_stale_files_exit_2(hub_dir: Path, text: str, problem: str) -> None:
    result = cli(hub_dir, "catalog", "publish", "-", input_text=text)
    assert result.exit_code == 2 and problem in result.stderr, result.stderr


def test_fields_outside_the_catalogue_are_named_not_fatal(hub_dir: Path, store: HubStore) -> None:
    data = edited(shown(hub_dir))
    data["items"][0]["promised_day"] = 3  # a typo of an optional field's name is said, not lost silently
    data["items"][0]["code"] = "XX-001"
    read = read_catalog(json.dumps(data), current=store.catalog())
    assert [w.message("en") for w in read.warnings] == [
        "items[].promised_day: is not a catalogue field and was ignored (1 place(s))",
        "items: new department XX: create its accounts with 'hub user add NAME --role department --department XX'",
    ]


def test_every_station_is_queued_the_form_it_reads(hub_dir: Path, store: HubStore, identity, clock, station) -> None:
    # `station` enrolled saying no features (a release before this one): it gets the whole version,
    # without the withdrawn item. Another says FEATURE_CATALOG_PATCH.
    reader = enrol_reading(store, identity, clock, "C")
    for s in (station, reader):  # what enrolment queued (version 1, whole) goes out first
        seal_pending(store, identity, s.station_id, clock())
    read = read_catalog(json.dumps(edited(shown(hub_dir))), current=store.catalog())
    result = publish_catalog(store, read, note="RS-004 shortened", now=clock())
    assert (result.version, result.stations, result.forms) == (2, 2, {"patch": 1, "full": 0, "legacy": 1})
    _, body = store.catalog_body(2)

    (patch,) = catalog_items(store, reader.station_id)
    assert isinstance(patch, CatalogPatch) and (patch.base_version, patch.version) == (1, 2)
    assert len(patch.edits) == 3 and len(msgspec.msgpack.encode(patch)) < 800  # the 34 kB catalogue is not sent
    _, base = store.catalog_body(1)
    assert apply_edits(base, patch.edits, 2) == body
    assert (patch.base_digest, patch.digest) == (body_digest(base), body_digest(body))

    (whole,) = catalog_items(store, station.station_id)
    assert isinstance(whole, CatalogItem) and whole.version == 2
    assert b"MZ-004" not in whole.body and b"RS-004" in whole.body

    # A station enrolled now, saying the feature, gets version 2 whole; the next version as a patch.
    late = enrol_reading(store, identity, clock, "D")
    deliveries = {d.station_id: (d.form, d.feed_seq) for d in store.catalog_deliveries(2)}
    assert deliveries == {
        station.station_id: ("legacy", None),
        reader.station_id: ("patch", None),
        late.station_id: ("full", None),
    }
    sealed = seal_pending(store, identity, reader.station_id, clock())
    head = store.feed_head(reader.station_id)
    assert sealed == 1 and head is not None
    assert {d.station_id: d.feed_seq for d in store.catalog_deliveries(2)}[reader.station_id] == head[0]
    late_delivery = store.last_catalog_delivery(late.station_id)
    assert late_delivery is not None and (late_delivery.version, late_delivery.form) == (2, "full")


def test_history_lists_every_version_with_its_note_and_counts(hub_dir: Path) -> None:
    published = cli(
        hub_dir, "catalog", "publish", "-", "--note", "2027 目录调整", input_text=json.dumps(edited(shown(hub_dir)))
    )
    assert published.exit_code == 0, published.output
    assert "Published catalogue version 2; queued to 0 station(s)" in published.stdout
    history = cli(hub_dir, "catalog", "history").stdout
    assert "initial" in history and "2027 目录调整" in history
    assert "+0 added, 1 withdrawn/removed, 2 changed" in history
    plain = cli(hub_dir, "catalog", "show").stdout
    assert plain.startswith("Catalogue version 2 (in force), published ")
    assert "Note: 2027 目录调整" in plain and "withdrawn" in plain
    old = cli(hub_dir, "catalog", "show", "--version", "1", "--json")
    assert json.loads(old.stdout)["version"] == 1
    assert cli(hub_dir, "catalog", "show", "--version", "3").exit_code == 2


def test_publishing_twice_from_one_file_is_refused_as_stale(hub_dir: Path, store: HubStore) -> None:
    text = json.dumps(edited(shown(hub_dir)))
    assert cli(hub_dir, "catalog", "publish", "-", input_text=text).exit_code == 0
    again = cli(hub_dir, "catalog", "publish", "-", input_text=text)
    assert again.exit_code == 2 and "edited from version 1 but version 2 is in force" in again.stderr
    with pytest.raises(CatalogFileError):
        read_catalog(text, current=store.catalog())
    assert json.loads(catalog_json(store.catalog()))["version"] == 2


def _synced(store: HubStore, identity, station: TestStation, clock) -> None:
    """The station pulled everything queued for it and acknowledged it (its next request's feed_after)."""
    seal_pending(store, identity, station.station_id, clock())
    head = store.feed_head(station.station_id)
    with store.transaction():
        store.record_contact(
            station.station_id,
            Contact(at=iso_utc(clock()), kind="pull", ok=True, feed_after=head[0] if head else 0),
        )


def test_the_dashboard_shows_each_stations_version_and_flags_one_left_behind(
    hub_dir: Path, store: HubStore, identity, clock
) -> None:
    ahead, behind = enrol_reading(store, identity, clock, "C"), enrol_reading(store, identity, clock, "D")
    for s in (ahead, behind):
        _synced(store, identity, s, clock)
    limits = Thresholds(catalog_days=7)

    def row(station: TestStation, at_limits: Thresholds = limits) -> dict:
        (found,) = [
            r for r in station_rows(store, now=clock(), limits=at_limits) if r["station_id"] == station.station_id
        ]
        return found

    assert (row(ahead)["catalog_version"], row(ahead)["attention"]) == (1, [])
    publish_catalog(store, read_catalog(json.dumps(edited(shown(hub_dir))), current=store.catalog()), now=clock())
    _synced(store, identity, ahead, clock)
    clock.advance(days=8)
    _synced(store, identity, ahead, clock)
    with store.transaction():  # the other keeps calling, but its feed is stuck before version 2
        store.record_contact(behind.station_id, Contact(at=iso_utc(clock()), kind="pull", ok=True))
    assert (row(ahead)["catalog_version"], row(ahead)["catalog_behind_s"], row(ahead)["state"]) == (2, None, "ok")
    late = row(behind)
    assert (late["catalog_version"], late["attention"], late["state"]) == (1, ["catalog_old"], "warning")
    assert late["catalog_behind_s"] == 8 * 86400
    assert row(behind, Thresholds(catalog_days=10))["attention"] == []  # N is the hub's setting
    assert "catalogue version" in to_csv([late], "en").splitlines()[0]
    assert [v.holding for v in store.catalog_versions()] == [1, 1]


def test_a_pc_enrolled_later_gets_every_version_its_villages_cases_use_before_the_cases(
    hub_dir: Path, store: HubStore, identity, clock, station
) -> None:
    _, changes = station.new_case()  # received under version 1
    ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id, now=clock)
    data = edited(shown(hub_dir))
    publish_catalog(store, read_catalog(json.dumps(data), current=store.catalog()), now=clock())
    data["version"], data["items"][0]["promised_days"] = 2, 4
    publish_catalog(store, read_catalog(json.dumps(data), current=store.catalog()), now=clock())
    newer = enrol_reading(store, identity, clock, "E")
    queued = [_DOWN.decode(body) for _, _, body in store.pending_items(newer.station_id)]
    kinds = [(type(i).__name__, getattr(i, "version", None)) for i in queued]
    assert kinds[:2] == [("CatalogItem", 1), ("CatalogItem", 3)]  # version 2 names no case of the village
    assert ("RowChange", None) in kinds[2:]
    assert [(d.version, d.form) for d in (store.last_catalog_delivery(newer.station_id),)] == [(3, "full")]


def test_a_bundle_mapping_to_a_missing_material_is_refused(hub_dir: Path, store: HubStore) -> None:
    """Bundle.satisfied_by is checked as the loader checks it: both names must exist."""
    data = shown(hub_dir)
    data["bundles"][0]["satisfied_by"]["RS-006/居民身份证"] = "新生儿身份证"
    result = cli(hub_dir, "catalog", "publish", "-", input_text=json.dumps(data, ensure_ascii=False))
    assert result.exit_code == 2, result.output
    assert "bundles[0] (BND-NEWBORN).satisfied_by" in result.stderr and "新生儿身份证" in result.stderr
    assert store.catalog_version() == 1
