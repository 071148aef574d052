#!/usr/bin/env bash
# The README's first screen, measured: a fresh clone of this repository in a temporary
# folder, then its first two commands, each timed. One line per figure (benchmarks/_line.py):
#   [first run: set-up]   creating .venv and installing (the first part of `make scene=spiral`)
#   [first run: render]   rendering out/spiral.mp4 (the rest of `make scene=spiral`)
#   [first run: tests]    `make test`, wall time and CPU time (user + sys)
# Usage: bash benchmarks/first_run.sh   (from the repository root; takes a few minutes)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
figure() { python3 "$repo/benchmarks/_line.py" --source first_run.sh "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
figure --context x x
git clone -q "$repo" "$work/p"
cd "$work/p"

seconds() { python3 -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.0f}")' "$1"; }

t0=$(python3 -c 'import time; print(time.time())')
make -s .venv/.installed >/dev/null 2>&1
took=$(seconds "$t0")
figure "first run: set-up" "$took s to create .venv and install (a fresh clone)" --measured "$took" --want "<= 180 s"

t0=$(python3 -c 'import time; print(time.time())')
make -s scene=spiral >/dev/null 2>&1
took=$(seconds "$t0")
figure "first run: render" "$took s to render out/spiral.mp4 ($(stat -c %s out/spiral.mp4) bytes, 8 s of 1280x720 at 30 fps)" --measured "$took" --want "<= 120 s"

rc=0
/usr/bin/time -f "%e %U %S" -o "$work/time" make -s test >"$work/test.log" 2>&1 || rc=$?
read -r wall user sys < <(tail -1 "$work/time")
cpu=$(python3 -c "print(round($user + $sys))")
if [ "$rc" = 0 ]; then
  figure "first run: tests" "$(printf '%.0f' "$wall") s wall, $cpu s CPU (user + sys) for make test" --measured "$cpu" --want "<= 60 s CPU"
else  # the time still counts; the failures are said, and the line fails
  echo "first_run.sh: make test failed in the fresh clone:" >&2; grep -E "^(FAILED|ERROR)" "$work/test.log" >&2 || tail -5 "$work/test.log" >&2
  figure "first run: tests" "$(printf '%.0f' "$wall") s wall, $cpu s CPU (user + sys) for make test, which FAILED (exit $rc)" --measured 1e9 --want "<= 60 s CPU"
fi
