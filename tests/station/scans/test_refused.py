"""Pages the county will never take (their record refused, or their case not filed) are kept, not sent, not waiting."""

from __future__ import annotations

import json

from click.testing import CliRunner

from station import cases as ops
from station.cli import main
from station.feed import apply_feed_set
from station.scans.store import attach_pages, backlog, list_attachments
from station.sealing import seal_pending
from station.store import Station
from station.store.schema import m008_refused_rows
from sync.protocol import FEATURE_SCANS, RejectedItem
from tests.station.conftest import pension_enrolment
from tests.station.scans.pages import page

ID_CARD = "居民身份证"


def _sealed(station: Station, keys) -> list[tuple[str, str]]:
    """Seal the outbox; the set's records in order, (entity, entity_id), as the hub numbers them."""
    station.meta.update({"hub_features": str(FEATURE_SCANS)})  # a hub that takes pages
    (seq,) = seal_pending(station, keys)
    return station.db.execute("SELECT entity, entity_id FROM outbox WHERE set_seq = ? ORDER BY id", [seq]).fetchall()


def _refuse(station, hub, keys, records, entity: str, entity_id: str, code: str) -> None:
    """The county's feed brings its refusal of the record that created ``entity_id`` (as the hub sends it)."""
    index = records.index((entity, entity_id))
    item = RejectedItem(
        seq=1,
        index=index,
        entity=entity,
        entity_id=entity_id,
        code=code,
        reason_en=f"{entity} {entity_id[:40]}: refused ({code})",
        reason_zh=f"{entity} {entity_id[:40]}：拒收（{code}）",
    )
    assert apply_feed_set(station, hub.feed_set(item), keys).applied


def _cli(station_dir, *args: str):
    env = {"STATION_DATA_DIR": str(station_dir), "LANG": "", "LC_ALL": ""}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_a_page_whose_record_the_county_refused_is_kept_shown_refused_and_not_waiting(station, hub, keys, station_dir):
    case_no = ops.new_intake(station, pension_enrolment()).number
    bad, good = attach_pages(station, case_no, ID_CARD, [page(1), page(2)])
    records = _sealed(station, keys)
    assert backlog(station).pages == 2
    _refuse(station, hub, keys, records, "attachments", bad.attachment_id, "malformed")

    waiting = backlog(station)
    assert waiting.pages == 1 and waiting.total == good.size  # the refused page will never go: not waiting
    rows = {r.sha256: r for r in list_attachments(station, case_no)}
    assert rows[good.sha256].refused is None
    refused = rows[bad.sha256].refused
    assert refused is not None and (refused.code, refused.entity) == ("malformed", "attachments")
    # Kept here, nothing lost: its bytes and its record stay.
    assert station.db.execute("SELECT data IS NOT NULL FROM scan_blobs WHERE sha256 = ?", [bad.sha256]).fetchone()[0]
    station.close()

    listed = json.loads(_cli(station_dir, "case", "attachments", case_no, "--json").output)
    by_hash = {row["sha256"]: row for row in listed}
    assert by_hash[good.sha256]["refused"] is None
    assert by_hash[bad.sha256]["refused"]["code"] == "malformed"
    assert "refused (malformed)" in by_hash[bad.sha256]["refused"]["reason_en"]
    text = _cli(station_dir, "--lang", "en", "case", "attachments", case_no).output
    (line,) = [line for line in text.splitlines() if bad.sha256[:16] in line]
    assert "refused by the county, kept here, not sent" in line and "refused (malformed)" in line
    (other,) = [line for line in text.splitlines() if good.sha256[:16] in line]
    assert "waiting (0 %)" in other
    zh = _cli(station_dir, "case", "attachments", case_no).output
    assert "县平台拒收，本站保留、不再上传" in zh


def test_the_pages_of_a_case_the_county_refused_to_file_do_not_wait(station, hub, keys):
    refused_case = ops.new_intake(station, pension_enrolment()).number
    other_case = ops.new_intake(station, pension_enrolment(applicant_name="李四")).number
    attach_pages(station, refused_case, ID_CARD, [page(1), page(2)])
    attach_pages(station, other_case, ID_CARD, [page(2)])  # the same page, on a case the county files
    records = _sealed(station, keys)
    _refuse(station, hub, keys, records, "cases", refused_case, "duplicate_row")

    assert backlog(station).pages == 1  # page 2 still goes, for the other case; page 1 never will
    pages = list_attachments(station, refused_case)
    assert all(p.refused is not None and p.refused.code == "duplicate_row" for p in pages)
    assert all(p.refused.entity == "cases" for p in pages if p.refused)
    assert [p.refused for p in list_attachments(station, other_case)] == [None]


def test_a_refused_edit_of_a_page_the_county_holds_leaves_it_waiting(station, hub, keys):
    """Only a refusal of the record that created the row keeps a page back: the county holds the others."""
    case_no = ops.new_intake(station, pension_enrolment()).number
    (row,) = attach_pages(station, case_no, ID_CARD, [page(1)])
    _sealed(station, keys)
    attach_pages(station, case_no, "居民户口簿", [page(1)])  # moved to another material: an update
    (seq,) = seal_pending(station, keys)
    index = station.db.execute("SELECT COUNT(*) FROM outbox WHERE set_seq = ?", [seq]).fetchone()[0] - 1
    item = RejectedItem(
        seq=seq,
        index=index,
        entity="attachments",
        entity_id=row.attachment_id,
        code="stale",
        reason_en="e",
        reason_zh="z",
    )
    assert apply_feed_set(station, hub.feed_set(item), keys).applied
    assert backlog(station).pages == 1
    assert [p.refused for p in list_attachments(station, case_no)] == [None]


def test_refusals_received_before_the_upgrade_are_settled_from_the_outbox(station, hub, keys):
    case_no = ops.new_intake(station, pension_enrolment()).number
    bad, _ = attach_pages(station, case_no, ID_CARD, [page(1), page(2)])
    records = _sealed(station, keys)
    _refuse(station, hub, keys, records, "attachments", bad.attachment_id, "malformed")
    # The database as the release before left it: the refusal there, no column saying what it struck.
    station.db.execute("DROP INDEX rejections_created")
    station.db.execute("ALTER TABLE rejections DROP COLUMN created")
    station.db.execute("DROP TABLE joint_opinions")  # m008's other table, not there before either
    station.db.commit()
    m008_refused_rows(station.db)
    station.db.commit()
    assert station.db.execute("SELECT entity_id, created FROM rejections").fetchall() == [(bad.attachment_id, 1)]
    assert backlog(station).pages == 1
