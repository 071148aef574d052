"""Entry point: the command line (docs/command-line.md). Parse arguments, call the core
and the commands, show progress, map errors to exit statuses.

All composition is in core.py and the command modules (explore, previews, watch, bench;
studio_server for the studio); this module only turns arguments into calls, shows progress
bars, and maps exceptions to exit statuses: 0 done; 2 bad scene or arguments (SceneError,
UsageError, OutputError: one line, nothing written); 1 a failure while working (a
RenderError: encoding, disk, a busy target, memory: out of it while rendering, or refused
before any work because the estimate does not fit the free memory: the scene is valid, a
machine with more memory renders it); 130 interrupted (Ctrl-C); 143 terminated (SIGTERM);
129 hung up (SIGHUP: the terminal closed); 141, quietly, when the reader of our output went
away (`cppn-anim schema | head -1`), as for a tool that SIGPIPE ended, so a pipeline with
`set -o pipefail` can tell the output was cut short.

As the process's owner, main() sets what is process-wide for the duration of a command
(entry.py): signals as a flag the work checks (so cleanup is never cut short), OpenMP's
passive wait, numpy's BLAS on one thread, warnings as our one line, torch's threads per
frame (the pin it lends the renderer), and Dask's quiet for segmented renders.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import sys
import time
from pathlib import Path

from . import bench, core, entry, explore, previews, scene as scenes, studio_server, watch  # the studio loads its web stack only when it runs
from .core import PREVIEW_LONG_SIDE, PREVIEW_MAX_FPS
from .errors import Cancelled, OutputError, RenderError, SceneError, UsageError, one_line, said
from .report import Reporter
from .version import __version__

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_PIPE = 141  # 128 + SIGPIPE: what a shell shows for a tool whose reader went away (`| head`)
LONG_RENDER_SECONDS = 60  # a render estimated longer than this says so before it starts


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage too)
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


# ------------------------------------------------------------------ arguments


def _overrides_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("overrides (applied before validation)")
    g.add_argument("--seed", type=str, help="the scene's seed")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any scene value by key path, VALUE read as YAML; repeatable")
    g.add_argument("--size", metavar="WxH", help="frame size, e.g. 1920x1080")
    g.add_argument("--fps", type=str, help="frames per second")
    g.add_argument("--duration", type=str, help="seconds")
    g.add_argument("--device", help="auto | cpu | cuda | cuda:N | mps")
    g.add_argument("--precision", help="fp32 | bf16 | fp16")
    g.add_argument("--audio", metavar="FILE", help="a soundtrack: sets audio.path to FILE (relative to the current folder; adds audio with its defaults)")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = _overrides_parser()
    parser = _Parser(prog="cppn-anim", description="Render random CPPNs as animations.")
    parser.add_argument("--version", action="version", version=f"cppn-anim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("render", parents=[common], help="render a scene to mp4, gif, webm or png frames")
    p.add_argument("scene")
    p.add_argument("-o", "--output", type=_path_arg, help="output path (default: the scene's output.path)")
    p.add_argument("--format", choices=scenes.FORMATS, help="default: from -o's extension, else output.format")
    p.add_argument("--frames", metavar="A:B", help="render frames A..B-1 only")
    p.add_argument("--preview", action="store_true", help=f"a small fast GIF (long side {PREVIEW_LONG_SIDE}, <= {PREVIEW_MAX_FPS} fps)")
    p.add_argument("--preset", help="x264 preset for mp4 (default: output.preset, medium)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar, no summary")
    g = p.add_argument_group("segmented renders (mp4, webm, png)")
    g.add_argument("--workers", type=int, metavar="N", help="render segments on a local Dask cluster of N worker processes")
    g.add_argument("--scheduler", metavar="ADDRESS", type=_scheduler_address, help="render segments on an existing Dask cluster, e.g. tcp://10.0.0.5:8786")
    g.add_argument("--resume", action="store_true", help="render in segments and reuse the finished segments of an interrupted render")

    p = sub.add_parser("still", parents=[common], help="one frame as PNG, at any size")
    p.add_argument("scene")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--time", type=float, metavar="T", help="seconds")
    when.add_argument("--frame", type=int, metavar="I", help="the frame at t = I / fps")
    p.add_argument("-o", "--output", type=_path_arg, metavar="PATH.png", help="default out/NAME_tT.png, e.g. out/spiral_t1.000.png")
    p.add_argument("--quiet", "-q", action="store_true")

    p = sub.add_parser("validate", parents=[common], help="check scene files")
    p.add_argument("scenes", nargs="+")

    sub.add_parser("schema", help="print the JSON Schema of the scene format")

    p = sub.add_parser("explore", parents=[common], help="a labelled contact sheet over seeds or settings")
    p.add_argument("scene")
    p.add_argument("--seeds", metavar="A-B", help="one still per seed A..B (default 0-7 when nothing is varied)")
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2,...", help="values of a scene key (or size=WxH,...); two --vary make a grid")
    p.add_argument("--time", type=float, default=0.0, help="time of every still (default 0)")
    p.add_argument("--cell", type=int, default=192, help="largest long side of a cell in pixels (default 192; a smaller scene keeps its own size)")
    p.add_argument("-o", "--output", type=_path_arg, help="SHEET.png (default out/NAME.explore.png)")
    p.add_argument("--quiet", "-q", action="store_true")

    p = sub.add_parser("previews", parents=[common], help="every scene in a folder as a preview GIF, an index.html and a contact sheet")
    p.add_argument("folder", nargs="?", default="scenes")
    p.add_argument("-o", "--output", type=_path_arg, default="out/previews", help="folder (default out/previews)")
    p.add_argument("--quiet", "-q", action="store_true")

    p = sub.add_parser("watch", parents=[common], help="re-render the preview whenever the scene file changes")
    p.add_argument("scene")
    p.add_argument("-o", "--output", type=_path_arg, help="default out/NAME.preview.gif")
    p.add_argument("--interval", type=_interval, default=0.5, help="seconds between looks at the file (default 0.5)")

    studio_server.add_arguments(sub.add_parser("studio", parents=[common], help="a live editor in the browser: the scene plays as you type"))

    p = sub.add_parser("audio", parents=[common], help="the scene's soundtrack as the scene sees it: tempo, beats, signals")
    p.add_argument("scene")
    p.add_argument("-o", "--output", type=_path_arg, metavar="SIGNALS.png", help="draw every signal over time (beats marked) as a PNG")
    p.add_argument("--json", action="store_true", help="last line of stdout: one JSON object (bpm, beat_offset, beats, duration, frames, signals)")

    p = sub.add_parser("bench", parents=[common], help="render-only throughput (no encoding)")
    p.add_argument("scene", nargs="?")
    p.add_argument("--frames", type=int, default=8, help="frames to time (default 8)")
    p.add_argument("--json", action="store_true", help="last line of stdout: one JSON object")
    return parser


def attach_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """Let an option that takes one value take a next word that starts with '-': `-o -x.mp4`
    becomes `--output=-x.mp4` (argparse alone reads `-x.mp4` as an unknown option and says
    "expected one argument"; the `=` form it takes as it is). A next word that is itself one
    of the command's options (`-o --quiet`) is left alone, and so is all after `--`."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    at = next((i for i, word in enumerate(argv) if not word.startswith("-")), None)
    if at is None or argv[at] not in commands:
        return list(argv)
    actions = commands[argv[at]]._actions
    known = {s for a in actions + parser._actions for s in a.option_strings}
    one = {s: a for a in actions for s in a.option_strings if a.nargs is None}  # store / append: exactly one value

    def option(word: str) -> str | None:
        """The option `word` names: itself, or the one long option it abbreviates (as argparse allows)."""
        if word in known:
            return word
        found = [s for s in known if word.startswith("--") and s.startswith(word)]
        return found[0] if len(found) == 1 else None

    out, i = list(argv[: at + 1]), at + 1
    while i < len(argv):
        word = argv[i]
        if word == "--":
            return out + argv[i:]
        action = one.get(option(word) or "")
        value = argv[i + 1] if i + 1 < len(argv) else None
        if action and value and value.startswith("-") and value != "--" and not option(value.split("=", 1)[0]):
            long = next((s for s in action.option_strings if s.startswith("--")), None)
            out.append(f"{long}={value}" if long else word + value)
            i += 2
        else:
            out.append(word)
            i += 1
    return out


