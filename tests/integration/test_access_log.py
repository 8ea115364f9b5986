"""`hub serve`'s access log keeps the path of each request and none of its query string (names, query codes)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx

from tests.integration.processes import BIN, free_port


def test_the_access_log_names_the_path_but_not_the_desk_search_nor_the_query_code(tmp_path: Path, hub_template):
    hub_dir = tmp_path / "hub"
    shutil.copytree(hub_template[0], hub_dir)
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        serve = subprocess.Popen(
            [str(BIN / "hub"), "--data-dir", str(hub_dir), "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            httpx.get(f"{url}/q", params={"case": "349921001001-20261202-A001", "code": "SECRETCODE9"})
            httpx.get(f"{url}/desk", params={"q": "王小明"})
        finally:
            serve.terminate()
            serve.wait(20)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert '"GET /q?… HTTP/1.1"' in text and '"GET /desk?… HTTP/1.1"' in text, text  # the lines are there
    assert "SECRETCODE9" not in text and "王小明" not in text and "%E7%8E%8B" not in text
    assert "20261202-A001" not in text
