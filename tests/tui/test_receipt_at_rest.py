"""Receipts are personal data at rest: kept encrypted, opened into private copies that are wiped later."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from station import cases as ops
from station.store import datakey
from sync.errors import StoreError
from tests.station.conftest import ZHANG, pension_benefit_deferred
from tests.tui.conftest import SIZE, make_app, open_station, run
from tui.receipt import (
    open_receipt,
    receipt_for,
    receipt_pdf_bytes,
    receipt_text,
    settle_receipts,
    write_receipt,
)

NAME = "张桂英"
POSIX = os.name != "nt"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def plain_personal_data(folder: Path) -> list[str]:
    """Files under ``folder`` in which the applicant's name or masked ID can be read, or that are a PDF."""
    forms = [NAME.encode("utf-8"), NAME.encode("utf-16-be"), b"110105********002X", ZHANG.encode()]
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if data.startswith(b"%PDF") or any(form in data for form in forms):
                found.append(path.name)
    return found


def intake(station_dir: Path, clock) -> tuple[str, str, bytes]:
    """A saved intake, its receipt written as the TUI does; its number and expected text and PDF bytes."""
    with open_station(station_dir, clock) as station:
        number = ops.new_intake(station, pension_benefit_deferred()).number
        write_receipt(station, number)
        receipt = receipt_for(station, number)
        return number, receipt_text(receipt), receipt_pdf_bytes(receipt)


def test_after_an_intake_no_plain_personal_data_is_in_the_receipts_folder(station_dir, clock):
    number, text, _ = intake(station_dir, clock)
    receipts = station_dir / "receipts"
    assert [p.name for p in receipts.iterdir()] == [f"{number}.receipt"]
    assert plain_personal_data(receipts) == []
    assert NAME in text and "110105********002X" in text  # what the sealed file does hold


def test_opening_a_receipt_gives_its_text_and_pdf_in_owner_only_files(station_dir, clock):
    number, text, pdf = intake(station_dir, clock)
    txt_path, pdf_path = open_receipt(station_dir, number)
    assert txt_path.read_bytes() == text.encode("utf-8-sig")  # BOM kept: old Notepad reads it as UTF-8
    assert pdf_path.read_bytes() == pdf and pdf.startswith(b"%PDF")
    assert (txt_path.name, pdf_path.name) == (f"{number}.txt", f"{number}.pdf")  # the viewer shows the number
    assert pdf_path.parent.parent == station_dir / "print"  # never under receipts/
    if POSIX:
        assert mode(txt_path) == mode(pdf_path) == 0o600
        assert mode(pdf_path.parent) == mode(station_dir / "print") == 0o700
    again = open_receipt(station_dir, number)[1]
    assert again != pdf_path and pdf_path.exists()  # a viewer may still hold the first copy open


def test_a_receipt_does_not_open_under_another_key_or_name_or_when_altered(station_dir, clock):
    number, _, _ = intake(station_dir, clock)
    sealed = station_dir / "receipts" / f"{number}.receipt"
    with pytest.raises(StoreError) as info:
        open_receipt(station_dir, number, key=bytes(32))
    assert info.value.code == "store.receipt_damaged" and NAME not in str(info.value)
    sealed.rename(sealed.with_name("OTHER.receipt"))
    with pytest.raises(StoreError):
        open_receipt(station_dir, "OTHER")  # the number is bound in: a swapped file is refused
    data = bytearray((station_dir / "receipts" / "OTHER.receipt").read_bytes())
    data[-1] ^= 1
    sealed.write_bytes(bytes(data))
    with pytest.raises(StoreError):
        open_receipt(station_dir, number)
    datakey.forget()
    with pytest.raises(PermissionError):  # locked: nothing is decrypted
        open_receipt(station_dir, "OTHER")


def test_print_copies_are_swept_and_the_sealed_receipt_stays(station_dir, clock):
    number, text, _ = intake(station_dir, clock)
    copies = open_receipt(station_dir, number)
    settle_receipts(station_dir)
    assert not any(path.exists() for path in copies)
    assert list((station_dir / "print").iterdir()) == []
    assert open_receipt(station_dir, number)[0].read_bytes() == text.encode("utf-8-sig")


def test_plain_receipts_of_0_4_are_sealed_and_wiped_and_leftovers_swept_when_the_tui_starts(station_dir, clock):
    number, text, pdf = intake(station_dir, clock)
    receipts = station_dir / "receipts"
    left = open_receipt(station_dir, number)  # a copy a crashed run left for the printer
    (receipts / f"{number}.receipt").unlink()
    # As 0.4 wrote them: plain text with a BOM and the PDF, side by side.
    (receipts / f"{number}.txt").write_bytes(text.encode("utf-8-sig"))
    (receipts / f"{number}.pdf").write_bytes(pdf)
    (receipts / "ONLY-TEXT.txt").write_bytes(b"\xef\xbb\xbf" + NAME.encode())
    datakey.forget()  # the app unlocks the folder itself ($STATION_PASSPHRASE)

    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()

    run(scenario)
    assert sorted(p.name for p in receipts.iterdir()) == sorted(["ONLY-TEXT.receipt", f"{number}.receipt"])
    assert plain_personal_data(receipts) == []
    assert not any(path.exists() for path in left) and list((station_dir / "print").iterdir()) == []
    txt_path, pdf_path = open_receipt(station_dir, number)
    assert txt_path.read_bytes() == text.encode("utf-8-sig") and pdf_path.read_bytes() == pdf
    assert open_receipt(station_dir, "ONLY-TEXT")[0].read_bytes() == b"\xef\xbb\xbf" + NAME.encode()
