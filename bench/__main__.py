"""``python -m bench [station|dashboard|sync|attacks|publish|catalog|county|backlog|memory|province|scans_sync|scans|all] [ARGS]``: run one benchmark, or all of them in turn.

``python -m bench all --postgres`` (or ``BENCH_POSTGRES=1``) also runs the PostgreSQL variants of issue 14's
benchmarks after them, each on a throwaway cluster of its own: the county with 1 and with 4 workers, the
backlog, memory, the province (``postgres`` runs those variants alone)."""

from __future__ import annotations

import importlib
import os
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

POSTGRES_VARIANTS = (
    ("county", ["--postgres"]),
    ("county", ["--postgres", "--workers", "4"]),
    ("backlog", ["--postgres"]),
    ("memory", ["--postgres"]),
    ("province", ["--postgres"]),
)
"""What ``all --postgres`` adds, and ``postgres`` runs: issue 14's benchmarks on PostgreSQL."""

POSTGRES_ENV = "BENCH_POSTGRES"


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        print("Each benchmark takes its own options: python -m bench NAME --help")
        return
    name = args.pop(0) if args and args[0] in (*BENCHES, "all", "postgres") else "all"
    if name in BENCHES:
        runs = [(name, args)]
    else:
        unknown = [a for a in args if a != "--postgres"]
        if unknown:
            sys.exit(f"python -m bench {name}: only --postgres is understood here (not {' '.join(unknown)})")
        postgres = name == "postgres" or "--postgres" in args or os.environ.get(POSTGRES_ENV, "") not in ("", "0")
        runs = [] if name == "postgres" else [(bench, []) for bench in BENCHES]
        runs += list(POSTGRES_VARIANTS) if postgres else []
    for bench, bench_args in runs:
        print(f"=== {' '.join([bench, *bench_args])} ===", file=sys.stderr, flush=True)
        importlib.import_module(BENCHES[bench]).main(bench_args)


if __name__ == "__main__":
    main()
