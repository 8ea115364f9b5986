"""Scanned pages in the TUI: inbox files listed, pages assigned to materials by key, reordered, dropped, previewed."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

from PIL import Image, ImageDraw

from station import cases as ops
from station.scans.normalise import normalise_bytes
from station.scans.store import list_attachments, page_bytes
from tests.station.conftest import pension_enrolment
from tests.tui.conftest import SIZE, make_app, open_station, run, screen_text, settle
from tui.screens.case_detail import CaseDetailScreen
from tui.screens.intake_done import IntakeDoneScreen
from tui.screens.new_case import NewCaseScreen
from tui.screens.scans import PreviewScreen, ScanScreen
from tui.widgets.page_preview import PagePreview, preview_text

ID_CARD = "居民身份证"
FORM = "城乡居民基本养老保险参保登记表"


def _document(mark: int) -> Image.Image:
    """A grey page with ``mark`` bars in its corner (pages told apart by their bytes)."""
    image = Image.new("L", (900, 1270), 255)
    draw = ImageDraw.Draw(image)
    for y in range(200, 1200, 70):
        draw.rectangle((80, y, 820, y + 10), fill=0)
    for k in range(mark):
        draw.rectangle((20 + 30 * k, 20, 40 + 30 * k, 120), fill=0)
    return image


def _settled(path: Path, data: bytes) -> Path:
    """A file the camera finished writing a minute ago."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    past = time.time() - 60
    os.utime(path, (past, past))
    return path


def _tiff(*pages: Image.Image) -> bytes:
    out = io.BytesIO()
    pages[0].save(out, "TIFF", save_all=True, append_images=list(pages[1:]))
    return out.getvalue()


def _photo() -> bytes:
    image = Image.new("RGB", (600, 800), (40, 120, 200))
    ImageDraw.Draw(image).ellipse((150, 150, 450, 600), fill=(220, 170, 140))
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


def _case(station_dir, clock) -> str:
    with open_station(station_dir, clock) as station:
        return ops.new_intake(station, pension_enrolment()).number


async def _open_scans(app, pilot, case_no: str) -> ScanScreen:
    await settle(pilot)
    app.open_case(case_no)
    await pilot.pause()
    await pilot.press("s")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, ScanScreen)
    await settle(pilot)  # the files are made into pages in a worker
    return screen


def test_pages_are_assigned_by_number_reordered_dropped_and_attached_in_order(station_dir, clock):
    case_no = _case(station_dir, clock)
    inbox = station_dir / "scans-inbox"
    tiff = _settled(inbox / "IMG_0001.tif", _tiff(_document(1), _document(2)))
    photo = _settled(inbox / "IMG_0002.jpg", _photo())
    bad = _settled(inbox / "IMG_0003.jpg", b"this is no picture")
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            screen = await _open_scans(app, pilot, case_no)
            assert [(p.file.name, p.index, p.count) for p in screen.pending] == [
                ("IMG_0001.tif", 1, 2),
                ("IMG_0001.tif", 2, 2),
                ("IMG_0002.jpg", 1, 1),
            ]
            text = screen_text(app)
            assert "收件夹新页面（3）" in text and "未分配" in text
            assert "IMG_0003.jpg" in text and "refused" in text  # refused, with the reason, moved aside
            assert screen.materials[0] == ID_CARD and f"1 {ID_CARD}" in text  # the legend numbers the materials
            form = str(screen.materials.index(FORM) + 1)
            assert f"{form} " in text
            # Both pages of the form file to its material (the cursor moves on after each), the photo to 1.
            await pilot.press(form, form, "1")
            assert [p.material for p in screen.pending] == [FORM, FORM, ID_CARD]
            # The second page of the form goes first; then the photo is dropped after all.
            await pilot.press("up", "shift+up")
            assert [(p.file.name, p.index) for p in screen.pending][:2] == [("IMG_0001.tif", 2), ("IMG_0001.tif", 1)]
            await pilot.press("down", "down", "x")
            assert len(screen.pending) == 2
            await pilot.press("ctrl+s")
            await settle(pilot)
            await pilot.pause()
            assert screen.pending == []
            assert "已附加（2）" in screen_text(app)

    run(scenario)
    with open_station(station_dir, clock) as station:
        rows = list_attachments(station, case_no)
        assert [(r.material, r.page) for r in rows] == [(FORM, 1), (FORM, 2)]
        # The pages in the order the agent put them, normalised in grey (a form is no photo).
        expected = normalise_bytes(
            tiff.read_bytes() if tiff.exists() else _tiff(_document(1), _document(2)), colour=False
        )
        assert [page_bytes(station, r.sha256) for r in rows] == [expected[1].data, expected[0].data]
    assert not tiff.exists() and not photo.exists()  # stored, or dropped: wiped from the inbox
    assert not bad.exists() and (inbox / "refused" / "IMG_0003.jpg").exists()


