"""The new-case form: item search, live ID and phone checks, materials and 容缺, save and receipt."""

from __future__ import annotations

import datetime as dt

from textual.widgets import Input, OptionList, Static

from station.queries import get_case, list_cases
from tests.tui.conftest import SIZE, ZHANG, make_app, open_station, run, screen_text
from tui.drafts import NEW_CASE, DraftStore
from tui.receipt import open_receipt
from tui.screens.intake_done import IntakeDoneScreen
from tui.screens.new_case import NewCaseScreen
from tui.widgets.checkbox import Check
from tui.widgets.materials import MaterialChecklist


async def type_into(pilot, widget_id: str, text: str) -> None:
    pilot.app.screen.query_one(f"#{widget_id}", Input).focus()
    await pilot.pause()
    await pilot.press("end", *text)  # focusing selects the text; End keeps it


def tick(app, name: str, *, defer: bool = False) -> str:
    """The id of the checkbox of material ``name`` (or of its 容缺 toggle)."""
    checklist = app.screen.query_one(MaterialChecklist)
    index = [r.name_zh for r in checklist.rules].index(name)
    return f"#{'defer' if defer else 'mat'}-{index}"


def test_full_intake_with_deferred_material(station_dir, clock):
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f3")
            await pilot.pause()
            assert isinstance(app.screen, NewCaseScreen)
            await pilot.press(*"rs002", "enter")
            await pilot.pause()
            assert "RS-002" in str(app.screen.query_one("#item_chosen", Static).render())
            await type_into(pilot, "name", "张桂英")  # CJK typed key by key
            # Long numbers are pasted in (typing is tested below; each key press costs the test ~60 ms).
            app.screen.query_one("#id_number", Input).value = ZHANG
            app.screen.query_one("#phone", Input).value = "13912345678"
            for name in ("居民身份证", "待遇领取通知表（本人签字或按指纹）"):
                app.screen.query_one(tick(app, name), Check).focus()
                await pilot.press("space")
            deferred = tick(app, "社会保障卡或本人银行账户", defer=True)
            assert "2026-10-10" in str(app.screen.query_one(deferred, Check).label)  # 5 working days (Oct holiday)
            app.screen.query_one(deferred, Check).focus()
            await pilot.press("space")
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, IntakeDoneScreen), screen_text(app)
            summary = app.screen.summary()
            case_no = f"{app.station.village_code}-20260928-A001"
            assert case_no in summary and "2026-10-16" in summary and "社会保障卡或本人银行账户" in summary
            await pilot.press("enter")
            await pilot.pause()
            assert app.screen.query_one("#name", Input).value == ""  # a fresh form for the next resident

    run(scenario)
    station = open_station(station_dir, clock)
    detail = get_case(station, f"{station.village_code}-20260928-A001")
    assert detail.applicant_name == "张桂英" and detail.sex == "F" and detail.birth_date == "1949-12-31"
    assert [(c.material, c.status) for c in detail.commitments] == [("社会保障卡或本人银行账户", "open")]
    # The receipt is kept encrypted (tests/tui/test_receipt_at_rest.py); opened, it reads right.
    assert [p.suffix for p in (station_dir / "receipts").iterdir()] == [".receipt"]
    txt_path, pdf_path = open_receipt(station_dir, detail.summary.case_no)
    text = txt_path.read_text(encoding="utf-8-sig")
    assert detail.summary.case_no in text and "容缺" in text and "110105********002X" in text and ZHANG not in text
    assert pdf_path.read_bytes().startswith(b"%PDF")
    assert not DraftStore(station_dir).exists(NEW_CASE)  # the draft held personal data: gone once saved


def test_wrong_id_is_explained_while_typing_then_the_message_goes(station_dir, clock):
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f3")
            await type_into(pilot, "id_number", "99")
            message = app.screen.query_one("#id_msg", Static)
            assert "前两位" in str(message.render())  # the province code is wrong already
            await pilot.press("backspace", "backspace", *"34992119580312023")
            assert str(message.render()) == "" and not message.display
            await pilot.press("5")  # wrong check character
            assert "校验" in str(message.render())
            assert app.screen.query_one("#id_number", Input).has_class("-invalid")
            await pilot.press("backspace", "4")
            shown = str(message.render())
            assert "校验" not in shown and "1958-03-12" in shown and "男" in shown  # birth date and sex filled in
            assert not app.screen.query_one("#id_number", Input).has_class("-invalid")

    run(scenario)