def _path_arg(text: str) -> str:
    """-o's value: an empty one (an unset shell variable) names nothing; refused, never the default."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; name a file or folder")
    return text


def _interval(text: str) -> float:
    try:
        return watch.check_interval(float(text))
    except ValueError:  # not a number, or out of range (UsageError is a ValueError)
        raise argparse.ArgumentTypeError(f"'{text}': seconds, more than 0 and at most {watch.MAX_INTERVAL:g}") from None


def _scheduler_address(text: str) -> str:
    from . import distribute

    try:
        return distribute.scheduler_address(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _overrides(args) -> list[tuple]:
    out: list[tuple] = []  # (key path, value, how it was written)
    audio = getattr(args, "audio", None)
    if audio is not None:
        if not audio.strip():
            raise UsageError("--audio: an empty path; name an audio file")
        out.append(("audio.path", scenes.UserPath(audio), f"--audio {audio}"))
    simple = {"seed": "seed", "fps": "fps", "duration": "duration", "device": "render.device", "precision": "render.precision"}
    for flag, key in simple.items():
        value = getattr(args, flag, None)
        if value is not None:
            out.append((key, _yaml_value(value, f"--{flag}"), f"--{flag} {value}"))
    if getattr(args, "size", None):
        m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", args.size)
        if not m:
            raise UsageError(f"--size {args.size}: write WIDTHxHEIGHT, e.g. 1280x720")
        out.append(("size", [int(m.group(1)), int(m.group(2))], f"--size {args.size}"))
    for item in getattr(args, "set", []) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item}: write KEY=VALUE, e.g. --set network.activation=sin")
        out.append((key.strip(), _yaml_value(value, f"--set {key}"), f"--set {item}"))
    return out


def _yaml_value(text: str, flag: str):
    try:
        return scenes.read_value(text)
    except ValueError as e:
        raise UsageError(f"{flag}={text}: {e}") from None


def _load(path: str, args) -> scenes.Scene:
    return core.load(path, _overrides(args))


def _frame_range(spec: str | None, count: int) -> tuple[int, int]:
    if spec is None:
        return 0, count
    m = re.fullmatch(r"\s*(\d*)\s*:\s*(\d*)\s*", spec)
    if not m:
        raise UsageError(f"--frames {spec}: write A:B (frames A..B-1), e.g. 0:30")
    a = int(m.group(1)) if m.group(1) else 0
    b = int(m.group(2)) if m.group(2) else count
    if not 0 <= a < b <= count:
        raise UsageError(f"--frames {spec}: the scene has frames 0..{count - 1}; need 0 <= A < B <= {count}")
    return a, b


# ------------------------------------------------------------------ commands


def cmd_validate(args) -> int:
    bad = 0
    for path in args.scenes:
        if args.stop.event.is_set():
            raise Cancelled("stopped")
        try:
            _load(path, args)
            print(one_line(f"{path}: ok"), flush=True)
        except SceneError as e:  # every error in the file, one line each, in file order
            for error in e.errors:
                print(said(error, cli=True), file=sys.stderr)
            sys.stderr.flush()
            bad += 1
    return EXIT_BAD_INPUT if bad else EXIT_OK


def cmd_schema(args) -> int:
    print(json.dumps(scenes.json_schema(), indent=2))
    return EXIT_OK


def _bar(total: int, quiet: bool, what: str = "frame"):
    """A bar with count, rate and ETA on a terminal; nothing with --quiet or without a terminal."""
    from tqdm import tqdm

    try:  # a terminal of size 0 x 0 (`script`, some CI) would hide tqdm's bar
        sized = os.get_terminal_size(sys.stderr.fileno()).columns > 0
    except (OSError, ValueError):
        sized = False
    return tqdm(
        total=total, unit=what, disable=quiet or not sys.stderr.isatty(), leave=False,
        dynamic_ncols=sized, ncols=None if sized else 80, nrows=None if sized else 24,
    )  # fmt: skip


def _warn(message: str) -> None:
    """Our one-line warning; Python warnings (core.DraftPrecision, core.FlatPicture) are shown so too (entry.process)."""
    print(one_line(f"cppn-anim: warning: {message}"), file=sys.stderr)


class _Report(Reporter):
    """What a command tells the user: progress on its bar; notes above it (not with --quiet);
    warnings and errors always; before a long render, one line saying so."""

    def __init__(self, bar=None, quiet: bool = False, long=None):
        self.bar, self.quiet, self.long = bar, quiet, long

    def progress(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def warn(self, message: str) -> None:
        _warn(message)

    def note(self, message: str) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(f"cppn-anim: {message}", file=sys.stderr)
        else:
            print(one_line(message), file=sys.stderr, flush=True)

    def error(self, message: str) -> None:
        print(one_line(message), file=sys.stderr, flush=True)

    def starting(self) -> None:
        if self.long is not None:
            self.long()


def cmd_render(args) -> int:
    scene = _load(args.scene, args)
    if args.preview:
        if args.format and args.format != "gif":
            raise UsageError("--preview writes a GIF; leave out --format or use --format gif")
        scene = core.preview_scene(scene)
        fmt = "gif"
        path = Path(args.output) if args.output else previews.default_preview_path(scene)
    else:
        fmt = core.output_format(scene, args.output, args.format)
        path = Path(args.output) if args.output else None
    if args.output and fmt != "png" and args.output.endswith(("/", os.sep)):  # Path() drops the slash
        raise UsageError(f"-o {args.output}: names a folder; a {fmt} is a file: name it, e.g. {args.output}NAME.{fmt}")
    start, stop = _frame_range(args.frames, scene.frame_count)
    began = time.perf_counter()
    bar = _bar(stop - start, args.quiet)
    report = _Report(bar, args.quiet, long=lambda: _say_if_long(scene, stop - start, args.quiet, bar, fmt, args.preset))
    dask = entry.quiet_dask() if args.workers is not None or args.scheduler else contextlib.nullcontext()
    try:
        with dask:
            done = core.render(
                scene, path, fmt, start, stop, preset=args.preset, report=report, cancel=args.stop.event, pin=entry.Threads(),
                workers=args.workers, scheduler=args.scheduler, resume=args.resume, hold=entry.held_signals,
            )  # fmt: skip
    finally:
        bar.close()
    if not args.quiet:
        took = time.perf_counter() - began
        print(one_line(f"wrote {done.path} ({done.frames} frames, {done.width}x{done.height}, {done.format}) in {took:.1f} s"), file=sys.stderr)
    return EXIT_OK


def _say_if_long(scene: scenes.Scene, frames: int, quiet: bool, bar=None, fmt: str | None = None, preset: str | None = None) -> None:
    """One line before a long render starts (estimated over LONG_RENDER_SECONDS, rendering and
    encoding into `fmt`): frames and time, so a huge job is no surprise. On a terminal or not
    (a log shows it too); not with --quiet, which asks for no output but errors. Called once
    every check has passed, so a refused command still says one line only."""
    if quiet:
        return
    from . import resources

    audio = frames / scene.fps if fmt in ("mp4", "webm") and scene.heard is not None and scene.heard.mux else 0.0
    seconds = resources.estimate_seconds(
        scene.network, scene.width, scene.height, scene.render.supersample, frames, scene.render.device, scene.render.precision,
        fmt=fmt, preset=preset or scene.output.preset, audio_seconds=audio,
    )  # fmt: skip
    if seconds > LONG_RENDER_SECONDS:
        what = f"{frames} frames of {scene.width}x{scene.height}" if frames > 1 else f"a {scene.width}x{scene.height} still"
        line = f"cppn-anim: {what}: about {_duration(seconds)} of rendering (estimated); --preview or --frames A:B for a quick look"
        if bar is not None:
            bar.write(line, file=sys.stderr)  # above the progress bar, not through it
        else:
            print(line, file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def cmd_still(args) -> int:
    scene = _load(args.scene, args)
    # checked before any work (the weights of a large network take seconds and memory): "--frame 9: ...", "--time 99: ..."
    t = core.frame_time(scene, args.frame) if args.frame is not None else core.check_time(scene, args.time)
    core.check_named(args.output)
    if args.output and Path(args.output).suffix.lower() != ".png":
        raise UsageError(f"-o {args.output}: a still is a PNG; name it *.png")
    began = time.perf_counter()
    bar = _bar(scene.height, args.quiet, "row")
    try:
        report = _Report(bar, args.quiet, long=lambda: _say_if_long(scene, 1, args.quiet, bar))
        path = core.write_still(scene, t, args.output, report=report, cancel=args.stop.event, pin=entry.Threads())
    finally:
        bar.close()
    if not args.quiet:
        print(one_line(f"wrote {path} ({scene.width}x{scene.height}, t={float(t):g} s) in {time.perf_counter() - began:.1f} s"), file=sys.stderr)
    return EXIT_OK


def cmd_bench(args) -> int:
    if args.scene:
        scene = _load(args.scene, args)
    else:
        scene = core.parse("trajectory: {keyframes: [{at: 0, z: random}]}", "<bench>", _overrides(args), default_name="bench")
    result = bench.bench(scene, args.frames, cancel=args.stop.event, pin=entry.Threads())
    how = f"{result['kernel']}, {result['workers']} workers" if result["workers"] > 1 else result["kernel"]
    print(f"{result['frames']} frames of {scene.width}x{scene.height} on {result['device']} ({result['precision']}, {how}):"
          f" {result['frames_per_s']} frames/s, {result['megapixels_per_s']} MP/s")  # fmt: skip
    if args.json:
        print(json.dumps(result))
    return EXIT_OK


def cmd_audio(args) -> int:
    """The soundtrack as the scene sees it: tempo, beats, each signal's range; -o draws them; --json."""
    scene = _load(args.scene, args)
    heard = scene.heard
    if heard is None:
        raise scene.error(("audio",), "the scene has no soundtrack (add audio: {path: ...}, or give --audio FILE)")
    if args.output:
        path = core.write_signals_plot(scene, args.output)
        print(f"wrote {path}", file=sys.stderr)
    values = core.signals(scene)
    beats = core.beats(scene)
    audio = scene.audio
    how = "written" if audio.bpm != "auto" else ("tracked" if heard.grid.found else "no tempo found: the 120 bpm fallback")
    shown = " ".join(f"{b:.3f}" for b in beats[:16]) + (f" ... ({len(beats)} in all)" if len(beats) > 16 else "")
    print(f"{args.scene}: {heard.path} (sha256 {heard.sha256[:12]}) from {heard.start:g} s: {scene.duration:g} s,"
          f" {scene.frame_count} frames at {scene.fps:g} fps")  # fmt: skip
    print(f"tempo: {heard.grid.bpm:.3f} bpm ({how}); beat 0 at {heard.grid.beat_offset:.3f} s"
          f"{' (written)' if audio.beat_offset != 'auto' else ''}; {len(beats)} beats: {shown or 'none'}")  # fmt: skip
    for name, d in heard.definitions.items():
        v = values[name]
        timing = f"release {d.release:g} s" if d.feature == "beat" else f"attack {d.attack:g} s, release {d.release:g} s"
        print(f"  {name}: {d.what}, {timing}: min {v.min():.3f}, mean {v.mean():.3f}, max {v.max():.3f}")
    if args.json:
        print(json.dumps({
            "bpm": heard.grid.bpm, "beat_offset": heard.grid.beat_offset, "beats": [float(b) for b in beats],
            "duration": scene.duration, "frames": scene.frame_count,
            "signals": {name: [float(x) for x in v] for name, v in values.items()},
        }))  # fmt: skip
    return EXIT_OK


