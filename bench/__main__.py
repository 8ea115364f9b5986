"""``python -m bench [station|dashboard|sync|attacks|publish|catalog|county|backlog|memory|province|scans_sync|scans|all] [ARGS]``: run one benchmark, or all of them in turn."""

from __future__ import annotations

import importlib
import sys

BENCHES = {
    "station": "bench.bench_station",
    "dashboard": "bench.bench_dashboard",
    "sync": "bench.bench_sync",
    "attacks": "bench.bench_attacks",
    "publish": "bench.bench_publish",
    "catalog": "bench.bench_catalog",
    "county": "bench.bench_county",
    "backlog": "bench.bench_backlog",
    "memory": "bench.bench_memory",
    "province": "bench.bench_province",
    "scans_sync": "bench.bench_scans_sync",
    "scans": "bench.bench_scans",
}


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        print("Each benchmark takes its own options: python -m bench NAME --help")
        return
    name = args.pop(0) if args and args[0] in (*BENCHES, "all") else "all"
    for bench in BENCHES if name == "all" else [name]:
        print(f"=== {bench} ===", file=sys.stderr, flush=True)
        importlib.import_module(BENCHES[bench]).main(args if name != "all" else [])


if __name__ == "__main__":
    main()
