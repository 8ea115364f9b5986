"""Train the zstd dictionaries that compress change-set bodies (sync/data/changes-v*.zdict).

Run by hand when the record shapes change: ``python -m tools.train_dictionary``. It records
synthetic days of intakes at random villages (seeded, so the training set is reproducible),
takes each intake's changes, and runs of 2-20 intakes, as samples, adds the down-feed records a
station receives, and trains a dictionary: 64 KiB over the compact form for ``zstd-r2``
(the default), 16 KiB over the plain array for ``zstd-d1`` (``--method zstd-d1 --size 16384
--days 40``). A dictionary, once shipped, is never changed: a new one gets a new method name
and every one stays readable (docs/protocol.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
from pathlib import Path

import msgspec
import zstandard

from station import cases as ops
from station.cases import NewIntake
from station.store import Station
from sync.changes import StatusChange
from sync.compact import compact
from sync.compression import ZSTD_D1, ZSTD_R2, msgpack_array
from sync.divisions import sample_divisions
from sync.idnumber import check_character
from sync.intake import material_rules
from sync.protocol import CaseState, ReceiptItem

DATA = Path(__file__).resolve().parent.parent / "sync" / "data"
OUT = {ZSTD_D1: DATA / "changes-v1.zdict", ZSTD_R2: DATA / "changes-v2.zdict"}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂华建国志红玉珍凤春海"


def _day(rng: random.Random, village: str, day: dt.date, cases: int) -> list[list[bytes]]:
    """Each intake's records, for ``cases`` intakes at ``village`` on ``day``."""
    moment = [dt.datetime(day.year, day.month, day.day, 0, 30, tzinfo=dt.UTC)]
    with tempfile.TemporaryDirectory() as folder:
        station = Station.init(
            Path(folder) / "s", village_code=village, passphrase="dictionary-sample", now=lambda: moment[0]
        )
        items = [item for item in station.catalog.items if item.promised_days is not None]
        samples = []
        for _ in range(cases):
            moment[0] += dt.timedelta(
                minutes=rng.randint(3, 40), seconds=rng.randint(0, 59), milliseconds=rng.randint(0, 999)
            )
            item = rng.choice(items)
            rules = material_rules(station.catalog, item=item.code)
            needed = [r for r in rules if r.required]
            deferred = [r.name_zh for r in needed if r.allow_deferred and rng.random() < 0.3]
            body = f"349921{rng.randint(1940, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
            before = station.db.execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()[0]
            ops.new_intake(
                station,
                NewIntake(
                    item=item.code,
                    applicant_name=rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2))),
                    id_number=body + check_character(body),
                    phone=f"1{rng.choice('3578')}{rng.randint(0, 10**9 - 1):09d}",
                    materials=[r.name_zh for r in needed if r.name_zh not in deferred],
                    deferred=deferred,
                ),
            )
            rows = station.db.execute("SELECT body FROM outbox WHERE id > ? ORDER BY id", [before]).fetchall()
            samples.append([bytes(b) for (b,) in rows])
        station.close()
    return samples


def _down_samples(rng: random.Random, village: str, day: dt.date, n: int) -> list[list[bytes]]:
    encoder = msgspec.msgpack.Encoder()
    out = []
    for i in range(n):
        case_no = f"{village}-{day:%Y%m%d}-A{i + 1:03d}"
        at = dt.datetime(day.year, day.month, day.day, 8, rng.randint(0, 59), tzinfo=dt.UTC)
        stamp = int(at.timestamp() * 1000) << 16
        move = StatusChange(
            event_id=f"hub:{stamp}",
            case_no=case_no,
            from_status="RECEIVED",
            to_status="ACCEPTED",
            actor="department",
            hlc=stamp,
            at=at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            origin="hub",
        )
        state = CaseState(
            case_no=case_no,
            status="ACCEPTED",
            accepted_date=day.isoformat(),
            due_date=(day + dt.timedelta(days=rng.randint(1, 30))).isoformat(),
            through_seq=rng.randint(1, 50),
        )
        receipt = ReceiptItem(rng.randbytes(180))
        out.append([encoder.encode(move), encoder.encode(state), encoder.encode(receipt)])
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.train_dictionary", description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=sorted(OUT), default=ZSTD_R2, help="the method whose dictionary to train")
    parser.add_argument("--days", type=int, default=80, help="synthetic station-days to record")
    parser.add_argument("--size", type=int, default=64 * 1024, help="dictionary size in bytes")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--out", type=Path, help="where to write it (default: the method's file in sync/data)")
    args = parser.parse_args(argv)
    form = compact if args.method == ZSTD_R2 else msgpack_array
    rng = random.Random(args.seed)
    villages = [v.code for v in sample_divisions().villages()]
    samples: list[bytes] = []
    for index in range(args.days):
        village = rng.choice(villages)
        day = dt.date(2026, 3, 2) + dt.timedelta(days=index * 5)
        intakes = _day(rng, village, day, rng.randint(8, 25))
        samples += [form(records) for records in intakes]
        if args.method == ZSTD_R2:
            # A day's work is sealed together: runs of intakes teach the string table's references.
            start = 0
            while start < len(intakes):
                run = rng.randint(2, 20)
                samples.append(form([r for records in intakes[start : start + run] for r in records]))
                start += run
        samples += [form(records) for records in _down_samples(rng, village, day, 5)]
        print(f"day {index + 1}/{args.days}: {len(samples)} samples", file=sys.stderr)
    dictionary = zstandard.train_dictionary(args.size, samples, threads=1)
    out = args.out or OUT[args.method]
    out.write_bytes(dictionary.as_bytes())
    print(f"wrote {out} ({len(dictionary.as_bytes())} bytes, id {dictionary.dict_id()}) from {len(samples)} samples")


if __name__ == "__main__":
    main()