# ------------------------------------------------------------------ exploration


def cmd_previews(args) -> int:
    report = _Report(quiet=args.quiet)
    result = previews.previews(args.folder, args.output, _overrides(args), report=report, cancel=args.stop.event, pin=entry.Threads())
    if not args.quiet:
        print(one_line(f"wrote {result.index} ({len(result.entries)} scenes, {len(result.errors)} refused)"), file=sys.stderr)
    return EXIT_BAD_INPUT if result.errors else EXIT_OK


def _split_values(text: str) -> list[str]:
    """'a,b,[1, 2]' -> ['a', 'b', '[1, 2]']: commas inside brackets stay."""
    out, depth, current = [], 0, ""
    for ch in text:
        depth += ch in "[{" and 1 or 0
        depth -= ch in "]}" and 1 or 0
        if ch == "," and depth == 0:
            out.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        out.append(current.strip())
    return out


def _explore_axes(args) -> list:
    axes = []
    if args.seeds or not args.vary:
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+))?\s*", args.seeds or "0-7")
        if not m or (m.group(2) and int(m.group(2)) < int(m.group(1))):
            raise UsageError(f"--seeds {args.seeds}: write A-B, e.g. 0-7")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        if b - a >= 256:
            raise UsageError(f"--seeds {args.seeds}: at most 256 seeds on one sheet")
        axes.append(explore.Axis("seed", [(f"seed {n}", [("seed", n, f"--seeds {args.seeds or '0-7'}")]) for n in range(a, b + 1)]))
    for item in args.vary:
        key, sep, values = item.partition("=")
        if not sep or not values.strip():
            raise UsageError(f"--vary {item}: write KEY=V1,V2,... e.g. network.activation=tanh,sin")
        key = key.strip()
        choices = []
        for v in _split_values(values):
            if key == "size":
                m = re.fullmatch(r"(\d+)[xX](\d+)", v)
                if not m:
                    raise UsageError(f"--vary size={values}: sizes are WxH")
                choices.append((f"{m.group(1)}x{m.group(2)}", [("size", [int(m.group(1)), int(m.group(2))], f"--vary size={v}")]))
            else:
                choices.append((f"{key.split('.')[-1]}={v}", [(key, _yaml_value(v, f"--vary {key}"), f"--vary {key}={v}")]))
        axes.append(explore.Axis(key, choices))
    if len(axes) > 2:
        raise UsageError("explore makes a row or a grid: at most two of --seeds / --vary")
    return axes


