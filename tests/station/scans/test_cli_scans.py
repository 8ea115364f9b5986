"""station case attach / attachments: pages in order, the content hash last, bad input exits 2 storing nothing."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from sync.scans import attachment_hash
from tests.station.scans.pages import page_bytes
from tests.station.test_cli import data_dir, initialised, new_case, run  # noqa: F401 - fixtures

ID_CARD = "居民身份证"


def _blobs(data_dir: Path) -> int:  # noqa: F811
    from station.store import Station

    with Station.open(data_dir) as station:
        return station.db.execute("SELECT COUNT(*) FROM scan_blobs").fetchone()[0]


def _bomb(path: Path) -> Path:
    """A PNG whose header claims 100,000 x 100,000 pixels: decoded, gigabytes; refused before decoding."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )
    path.write_bytes(data)
    return path


@pytest.fixture
def case(initialised):  # noqa: F811
    result = new_case(initialised)
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def test_attach_prints_each_page_and_the_content_hash_last(initialised, case, tmp_path, data_dir):  # noqa: F811
    files = []
    for seed in (1, 2):
        path = tmp_path / f"scan-{seed}.jpg"
        Image.open(io.BytesIO(page_bytes(seed, 20_000))).save(path, "JPEG")
        files.append(str(path))
    result = initialised("--lang", "en", "case", "attach", case, "--material", ID_CARD, *files)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    pages = [line.split()[2] for line in lines[:-1]]
    assert [line.split()[:2] for line in lines[:-1]] == [["page", "1"], ["page", "2"]]
    assert lines[-1] == attachment_hash(pages) and len(lines[-1]) == 64
    listed = initialised("case", "attachments", case, "--json")
    assert [row["sha256"] for row in json.loads(listed.output)] == pages
    again = initialised("case", "attach", case, "--material", ID_CARD, *files)
    assert again.exit_code == 0 and again.output.strip().splitlines()[-1] == lines[-1]
    assert _blobs(data_dir) == 2  # the same pages again: nothing doubled


@pytest.mark.parametrize("problem", ["case", "material", "not_image", "bomb", "empty"])
def test_bad_input_exits_2_and_stores_nothing(initialised, case, tmp_path, data_dir, problem):  # noqa: F811
    good = tmp_path / "good.png"
    good.write_bytes(page_bytes(3))
    number, material, files = case, ID_CARD, [str(good)]
    if problem == "case":
        number = "349921001001-20260928-A999"
    elif problem == "material":
        material = "结婚证"
    elif problem == "not_image":
        bad = tmp_path / "notes.png"
        bad.write_text("not an image")
        files.append(str(bad))
    elif problem == "bomb":
        files.append(str(_bomb(tmp_path / "bomb.png")))
    else:
        empty = tmp_path / "empty.jpg"
        empty.write_bytes(b"")
        files.append(str(empty))
    result = initialised("--lang", "en", "case", "attach", number, "--material", material, *files)
    assert result.exit_code == 2, result.output
    assert "Error: " in result.output
    assert _blobs(data_dir) == 0
