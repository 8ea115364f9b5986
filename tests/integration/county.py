"""A small county for end-to-end tests: one real hub (uvicorn on loopback) and real station folders."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
from click.testing import CliRunner

from hub import upstream_link
from hub.cli import main
from hub.decisions import decide
from hub.enroll import issue_code, revoke_station
from hub.keys import load_identity
from hub.province import issue_county_code
from hub.settings import Settings
from hub.store import HubStore
from hub.testing import live_server
from hub.upstream_link import enroll_upstream
from hub.web.app import create_app
from station import cases as ops
from station.cases import NewIntake
from station.enrolment import enroll
from station.identity import load_keypair
from station.link import SyncReport, sync_once
from station.queries import get_case
from station.store import Station
from sync.crypto import KeyPair
from sync.idnumber import check_character
from sync.protocol.upstream import CountyEnrollRequest
from sync.timeutil import utc_now

PASSPHRASE = "village-passphrase-1"
V1 = "349921001001"
V2 = "349921002001"


def make_id(serial: int, year: int = 1960) -> str:
    """A valid resident ID number, different for each serial."""
    body = f"349921{year}{(serial % 12) + 1:02d}{(serial % 28) + 1:02d}{serial % 1000:03d}"
    return body + check_character(body)


def pension_enrolment(name: str, serial: int) -> NewIntake:
    return NewIntake(
        item="RS-001",
        applicant_name=name,
        id_number=make_id(serial),
        phone=f"138{serial:08d}",
        materials=["居民身份证", "城乡居民基本养老保险参保登记表"],
    )


@dataclass
class TestStationHandle:
    """A real station data folder, enrolled to the hub, with its unwrapped keys."""

    data_dir: Path
    keys: KeyPair
    station_id: str
    village: str
    county: County

    @contextlib.contextmanager
    def open(self) -> Iterator[Station]:
        station = Station.open(self.data_dir)
        try:
            yield station
        finally:
            station.close()

    def new_case(self, name: str, serial: int) -> str:
        with self.open() as station:
            return ops.new_intake(station, pension_enrolment(name, serial)).number

    def sync(self, *, url: str | None = None, transport: httpx.BaseTransport | None = None) -> SyncReport:
        return sync_once(
            self.data_dir,
            hub_url=url or self.county.url,
            transport=transport,
            keys=self.keys,
            timeout=10.0,
            sleep=lambda _: None,
        )

    def cases(self) -> dict[str, dict[str, Any]]:
        """case_no → the fields every replica must agree on."""
        with self.open() as station:
            rows = station.db.execute(
                "SELECT case_no, status, outcome, applicant_name, phone, id_number, item_code FROM cases"
            ).fetchall()
        return {
            r[0]: dict(zip(("status", "outcome", "applicant_name", "phone", "id_number", "item_code"), r[1:]))
            for r in rows
        }

    def case(self, case_no: str):
        with self.open() as station:
            return get_case(station, case_no)


def hub(data_dir: Path, *args: str) -> tuple[int, str, str]:
    """``hub --data-dir DATA_DIR --lang en ARGS``, in this process: (exit code, stdout, stderr)."""
    result = CliRunner().invoke(main, ["--data-dir", str(data_dir), "--lang", "en", *args])
    return result.exit_code, result.stdout, result.stderr


@dataclass
class County:
    """The hub's folder and URL, and the stations enrolled to it."""

    hub_dir: Path
    url: str
    root: Path
    stations: list[TestStationHandle] = field(default_factory=list)

    @contextlib.contextmanager
    def store(self) -> Iterator[HubStore]:
        with HubStore.open_existing(self.hub_dir) as store:
            yield store

    def enrol(self, village: str = V1) -> TestStationHandle:
        with self.store() as store:
            issued = issue_code(store, village)
        data_dir = self.root / f"station-{len(self.stations) + 1}"
        result = enroll(data_dir, hub_url=self.url, code=issued.code, passphrase=PASSPHRASE, key_work=2**10)
        handle = TestStationHandle(data_dir, load_keypair(data_dir, PASSPHRASE), result.station_id, village, self)
        self.stations.append(handle)
        return handle

    def enrol_upstream(
        self, province_dir: Path, province_url: str, county: str = "349921", *, as_older: bool = False
    ) -> None:
        """Enrol this county's hub at the province in ``province_dir`` (served at ``province_url``);
        ``as_older``: with the request a county of an earlier release sends (no ``signs_requests``)."""
        with HubStore.open_existing(province_dir) as store:
            code, _ = issue_county_code(store, county, expires_hours=1, now=utc_now())
        older = contextlib.nullcontext()
        if as_older:

            def older_request(**fields: Any) -> CountyEnrollRequest:
                return CountyEnrollRequest(**{**fields, "signs_requests": False})

            older = mock.patch.object(upstream_link, "CountyEnrollRequest", older_request)
        with self.store() as store, older:
            enroll_upstream(store, load_identity(self.hub_dir), url=province_url, code=code, now=utc_now())

    def decide(self, case_no: str, status: str, **kwargs: Any) -> None:
        with self.store() as store:
            decide(store, case_no, status, **kwargs)

    def revoke(self, station_id: str) -> None:
        with self.store() as store:
            revoke_station(store, station_id, reason="test")

    def hub_cases(self, village: str | None = None) -> dict[str, dict[str, Any]]:
        with self.store() as store:
            rows = store.list_cases(village_code=village, limit=1_000_000)
        return {
            r["case_no"]: {k: r[k] for k in ("status", "outcome", "applicant_name", "phone", "id_number", "item_code")}
            for r in rows
        }

    def sync_all(self, rounds: int = 2) -> None:
        for _ in range(rounds):
            for handle in self.stations:
                handle.sync()

    def assert_converged(self) -> None:
        """Every replica holds exactly the hub's cases of its village, field for field."""
        for handle in self.stations:
            assert handle.cases() == self.hub_cases(handle.village), handle.station_id


@contextlib.contextmanager
def county(root: Path, template: Path) -> Iterator[County]:
    hub_dir = root / "hub"
    shutil.copytree(template, hub_dir)
    with live_server(create_app(Settings(data_dir=hub_dir))) as url:
        yield County(hub_dir=hub_dir, url=url, root=root)
