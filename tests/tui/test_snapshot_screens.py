"""SVG snapshots of the main screens at 80x24 (update with ``pytest --snapshot-update``, then review)."""

from __future__ import annotations

from textual.widgets import Input

from station import cases as ops
from sync.lifecycle import Actor, Status
from tests.station.conftest import pension_benefit_deferred, pension_enrolment
from tests.support.decisions import decide, seal
from tests.tui.conftest import SIZE, make_app, open_station, settle
from tui.widgets.materials import MaterialChecklist


def seed(station_dir, clock) -> list[str]:
    """A few cases in different states, seen on Friday 2026-10-09 (China time)."""
    with open_station(station_dir, clock) as station:
        numbers = [
            ops.new_intake(station, pension_enrolment()).number,
            ops.new_intake(station, pension_benefit_deferred()).number,
            ops.new_intake(station, pension_enrolment(applicant_name="李四")).number,
            ops.new_intake(station, pension_enrolment(applicant_name="赵六")).number,
        ]
        seal(station)  # the county asks for a correction of an intake it has received
        decide(
            station,
            numbers[2],
            Status.AWAITING_CORRECTION,
            actor=Actor.TOWNSHIP,
            reason="登记表缺少本人签字",
            by="永兴街道",
        )
        decide(station, numbers[3], Status.ACCEPTED, by="县人社局")
        decide(station, numbers[3], Status.COMPLETED, outcome="approved", by="县人社局")
    clock.moment = clock.moment.replace(month=10, day=9)
    return numbers


def test_snapshot_home(snap_compare, station_dir, clock):
    seed(station_dir, clock)
    assert snap_compare(make_app(station_dir, clock), run_before=settle, terminal_size=SIZE)


def test_snapshot_new_case_form(snap_compare, station_dir, clock):
    async def fill(pilot):
        await settle(pilot)
        await pilot.press("f3", *"ylbx", "down", "enter")
        screen = pilot.app.screen
        screen.query_one("#name", Input).value = "张桂英"
        screen.query_one("#id_number", Input).value = "1101051949123100"
        screen.query_one("#phone", Input).value = "13912345678"
        await pilot.pause()
        screen.query_one(MaterialChecklist).set_state(["居民身份证"], [])
        screen.query_one("#name", Input).focus()
        await pilot.pause()

    assert snap_compare(make_app(station_dir, clock), run_before=fill, terminal_size=SIZE)


def test_snapshot_case_list(snap_compare, station_dir, clock):
    seed(station_dir, clock)

    async def open_list(pilot):
        await settle(pilot)
        await pilot.press("f4")
        await pilot.pause()

    assert snap_compare(make_app(station_dir, clock), run_before=open_list, terminal_size=SIZE)


def test_snapshot_case_detail(snap_compare, station_dir, clock):
    numbers = seed(station_dir, clock)

    async def open_case(pilot):
        await settle(pilot)
        pilot.app.open_case(numbers[2])  # awaiting correction: the township's notice shows
        await pilot.pause()

    assert snap_compare(make_app(station_dir, clock), run_before=open_case, terminal_size=SIZE)
