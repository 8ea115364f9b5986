"""The README's first command works: a hub, an enrolled station, cases synced and decided, its address kept.

``./run demo`` writes the hub's addresses and the demo accounts to DEMO.txt; ``./run demo --serve`` keeps
the hub up until Ctrl+C. Each test runs the real script (about 10 s each) in a folder of its own.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tui.demo_info import read_demo_info

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 8765


def _env(folder: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DEMO_DIR": str(folder), "LANG": "C.UTF-8", **extra}
    for name in ("DEMO_PORT", "STATION_PASSPHRASE", "HUB_DATA_DIR", "STATION_DATA_DIR"):
        if name not in extra:
            env.pop(name, None)
    return env


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by a parent that is itself gone) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else already listens on, to make the demo fall back."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.timeout(300)
def test_run_demo_without_a_terminal(tmp_path):
    folder = tmp_path / "demo"
    default_free = _port_free(DEFAULT_PORT)  # another demo may hold it; then the fallback is what we see
    result = subprocess.run(
        ["bash", str(ROOT / "run"), "demo"],
        cwd=ROOT,
        env=_env(folder),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out[-2000:] + result.stderr[-2000:]
    assert "本站与县平台已完全同步" in out
    assert "已办结" in out  # the county's decision came back down
    assert "Not a terminal" in out

    info = read_demo_info(folder / "DEMO.txt")
    if default_free:
        assert info["dashboard"] == f"http://127.0.0.1:{DEFAULT_PORT}/dashboard"
        assert "is in use" not in out
    assert f"Dashboard: {info['dashboard']} (administrator: admin / demo-admin-pass)" in out
    assert info["admin"] == "admin / demo-admin-pass"
    assert info["desk"] == info["dashboard"].replace("/dashboard", "/desk")
    assert info["desk_user"] == "renshe / demo-desk-pass"
    assert info["passphrase"] == "demo-passphrase"
    assert str(folder / "DEMO.txt") in out

    # The hub went with the script, and it says so, with the way to keep it up.
    assert "The demo hub stops now" in out and "./run demo --serve" in out
    with pytest.raises(httpx.TransportError):
        httpx.get(info["dashboard"], timeout=5)
    assert not (folder / "hub.pid").exists()


@pytest.mark.timeout(300)
def test_run_demo_serve_keeps_the_hub_up_until_interrupted(tmp_path, busy_port):
    folder = tmp_path / "demo"
    log = tmp_path / "out.txt"
    with log.open("w") as out:
        script = subprocess.Popen(
            ["bash", str(ROOT / "run"), "demo", "--serve"],
            cwd=ROOT,
            env=_env(folder, DEMO_PORT=str(busy_port), STATION_PASSPHRASE="my-own-passphrase"),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, to clean up after a failure
        )
    try:
        deadline = time.monotonic() + 240
        while "until Ctrl+C" not in log.read_text() and script.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert script.poll() is None, log.read_text()[-3000:]
        text = log.read_text()
        assert f"port {busy_port} is in use" in text  # the fallback, said clearly

        info = read_demo_info(folder / "DEMO.txt")
        port = int(re.fullmatch(r"http://127\.0\.0\.1:(\d+)/dashboard", info["dashboard"])[1])
        assert port != busy_port
        assert "passphrase" not in info  # one the person set is never written down

        # The pages answer, with the account from the file.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            form = client.get(info["dashboard"], follow_redirects=True)
            assert form.status_code == 200 and 'name="password"' in form.text
            user, password = info["admin"].split(" / ")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)[1]
            client.post("/login", data={"username": user, "password": password, "csrf": csrf, "next": ""})
            page = client.get(info["dashboard"])
            assert page.status_code == 200 and "店庄社区" in page.text, page.text[:500]

        # A second demo on the same folder refuses rather than deleting the running hub's data.
        hub_pid = int((folder / "hub.pid").read_text())
        again = subprocess.run(
            ["bash", str(ROOT / "run"), "demo"],
            cwd=ROOT,
            env=_env(folder),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert again.returncode == 1 and f"pid {hub_pid}" in again.stderr, again.stderr
        assert (folder / "DEMO.txt").exists()

        script.send_signal(signal.SIGINT)  # Ctrl+C
        assert script.wait(timeout=60) == 0, log.read_text()[-3000:]
        assert not _alive(hub_pid)
        assert not (folder / "hub.pid").exists()
        with pytest.raises(httpx.TransportError):
            httpx.get(info["dashboard"], timeout=5)
    finally:
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)
            script.wait()
