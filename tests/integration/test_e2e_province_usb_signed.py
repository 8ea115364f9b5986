"""County → province by USB: the upstream file is signed whole with the county's key and checked before it is read,
and a county's days offline (more sets than one request holds, more bytes than one file) cross on sticks."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from hub.keys import load_identity
from hub.settings import Settings
from hub.store import HubStore
from hub.testing import live_server
from hub.upstream import collect, seal_pending
from hub.upstream_link import FILE_MAGIC, FILE_SIGNED_PATH, SIGNED_FILE_MAGIC, export_upstream
from hub.web.app import create_app
from sync.crypto import KeyPair
from sync.protocol.upstream import MAX_COUNTY_SETS, UpstreamRequest, county_request_signature
from sync.timeutil import utc_now
from tests.integration.county import V1, County, hub

pytestmark = pytest.mark.timeout(600)

COUNTY = "349921"


def held(province: Path) -> int:
    with HubStore.open_existing(province) as store:
        return int(store.db.execute("SELECT COUNT(*) FROM county_sets WHERE county = ?", [COUNTY]).fetchone()[0])


def lag(province: Path) -> tuple[int, str | None]:
    """What the province shows of the county's lag: items waiting there, and since when."""
    with HubStore.open_existing(province) as store:
        row = store.county(COUNTY) or {}
    return int(row["pending"]), row["oldest_pending"]


def seal_a_set(county: County) -> None:
    """Whatever the county has news of goes into its next set, as a forwarding round offline leaves it."""
    with county.store() as store:
        identity = load_identity(county.hub_dir)
        collect(store, identity, now=utc_now())
        seal_pending(store, identity, now=utc_now())


def head_seq(county: County) -> int:
    with county.store() as store:
        head = store.upstream_head()
    return head[0] if head else 0


def split(path: Path) -> tuple[bytes, bytes, bytes]:
    """A signed upstream file's county, signatures and body."""
    data = path.read_bytes()
    assert data.startswith(SIGNED_FILE_MAGIC)
    county, signatures, body = data[len(SIGNED_FILE_MAGIC) :].split(b"\n", 2)
    return county, signatures, body


def test_a_county_offline_for_days_crosses_on_signed_sticks_checked_before_they_are_read(
    live_county: County, province_dir: Path, tmp_path: Path
) -> None:
    a = live_county.enrol(V1)
    a.new_case("张三", 1)
    a.sync()
    # The county enrols by HTTP once (the province's keys must be pinned), then has no link for days. Here as
    # a county of an earlier release first, which signs nothing.
    with live_server(create_app(Settings(data_dir=province_dir))) as url:
        live_county.enrol_upstream(province_dir, url, COUNTY, as_older=True)
    # An older county's unsigned file is taken while the county never signed anything.
    seal_a_set(live_county)
    stick, answer = tmp_path / "stick.bin", tmp_path / "answer.bin"
    assert hub(live_county.hub_dir, "upstream", "export", str(stick))[0] == 0
    _, _, body = split(stick)
    older = tmp_path / "older.bin"
    older.write_bytes(FILE_MAGIC + body)
    code, out, err = hub(province_dir, "county", "import", str(older), "--answer", str(answer))
    assert code == 0, err
    assert held(province_dir) == head_seq(live_county) == 1
    assert hub(live_county.hub_dir, "upstream", "import-answer", str(answer))[0] == 0
    # Days offline: more sets than one request may carry.
    for serial in range(2, MAX_COUNTY_SETS + 5):
        a.new_case("李四", serial)
        a.sync()
        seal_a_set(live_county)
    sets = head_seq(live_county) - 1
    assert sets > MAX_COUNTY_SETS
    code, out, err = hub(live_county.hub_dir, "upstream", "export", str(stick))
    assert code == 0 and f"Wrote {stick}: {sets} set(s) from set 2" in out, out + err
    county_line, signatures, body = split(stick)
    assert county_line == COUNTY.encode() and signatures
    # The true stick: every set taken, the answer brings the county up to date.
    code, out, err = hub(province_dir, "county", "import", str(stick), "--answer", str(answer))
    assert code == 0, err
    assert f"{sets} set(s) taken" in out
    assert held(province_dir) == head_seq(live_county) == sets + 1
    true_lag = lag(province_dir)
    assert true_lag[0] > 0 and true_lag[1] is not None
    # Each alteration is refused before the body is read (exit 2, nothing taken, the lag the county reported
    # kept): the lag fields (they sit outside every set's own signature), a body signed by another key, the
    # signature cut off (the county has signed a file: no unsigned one is taken in its name now), a header
    # naming another county.
    request = msgspec.msgpack.decode(body, type=UpstreamRequest)
    lag_hidden = msgspec.msgpack.encode(msgspec.structs.replace(request, pending=0, oldest_pending=None))
    forged = county_request_signature([KeyPair.generate().sign_private], FILE_SIGNED_PATH, body).encode()
    another = tmp_path / "another"
    attempts = {
        "does not verify": SIGNED_FILE_MAGIC + county_line + b"\n" + signatures + b"\n" + lag_hidden,
        "does not verify under the county's key": SIGNED_FILE_MAGIC + county_line + b"\n" + forged + b"\n" + body,
        "it is not signed": FILE_MAGIC + body,
        "not enrolled here": SIGNED_FILE_MAGIC + b"349922\n" + signatures + b"\n" + body,
    }
    for name, data in attempts.items():
        another.write_bytes(data)
        code, _, err = hub(province_dir, "county", "import", str(another))
        assert code == 2 and name in err, (name, err)
        assert held(province_dir) == sets + 1 and lag(province_dir) == true_lag, name
    assert hub(live_county.hub_dir, "upstream", "import-answer", str(answer))[0] == 0
    code, out, _ = hub(live_county.hub_dir, "upstream", "status", "--json")
    assert '"pending_items": 0' in out


