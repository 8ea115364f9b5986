"""Fixtures for station tests: a controllable clock and a fresh station on disk."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.cases import NewIntake
from station.identity import set_meta
from station.store import Station, datakey
from station.store.db import write_txn
from sync.crypto import KeyPair, key_id_of
from tests.station.hubdouble import HubDouble

VILLAGE = "349921001001"
WANG = "349921195803120234"  # fictional, valid: born 1958-03-12, male
ZHANG = "11010519491231002X"  # the standard's own sample: born 1949-12-31, female
ZHAO = "34992119950612128X"  # fictional, valid: born 1995-06-12, female
PASSPHRASE = "村代办点口令2026"  # as the enrolment and CLI tests use: one station, one passphrase


@pytest.fixture(autouse=True)
def station_passphrase(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every station's data is encrypted: the passphrase comes from the environment, as in scripts.

    scrypt's cost is lowered for speed (the wrapped key records it); each test starts with no
    key unlocked in this process.
    """
    monkeypatch.setenv("STATION_PASSPHRASE", PASSPHRASE)
    monkeypatch.setattr(datakey, "KEY_WORK", 2**10)
    datakey.forget()
    yield PASSPHRASE
    datakey.forget()


class FakeClock:
    """A wall clock the test moves by hand (aware UTC)."""

    def __init__(self, start: dt.datetime) -> None:
        self.moment = start

    def __call__(self) -> dt.datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += dt.timedelta(**delta)

    def set_china_date(self, day: dt.date, hour: int = 10) -> None:
        """Move to ``hour`` o'clock China time on ``day``."""
        self.moment = dt.datetime(day.year, day.month, day.day, hour - 8, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> FakeClock:
    # 10:00 in China on Monday 2026-09-28: the brief's worked example for working days.
    return FakeClock(dt.datetime(2026, 9, 28, 2, 0, tzinfo=dt.UTC))


@pytest.fixture
def station_dir(tmp_path: Path) -> Path:
    return tmp_path / "station"


@pytest.fixture
def station(station_dir: Path, clock: FakeClock) -> Iterator[Station]:
    st = Station.init(station_dir, village_code=VILLAGE, agent_name="李代办", now=clock)
    yield st
    st.close()


HUB_URL = "http://hub.test"


@pytest.fixture
def hub(clock: FakeClock) -> HubDouble:
    """A stand-in for the county hub whose clock agrees with the station's."""
    return HubDouble(hub_ms=int(clock().timestamp() * 1000))


def pin_hub(station: Station, hub: HubDouble) -> KeyPair:
    """Enrol ``station`` with ``hub`` without the network: the pins enrolment would store."""
    keys = KeyPair.generate()
    with write_txn(station.db):
        set_meta(
            station.db,
            {
                "hub_url": HUB_URL,
                "hub_id": key_id_of(hub.keys.sign_public),
                "hub_sign_public": hub.keys.sign_public.hex(),
                "hub_box_public": hub.keys.box_public.hex(),
                "enrolled_at": "2026-09-28T02:00:00.000Z",
                "request_counter": 0,
                "feed_seq": 0,
            },
        )
    hub.adopt(station.station_id, keys)
    return keys


@pytest.fixture
def keys(station: Station, hub: HubDouble) -> KeyPair:
    """The station's key pair, the station pinned to ``hub``."""
    return pin_hub(station, hub)


def pension_enrolment(**overrides: object) -> NewIntake:
    """RS-001 (3 working days) with every required material presented."""
    fields: dict[str, object] = dict(
        item="RS-001",
        applicant_name="王小明",
        id_number=WANG,
        phone="13800138000",
        materials=["居民身份证", "城乡居民基本养老保险参保登记表"],
    )
    fields.update(overrides)
    return NewIntake(**fields)  # type: ignore[arg-type]


def pension_benefit_deferred(**overrides: object) -> NewIntake:
    """RS-002 (10 working days) with the bank account deferred under 容缺."""
    fields: dict[str, object] = dict(
        item="RS-002",
        applicant_name="张桂英",
        id_number=ZHANG,
        phone="13912345678",
        materials=["居民身份证", "待遇领取通知表（本人签字或按指纹）"],
        deferred=["社会保障卡或本人银行账户"],
    )
    fields.update(overrides)
    return NewIntake(**fields)  # type: ignore[arg-type]


NEWBORN_MATERIALS = [
    "居民身份证",
    "父母双方居民身份证",
    "出生医学证明",
    "随迁方居民户口簿",
    "城乡居民基本医疗保险参保登记表",
    "有效身份证件（身份证、户口簿等）",
]