def cmd_explore(args) -> int:
    axes = _explore_axes(args)
    total = len(axes[0].choices) * (len(axes[1].choices) if len(axes) > 1 else 1)
    bar = _bar(total, args.quiet, "still")
    try:
        report = _Report(bar, args.quiet)
        done = explore.explore(args.scene, axes, _overrides(args), args.time, args.cell, args.output, report=report, cancel=args.stop.event, pin=entry.Threads())
    finally:
        bar.close()
    if not args.quiet:
        print(one_line(f"wrote {done.path} ({done.cells} stills at t={done.time:g} s)"), file=sys.stderr)
    return EXIT_OK


def cmd_watch(args) -> int:
    class Lines(Reporter):
        def note(self, line: str) -> None:
            print(one_line(line), file=sys.stderr, flush=True)

    path = Path(args.scene)
    core.check_named(args.output)
    if not path.is_file():
        core.load(path, _overrides(args))  # the one-line "no such file": exit 2 before watching
    print(one_line(f"watching {path} (Ctrl-C to stop)"), file=sys.stderr, flush=True)
    try:
        watch.watch(path, args.output, _overrides(args), args.interval, report=Lines(), cancel=args.stop.event, pin=entry.Threads())
    except (Cancelled, KeyboardInterrupt):
        if args.stop.signum not in (None, signal.SIGINT):
            raise Cancelled("stopped") from None  # SIGTERM 143, SIGHUP 129: not the normal end
        print("stopped watching", file=sys.stderr)
    return EXIT_OK


