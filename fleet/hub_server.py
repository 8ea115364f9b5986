"""The real hub app (hub.web.app.create_app) under uvicorn in its own process, on the county's simulated clock."""

# `hub serve` reads the wall clock; a simulated month needs the hub to live in simulated time too,
# or every station would be "skewed" by the distance between the simulated and the real date.
# Everything else is what `hub serve` runs: the same app factory, settings and uvicorn.

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from fleet.process import ServerProcess

__all__ = ("ClockedHub", "main")


class ClockedHub(ServerProcess):
    """``python -m fleet.hub_server`` as a child process that can be killed and started again."""

    def __init__(self, data_dir: Path, clock_file: Path, port: int) -> None:
        super().__init__(port)
        self.data_dir, self.clock_file = data_dir, clock_file

    def command(self) -> tuple[list[str], Path | None, dict[str, str] | None]:
        root = Path(__file__).resolve().parent.parent
        env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        argv = [
            sys.executable,
            "-m",
            "fleet.hub_server",
            "--data-dir",
            str(self.data_dir),
            "--clock-file",
            str(self.clock_file),
            "--port",
            str(self.port),
        ]
        return argv, root, env

    def start(self, timeout: float = 30.0) -> ClockedHub:
        super().start(timeout)
        return self


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fleet.hub_server", description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--clock-file", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    import uvicorn

    from fleet.clock import CountyClock
    from hub.settings import Settings
    from hub.throttle import Rule
    from hub.web.app import create_app
    from hub.web.server import SERVER_OPTIONS

    # Every simulated village reaches the hub from 127.0.0.1: the per-address enrolment limit, meant
    # for one address probing codes, would hold back the county's own roll-out here.
    unthrottled = Rule(burst=1_000_000, per_minute=1_000_000)
    settings = dataclasses.replace(
        Settings.from_env({"HUB_DATA_DIR": str(args.data_dir)}), enrol_per_address=unthrottled
    )
    app = create_app(settings, now=CountyClock(args.clock_file).now)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", **SERVER_OPTIONS)


if __name__ == "__main__":
    main()