def test_a_backlog_larger_than_one_file_continues_in_the_next(
    live_county: County, province_dir: Path, tmp_path: Path
) -> None:
    a = live_county.enrol(V1)
    code, out, _ = hub(province_dir, "county", "add", "--county", COUNTY)
    with live_server(create_app(Settings(data_dir=province_dir))) as url:
        code, out, err = hub(live_county.hub_dir, "upstream", "enroll", "--url", url, "--code", out.splitlines()[-1])
        assert code == 0, out + err
    # A county of this release said at its enrolment that it signs: no unsigned file is taken in its name, even
    # before its first signed one.
    a.new_case("王五", 99)
    a.sync()
    stick = tmp_path / "stick.bin"
    assert hub(live_county.hub_dir, "upstream", "export", str(stick))[0] == 0
    stripped = tmp_path / "stripped.bin"
    stripped.write_bytes(FILE_MAGIC + split(stick)[2])
    code, _, err = hub(province_dir, "county", "import", str(stripped))
    assert code == 2 and "it is not signed" in err
    assert held(province_dir) == 0
    for serial in range(1, 9):
        a.new_case("王五", serial)
        a.sync()
        seal_a_set(live_county)
    total = head_seq(live_county)
    with live_county.store() as store:
        sizes = [len(e) for _, e in store.upstream_sets_after(0, 100)]
    identity = load_identity(live_county.hub_dir)
    answer = tmp_path / "answer.bin"
    taken = 0
    while taken < total:
        with live_county.store() as store:
            # Room for about three sets beside the header's margin.
            written = export_upstream(
                store, identity, stick, now=utc_now(), max_bytes=64 * 1024 + sum(sizes[taken : taken + 3])
            )
        assert written.first_seq == taken + 1 and 1 <= written.sets <= 3
        assert written.left == total - taken - written.sets
        code, _, err = hub(province_dir, "county", "import", str(stick), "--answer", str(answer))
        assert code == 0, err
        assert hub(live_county.hub_dir, "upstream", "import-answer", str(answer))[0] == 0
        taken += written.sets
        assert held(province_dir) == taken
    assert taken == total and total >= 8