def cmd_studio(args) -> int:
    """Until stopped: Ctrl-C is the normal end (0); SIGTERM 143, SIGHUP 129."""
    signum = studio_server.run(args, _overrides(args))
    if signum in (None, signal.SIGINT):
        return EXIT_OK
    _say(f"cppn-anim: {entry.SAID.get(signum, 'terminated')}")
    return entry.EXIT.get(signum, 143)


COMMANDS = {
    "render": cmd_render,
    "still": cmd_still,
    "validate": cmd_validate,
    "schema": cmd_schema,
    "bench": cmd_bench,
    "audio": cmd_audio,
    "explore": cmd_explore,
    "previews": cmd_previews,
    "watch": cmd_watch,
    "studio": lambda args: cmd_studio(args),
}


def _output_closed() -> int:
    """Our standard output (or error) has no reader any more: stop without a word (there is
    no one to read it), with stdout pointed at /dev/null so the flush at exit cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file behind sys.stdout
        pass
    return EXIT_PIPE


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status. A fault of ours that nothing above foresaw is still
    one line (and exit 1), never a traceback; Ctrl-C and SystemExit (--help) pass through."""
    try:
        return _run(argv)
    except BrokenPipeError:  # stderr closed while saying what went wrong
        return _output_closed()
    except Exception as e:  # noqa: BLE001 - the last resort
        message = re.sub(r"\s*\n\s*", " | ", str(e).strip())
        print(one_line(f"cppn-anim: internal error: {type(e).__name__}: {message} (please report this)"), file=sys.stderr)
        return EXIT_FAILED


