#!/usr/bin/env bash
# Wheel smoke test: build the wheel, install it with the pinned constraints into a fresh venv, and
# check that what an operator installs runs and carries every file the product needs.
#
#   tools/smoke_wheel.sh          (CI runs it from .ci/run; needs PyPI for the build and the pins)
#
# Why: the tests run against the source tree (an editable install), so a package or data file
# left out of the wheel (a new sub-package, a template moved to another folder without updating
# [tool.setuptools.package-data]) would pass every test and break the first real install.
# The wheel is built from a copy of the tracked files, so setuptools' build/ folder (which never
# forgets a deleted module) stays out of the work tree and out of the wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
start=$SECONDS

PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      PYTHON=$candidate; break
    fi
  done
fi
[ -n "$PYTHON" ] || { echo "smoke_wheel: error: Python 3.11 or newer is needed" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/proxyapp-wheel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# pip's output goes to a log, shown only when a step fails (it is long and mostly noise).
quiet() {
  "$@" >"$WORK/pip.log" 2>&1 || { cat "$WORK/pip.log" >&2; echo "smoke_wheel: error: $*" >&2; exit 1; }
}

# The tracked files plus new ones not yet committed (not the ignored ones: .venv, databases, keys).
mkdir "$WORK/src"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$ROOT" ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    xargs -0 cp --parents -t "$WORK/src"
else
  cp -r . "$WORK/src"
fi

echo "smoke_wheel: building the wheel ..." >&2
quiet "$PYTHON" -m pip wheel --no-deps "$WORK/src" -w "$WORK/dist"
wheel=$(ls "$WORK"/dist/proxyapp-*.whl)

echo "smoke_wheel: installing $(basename "$wheel") into a fresh venv ..." >&2
quiet "$PYTHON" -m venv "$WORK/venv"
quiet "$WORK/venv/bin/python" -m pip install --disable-pip-version-check -c "$ROOT/constraints.txt" "$wheel"

# Run from an empty folder so nothing is imported from the source tree by accident.
mkdir "$WORK/run"
cd "$WORK/run"
version=$(basename "$wheel" | cut -d- -f2)
for cmd in station hub; do
  out=$("$WORK/venv/bin/$cmd" --version)
  case "$out" in
    *"$version"*) ;;
    *) echo "smoke_wheel: error: '$cmd --version' printed '$out', expected version $version" >&2; exit 1 ;;
  esac
done

# A hub initialises its database from the installed package (migrations, sample data).
HUB_DATA_DIR="$WORK/hubdata" "$WORK/venv/bin/hub" init >/dev/null

"$WORK/venv/bin/python" - "$WORK/src" <<'PY'
"""Every file of the product packages in the source tree is in the installed package."""
import importlib.util
import sys
from pathlib import Path

src = Path(sys.argv[1])
missing, found = [], {}
for package in ("sync", "station", "hub", "tui"):
    spec = importlib.util.find_spec(package)
    installed = Path(spec.origin).parent
    if Path(sys.prefix) not in installed.parents:
        sys.exit(f"smoke_wheel: error: {package} was imported from {installed}, not from the wheel")
    for path in sorted((src / package).rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(src / package)
        found.setdefault(path.suffix, 0)
        if (installed / rel).is_file():
            found[path.suffix] += 1
        else:
            missing.append(f"{package}/{rel}")
if missing:
    sys.exit("smoke_wheel: error: not in the installed package:\n  " + "\n  ".join(missing))
# The data files the product reads at run time, whatever folder they move to.
for suffix, what in ((".j2", "hub templates"), (".tcss", "TUI CSS"), (".json", "sync sample data"),
                     (".zdict", "compression dictionaries")):
    if not found.get(suffix):
        sys.exit(f"smoke_wheel: error: no {what} (*{suffix}) in the installed package")
counts = ", ".join(f"{n} {s or 'other'}" for s, n in sorted(found.items()))
print(f"smoke_wheel: installed package complete ({counts})", file=sys.stderr)
PY

echo "smoke_wheel: ok, proxyapp $version wheel builds, installs and runs ($((SECONDS - start)) s)"