def test_an_id_card_keeps_its_colour_and_attached_pages_can_be_previewed_and_dropped(station_dir, clock):
    case_no = _case(station_dir, clock)
    photo = _settled(station_dir / "scans-inbox" / "card.jpg", _photo())
    original = photo.read_bytes()
    app = make_app(station_dir, clock, lang="en")

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            screen = await _open_scans(app, pilot, case_no)
            await pilot.press("k")  # keep the original file this time
            await pilot.press("1", "ctrl+s")
            await settle(pilot)
            await pilot.pause()
            assert [r.material for r in screen.attached] == [ID_CARD]
            await pilot.press("tab")  # to the attached pages
            await pilot.press("v")
            await pilot.pause()
            assert isinstance(app.screen, PreviewScreen)
            shown = app.screen.query_one(PagePreview).render()
            coloured = [span for span in shown.spans if getattr(span.style, "background", None) is not None]  # type: ignore[union-attr]
            assert len(coloured) > 100  # cells painted in the page's colours
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is screen
            await pilot.press("x")
            await pilot.pause()
            assert screen.attached == []

    run(scenario)
    with open_station(station_dir, clock) as station:
        [row] = list_attachments(station, case_no, dropped=True)
        assert row.dropped and page_bytes(station, row.sha256) == normalise_bytes(original, colour=True)[0].data
    assert not photo.exists()
    assert (station_dir / "scans-originals" / "card.jpg").read_bytes() == original


def test_case_detail_shows_the_pages_per_material_and_the_new_inbox_files(station_dir, clock):
    case_no = _case(station_dir, clock)
    with open_station(station_dir, clock) as station:
        from station.scans.store import attach_pages

        attach_pages(station, case_no, ID_CARD, normalise_bytes(_photo(), colour=True))
    _settled(station_dir / "scans-inbox" / "new.jpg", _photo())
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.open_case(case_no)
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, CaseDetailScreen)
            text = screen.render_text().plain
            assert f"{ID_CARD}：1 页（县平台已收到 0 页）" in text
            assert "扫描收件夹有 1 个新文件：按 S 分配到材料" in text

    run(scenario)


def test_after_saving_a_new_case_s_opens_its_scans_and_the_form_says_files_wait(station_dir, clock):
    _settled(station_dir / "scans-inbox" / "a.jpg", _photo())
    with open_station(station_dir, clock) as station:
        result = ops.new_intake(station, pension_enrolment())
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("f3")
            await pilot.pause()
            form = app.screen
            assert isinstance(form, NewCaseScreen)
            assert "扫描收件夹有 1 个新文件" in str(form.query_one("#scan_waiting").render())
            app.push_screen(IntakeDoneScreen(result, None), form._after_done)
            await pilot.pause()
            await pilot.press("s")
            await pilot.pause()
            assert isinstance(app.screen, ScanScreen) and app.screen.case_no == result.cases[0].case_no

    run(scenario)


def test_the_preview_draws_the_page_in_cells_of_its_grey():
    image = Image.new("L", (400, 600), 255)
    ImageDraw.Draw(image).rectangle((0, 0, 399, 299), fill=0)  # black top half, white bottom half
    out = io.BytesIO()
    image.save(out, "PNG")
    text = preview_text(out.getvalue(), 40, 15)
    lines = text.split("\n")
    assert len(lines) == 15 and all(line.cell_len == 20 for line in lines)  # page shape kept: cells are 1:2
    top, bottom = lines[1].spans[0].style, lines[-2].spans[0].style
    assert str(top.bgcolor.name) == "#000000" and str(bottom.bgcolor.name) == "#ffffff"  # type: ignore[union-attr]
    assert set(text.plain) <= {" ", "\n"}  # no half-block glyphs: ambiguous width in CJK terminals
