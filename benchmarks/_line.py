"""One line per figure, the same in every benchmark, and a record of where it was measured.

Every figure `make bench` prints is one line:

    [name] value (want TARGET): PASS | FAIL | INFO

`name` is the figure's label (the docs quote it: a figure in the docs names its line);
`value` says what was measured, with its unit; `(want TARGET)` is the target when there is
one, and the verdict compares the measured number with it (INFO: a figure with no target,
or one that could not be measured). Nothing else goes to standard output but a context
line at the start of each script (`[context] ...`: date, machine, load).

Each line is also recorded, by name, in benchmarks/figures.json (the date, the machine,
the load average when it was measured): the docs' figures page is generated from that
file (`make docs`), and a figure quoted in the docs names the line it came from. Set
BENCH_RECORD to another path (or to an empty string: no record) to keep the file as it is.

Use from Python (`from _line import line`) or from a shell script:

    python3 benchmarks/_line.py "first run: render" "104 s" --measured 104 --want "<= 120 s"

A whole `make bench` sets BENCH_RUN and ends with `_line.py --prune RUN x x`: figures it did
not measure (a line that no benchmark prints any more) leave the record.

Only the standard library: the shell benchmarks run it with the system's python3.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import platform
import re
import sys
from pathlib import Path

RECORD = Path(__file__).resolve().parent / "figures.json"
_OPERATORS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b, "==": lambda a, b: a == b}
_printed_context: set[str] = set()


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages (rounded), [] where the system has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return []


def machine() -> str:
    """The CPU model and core count (and the GPU, when torch is loaded and sees one)."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                model = text.split(":", 1)[1].strip()
                break
    text = f"{model}, {os.cpu_count()} CPUs"
    torch = sys.modules.get("torch")
    with contextlib.suppress(Exception):
        if torch is not None and torch.cuda.is_available():
            text += f", {torch.cuda.get_device_name(0)}"
    return text


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def verdict(measured: float | None, want: str | None, ok: bool | None = None) -> str:
    """PASS or FAIL against `want` ('>= 1.6', '<= 300 ms': an operator, then the number the
    measured one is compared with); INFO with no target, or nothing measured. `ok` decides
    for targets no single number states."""
    if ok is not None:
        return "PASS" if ok else "FAIL"
    if want is None or measured is None:
        return "INFO"
    m = re.match(r"\s*(>=|<=|==|>|<)\s*(-?[0-9.]+)", want)
    if not m:
        return "INFO"
    return "PASS" if _OPERATORS[m.group(1)](measured, float(m.group(2))) else "FAIL"


def format_line(name: str, value: str, want: str | None, result: str) -> str:
    return f"[{name}] {value}" + (f" (want {want})" if want else "") + f": {result}"


def context(source: str) -> None:
    """The one `[context]` line a script prints first: date, machine, load."""
    if source in _printed_context:
        return
    _printed_context.add(source)
    print(f"[context] {Path(source).name}: {now()}, {machine()}, load {' '.join(map(str, load()))}", flush=True)


def line(name: str, value: str, *, measured: float | None = None, want: str | None = None, ok: bool | None = None, source: str | None = None, **figures) -> str:
    """Print `[name] value (want TARGET): VERDICT` and record it; returns the verdict.

    measured: the number `want` is about; figures: more numbers for the record (and for a
    script's --json)."""
    result = verdict(measured, want, ok)
    print(format_line(name, value, want, result), flush=True)
    record(name, value, want, result, measured, source or _caller(), figures)
    return result


def _caller() -> str:
    frame = sys._getframe(2)
    return Path(frame.f_code.co_filename).name


def record(name: str, value: str, want: str | None, result: str, measured: float | None, source: str, figures: dict) -> None:
    path = os.environ.get("BENCH_RECORD", str(RECORD))
    if not path:
        return
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, ValueError):
        data = {}
    data[name] = {
        "value": value, "want": want, "verdict": result, "measured": measured, "figures": figures or None,
        "source": source, "date": now(), "machine": machine(), "load": load(), "run": os.environ.get("BENCH_RUN"),
    }  # fmt: skip
    if isinstance(measured, float):
        data[name]["measured"] = float(f"{measured:.4g}")
    body = ",\n".join(f" {json.dumps(k, ensure_ascii=False)}: {json.dumps(v, ensure_ascii=False, default=str)}" for k, v in sorted(data.items()))
    staged = path.with_name(path.name + ".part")
    staged.write_text("{\n" + body + "\n}\n", encoding="utf-8")  # one figure a line: readable diffs
    os.replace(staged, path)




def prune(run: str) -> list[str]:
    """Drop the recorded figures that run `run` (a whole `make bench`) did not measure: a
    line no benchmark prints any more is no figure to quote. Returns the names dropped."""
    path = Path(os.environ.get("BENCH_RECORD", str(RECORD)))
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    gone = [name for name, f in data.items() if f.get("run") != run]
    body = ",\n".join(f" {json.dumps(k, ensure_ascii=False)}: {json.dumps(v, ensure_ascii=False, default=str)}" for k, v in sorted(data.items()) if k not in gone)
    staged = path.with_name(path.name + ".part")
    staged.write_text("{\n" + body + "\n}\n", encoding="utf-8")
    os.replace(staged, path)
    return gone


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="print and record one figure line (for shell benchmarks)")
    p.add_argument("name")
    p.add_argument("value")
    p.add_argument("--measured", type=float)
    p.add_argument("--want")
    p.add_argument("--source", default="shell")
    p.add_argument("--context", action="store_true", help="print the [context] line (date, machine, load) and nothing else")
    p.add_argument("--prune", metavar="RUN", help="drop the recorded figures run RUN did not measure (the end of make bench); NAME and VALUE are ignored")
    args = p.parse_args(argv)
    if args.prune:
        for name in prune(args.prune):
            print(f"[record] dropped [{name}]: no line of this run prints it", flush=True)
        return 0
    if args.context:
        context(args.source)
        return 0
    line(args.name, args.value, measured=args.measured, want=args.want, source=args.source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
