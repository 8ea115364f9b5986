"""Case detail: what it shows (history, decisions, sync facts) and the station's moves with their errors."""

from __future__ import annotations

from textual.widgets import Input

from station import cases as ops
from station.queries import get_case
from sync.lifecycle import Actor, Status
from tests.station.conftest import pension_benefit_deferred, pension_enrolment
from tests.support.decisions import decide, seal
from tests.tui.conftest import SIZE, make_app, open_station, run, screen_text
from tui.screens.case_actions import ActionDialog
from tui.screens.case_detail import CaseDetailScreen
from tui.widgets.checkbox import Check


def completed_case(station_dir, clock, intake=pension_enrolment) -> str:
    """A case the county accepted and approved: ready to deliver."""
    with open_station(station_dir, clock) as station:
        case_no = ops.new_intake(station, intake()).number
        clock.advance(hours=2)
        decide(station, case_no, Status.ACCEPTED, by="县人社局")
        clock.advance(days=1)
        decide(station, case_no, Status.COMPLETED, outcome="approved", by="县人社局")
    return case_no


async def open_detail(app, pilot, case_no: str) -> CaseDetailScreen:
    await pilot.pause()
    app.open_case(case_no)
    await pilot.pause()
    assert isinstance(app.screen, CaseDetailScreen)
    return app.screen


def test_delivery_of_a_completed_case(station_dir, clock):
    case_no = completed_case(station_dir, clock)
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_detail(app, pilot, case_no)
            text = screen.render_text().plain
            assert "已办结 / 准予" in text and "> " in text and "县人社局" in text  # the county's decision, marked
            await pilot.press("d")
            await pilot.pause()
            assert isinstance(app.screen, ActionDialog)
            await pilot.press(*"已当面交给本人", "ctrl+s")
            await pilot.pause()
            assert app.screen is screen
            assert "已送达" in screen.render_text().plain
            shown = {b.action for _, b, enabled, _ in screen.active_bindings.values() if enabled}
            assert "deliver" not in shown  # delivered: the move is gone

    run(scenario)
    with open_station(station_dir, clock) as station:
        detail = get_case(station, case_no)
        assert detail.summary.status == Status.DELIVERED
        assert [n.text for n in detail.notes] == ["已当面交给本人"]


def test_delivery_refused_while_a_commitment_is_open_says_why_in_the_users_language(station_dir, clock):
    case_no = completed_case(station_dir, clock, intake=pension_benefit_deferred)
    app = make_app(station_dir, clock, lang="en")

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await open_detail(app, pilot, case_no)
            await pilot.press("d", "ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, ActionDialog)  # still open: the agent reads why
            assert "held until the promised materials are supplied" in screen_text(app)
            await pilot.press("escape")
            await pilot.pause()
            await pilot.press("m")  # supply the promised material: the commitment is fulfilled
            await pilot.pause()
            app.screen.query_one(Check).value = True
            await pilot.press("ctrl+s")
            await pilot.pause()
            await pilot.press("d", "ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, CaseDetailScreen)
            assert "delivered" in app.screen.render_text().plain

    run(scenario)


def test_withdraw_needs_a_reason(station_dir, clock):
    with open_station(station_dir, clock) as station:
        case_no = ops.new_intake(station, pension_enrolment()).number
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await open_detail(app, pilot, case_no)
            await pilot.press("w", "ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, ActionDialog)  # refused: no reason given
            app.screen.query_one("#f-reason", Input).value = "申请人改为下月办理"
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert "已撤回" in app.screen.render_text().plain

    run(scenario)
    with open_station(station_dir, clock) as station:
        assert get_case(station, case_no).history[-1].reason == "申请人改为下月办理"


def test_correction_notice_and_correct_intake(station_dir, clock):
    with open_station(station_dir, clock) as station:
        case_no = ops.new_intake(station, pension_enrolment(phone="13800138000")).number
        seal(station)  # the county asks for a correction of an intake it has received
        decide(station, case_no, Status.AWAITING_CORRECTION, actor=Actor.TOWNSHIP, reason="参保登记表缺少本人签字")
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_detail(app, pilot, case_no)
            assert "补正通知: 参保登记表缺少本人签字" in screen.render_text().plain
            await pilot.press("c")
            await pilot.pause()
            app.screen.query_one("#f-phone", Input).value = "13912345678"
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert "已收件" in screen.render_text().plain.split("\n")[2]  # handed back in: RECEIVED again

    run(scenario)
    with open_station(station_dir, clock) as station:
        detail = get_case(station, case_no)
        assert detail.phone == "13912345678" and detail.summary.status == Status.RECEIVED


def test_detail_shows_rejections_conflicts_and_the_hub_receipt(station_dir, clock):
    with open_station(station_dir, clock) as station:
        case_no = ops.new_intake(station, pension_enrolment()).number
        db = station.db
        db.execute(
            "INSERT INTO sets_out (seq, hash, envelope, changes, created_at, acked_at, receipt) "
            "VALUES (1, ?, x'00', 3, '2026-09-28T02:01:00.000Z', '2026-09-28T02:02:00.000Z', NULL)",
            [bytes(32)],
        )
        db.execute("UPDATE outbox SET set_seq = 1")
        db.execute(
            "INSERT INTO rejections (seq, idx, entity, entity_id, code, reason_en, reason_zh, received_at) "
            "VALUES (1, 0, 'cases', ?, 'illegal_transition', 'the case was already accepted', "
            "'该办件已被受理，不能再更正', '2026-09-28T02:03:00.000Z')",
            [case_no],
        )
        db.execute(
            "INSERT INTO conflicts (tbl, pk, field, kept, kept_hlc, kept_origin, lost, lost_hlc, lost_origin, "
            "detected_at) VALUES ('cases', ?, 'phone', '13912345678', 2, 'hub', '13800138000', 1, 'A', "
            "'2026-09-28T02:03:00.000Z')",
            [case_no],
        )
        db.commit()
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            text = (await open_detail(app, pilot, case_no)).render_text().plain
            # codes, fields and origins by their Chinese labels, never the raw English code
            assert "该办件已被受理，不能再更正" in text and "[状态变更不合规]" in text
            assert "illegal_transition" not in text and "(hub)" not in text
            assert "电话：保留“13912345678”(县平台)" in text and "覆盖“13800138000”(A)" in text
            assert "第1批" in text and "已确认 2026-09-28 10:02" in text
            assert "县平台已确认接收" in text  # every set carrying the case is acknowledged

    run(scenario)