def _run(argv: list[str] | None) -> int:
    stop = entry.Stop()
    # the process's own command line (argv None) keeps its signal handling to the end;
    # called with argv (in-process, as the tests do), main puts back what it found
    with entry.process(stop, _warn, keep_signals=argv is None):
        try:
            parser = build_parser()
            args = parser.parse_args(attach_values(parser, sys.argv[1:] if argv is None else argv))
            args.stop = stop  # the commands' cancel flag: set by a signal
            code = COMMANDS[args.command](args)
            sys.stdout.flush()  # a closed pipe shows here, not in Python's own flush at exit
            return code
        except BrokenPipeError:
            return _output_closed()
        except Cancelled:  # a signal: everything begun is cleaned up already
            _say(f"cppn-anim: {stop.said}")
            return stop.exit_status
        except (UsageError, SceneError, OutputError) as e:
            print(said(e, cli=True), file=sys.stderr)  # options in the command line's words (errors.option)
            return EXIT_BAD_INPUT
        except RenderError as e:  # encoding, a busy target, memory refused from the estimate
            print(f"cppn-anim: {said(e, cli=True)}", file=sys.stderr)
            return EXIT_FAILED
        except KeyboardInterrupt:  # where no handler of ours turned Ctrl-C into a flag
            _say("cppn-anim: interrupted")
            return EXIT_INTERRUPTED
        except (MemoryError, RuntimeError) as e:
            from . import resources  # loaded already if torch ran out; numpy's MemoryError: loads it now

            ran_out = resources.out_of_memory(e)
            if ran_out is None:
                raise
            print(f"cppn-anim: out of {ran_out} while rendering; use a smaller --size, network.width or network.depth,"
                  " render.supersample, or render.precision bf16", file=sys.stderr)  # fmt: skip
            return EXIT_FAILED
        except OSError as e:
            print(one_line(f"cppn-anim: {e}"), file=sys.stderr)
            return EXIT_FAILED


def _say(line: str) -> None:
    """A last line on standard error, which a hang-up may have closed: then nothing."""
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:
        pass