def test_phone_is_checked_without_nagging_mid_number(station_dir, clock):
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f3")
            await type_into(pilot, "phone", "1391234")
            message = app.screen.query_one("#phone_msg", Static)
            assert str(message.render()) == ""  # still typing: not wrong yet
            await pilot.press("tab")  # leaving the field: now it is too short
            assert "11" in str(message.render())
            await type_into(pilot, "phone", "5678")
            assert str(message.render()) == ""

    run(scenario)


def test_search_by_pinyin_initials_finds_pension_items(station_dir, clock):
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f3")
            await pilot.press(*"ylbx")
            await pilot.pause()
            results = app.screen.query_one("#item_results", OptionList)
            shown = [str(results.get_option_at_index(i).prompt) for i in range(results.option_count)]
            assert shown and all(("养老保险" in s) or ("医疗保险" in s) for s in shown)
            assert sum("养老保险" in s for s in shown) == 5  # RS-001 to RS-005
            await pilot.press("enter")
            await pilot.pause()
            assert "养老保险" in str(app.screen.query_one("#item_chosen", Static).render())

    run(scenario)


def test_missing_material_that_may_not_wait_blocks_save_with_reason(station_dir, clock):
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f3", *"RS-001", "enter")
            for widget_id, value in (("name", "王小明"), ("id_number", "349921195803120234"), ("phone", "13800138000")):
                app.screen.query_one(f"#{widget_id}", Input).value = value
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, NewCaseScreen)
            problems = str(app.screen.query_one("#problems", Static).render())
            assert "居民身份证" in problems and "城乡居民基本养老保险参保登记表" in problems
            assert "居民户口簿" not in problems  # exempt: the county fetches it by data sharing
            assert app.screen.query_one("#block-0", Static).display

    run(scenario)
    station = open_station(station_dir, clock)
    assert list_cases(station) == []


def test_due_date_in_an_unpublished_year_is_marked_provisional(station_dir, clock):
    clock.set_china_date(dt.date(2026, 12, 28))
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f3", *"RS-004", "enter")
            screen = app.screen
            screen.query_one("#name", Input).value = "王小明"
            screen.query_one("#id_number", Input).value = "349921195803120234"
            screen.query_one("#phone", Input).value = "13800138000"
            await pilot.pause()
            checklist = screen.query_one(MaterialChecklist)
            checklist.set_state(
                ["死亡证明或户籍注销证明", "参保人居民身份证", "领取人居民身份证", "领取人银行账户"], []
            )
            await pilot.press("ctrl+s")
            await pilot.pause()
            summary = app.screen.summary()
            assert "2027-01-12(预计)" in summary  # 10 working days into 2027 (no table yet; 1 Jan is statutory)

    run(scenario)


def test_bundle_is_found_and_saved_as_member_cases(station_dir, clock):
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f3", *"xsecs", "enter")
            await pilot.pause()
            screen = app.screen
            assert "新生儿出生一件事" in str(screen.query_one("#item_chosen", Static).render())
            screen.query_one("#name", Input).value = "赵丽"
            screen.query_one("#id_number", Input).value = "34992119950612128X"
            screen.query_one("#phone", Input).value = "0551-6543210"
            checklist = screen.query_one(MaterialChecklist)
            # Issue 12 item 13: the identity documents the members share are listed once.
            names = [r.name_zh for r in checklist.rules]
            assert [n for n in names if "身份证" in n or "户口簿" in n] == ["父母双方居民身份证", "居民户口簿"]
            assert names.count("出生医学证明") == 1
            required = [r.name_zh for r in checklist.rules if r.required and r.name_zh != "近期1寸免冠彩色照片"]
            checklist.set_state(required, ["近期1寸免冠彩色照片"])
            await pilot.pause()
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, IntakeDoneScreen), screen_text(app)
            summary = app.screen.summary()
            assert all(f"20260928-A00{n}" in summary for n in range(1, 6))  # the bundle and its 4 cases

    run(scenario)
