"""An upstream file's header is read within its bounds, and any damage is a clear refusal, never a crash."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from hub.upstream_link import (
    FILE_MAGIC,
    SIGNED_FILE_MAGIC,
    UpstreamFile,
    decode_upstream_request,
    read_upstream_file,
)
from sync.errors import InputError
from sync.protocol import ProtocolError


def written(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "stick.bin"
    path.write_bytes(data)
    return path


def test_a_signed_file_splits_into_county_signatures_and_body(tmp_path: Path) -> None:
    path = written(tmp_path, SIGNED_FILE_MAGIC + b"349921\nAAA.BBB\n\x93body\nwith newlines")
    assert read_upstream_file(path) == UpstreamFile("349921", "AAA.BBB", b"\x93body\nwith newlines")


def test_an_older_countys_file_is_all_body_and_unsigned(tmp_path: Path) -> None:
    assert read_upstream_file(written(tmp_path, FILE_MAGIC + b"\x96abc")) == UpstreamFile(None, None, b"\x96abc")


@pytest.mark.parametrize(
    "data",
    [
        SIGNED_FILE_MAGIC + b"349921",  # no signature line
        SIGNED_FILE_MAGIC + b"349921\nsignature",  # no body line
        SIGNED_FILE_MAGIC + b"3" * 17 + b"\nsig\nbody",  # a county line longer than any code
        SIGNED_FILE_MAGIC + b"349921\n" + b"s" * 1025 + b"\nbody",  # signatures beyond four
        SIGNED_FILE_MAGIC + "县\n".encode() + b"sig\nbody",  # not ASCII
    ],
)
def test_a_damaged_header_is_malformed(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(ProtocolError) as refused:
        read_upstream_file(written(tmp_path, data))
    assert refused.value.code == "malformed"


def test_a_file_that_is_not_an_upstream_file_names_the_command_that_writes_one(tmp_path: Path) -> None:
    with pytest.raises(InputError) as refused:
        read_upstream_file(written(tmp_path, b"PROXYAPP-UPSTREAM-ANSWER-1\n..."))
    assert "hub upstream export" in refused.value.en and refused.value.field == "file"


def test_random_bytes_after_either_magic_are_refused_cleanly(tmp_path: Path) -> None:
    rng = random.Random(14)
    for _ in range(300):
        noise = rng.randbytes(rng.randint(0, 300))
        for magic in (FILE_MAGIC, SIGNED_FILE_MAGIC):
            try:
                upstream_file = read_upstream_file(written(tmp_path, magic + noise))
                decode_upstream_request(upstream_file.body)
            except ProtocolError as exc:
                assert exc.code in ("malformed", "too_large")
