import json

import numpy as np
from PIL import Image

import pytest

from conftest import ROOT, cli_main, run_cli, video_info


def test_still_equals_the_frame_of_a_png_sequence(tiny, tmp_path):
    assert cli_main("render", tiny, "-o", tmp_path / "seq", "--format", "png", "--quiet").returncode == 0
    for i in (0, 5):
        still = tmp_path / f"still{i}.png"
        r = cli_main("still", tiny, "--frame", i, "-o", still, "--quiet")
        assert r.returncode == 0, r.stderr
        assert np.array_equal(np.asarray(Image.open(still)), np.asarray(Image.open(tmp_path / "seq" / f"frame_{i:05d}.png")))


def test_frames_range_renders_a_part(tiny, tmp_path):
    out = tmp_path / "part.mp4"
    assert cli_main("render", tiny, "-o", out, "--frames", "2:5", "--quiet").returncode == 0
    assert video_info(out)["frames"] == 3
    frames = tmp_path / "part"
    assert cli_main("render", tiny, "-o", frames, "--format", "png", "--frames", "6:8", "--quiet").returncode == 0
    assert sorted(p.name for p in frames.iterdir()) == ["frame_00006.png", "frame_00007.png"]


def test_overrides_on_the_command_line(tiny, tmp_path):
    out = tmp_path / "o.gif"
    r = cli_main("render", tiny, "-o", out, "--size", "20x10", "--fps", 4, "--duration", 2, "--seed", 9, "--set", "network.activation=sin", "--quiet")
    assert r.returncode == 0, r.stderr
    gif = Image.open(out)
    assert gif.size == (20, 10) and gif.n_frames == 8


def test_preview_is_small_slow_and_a_gif(tmp_path):
    scene = tmp_path / "wide.yaml"
    scene.write_text("duration: 1\nfps: 30\nsize: [1280, 720]\ntrajectory: {keyframes: [{at: 0, z: random}]}\n")
    out = tmp_path / "p.gif"
    assert cli_main("render", scene, "--preview", "-o", out, "--quiet").returncode == 0
    gif = Image.open(out)
    assert gif.size == (256, 144) and gif.n_frames == 15 and gif.info["loop"] == 0


def test_bench_json(tmp_path):
    r = cli_main("bench", "--size", "64x32", "--frames", 2, "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert {"megapixels_per_s", "frames_per_s", "width", "height", "frames", "device", "precision"} <= set(result)
    assert (result["width"], result["height"], result["frames"], result["device"], result["precision"]) == (64, 32, 2, "cpu", "fp32")
    assert result["megapixels_per_s"] > 0
    # what ran, as `render` runs it: the fused CPU kernel on torch's thread count of band workers
    import torch

    assert (result["kernel"], result["workers"], result["why_not_fused"]) == ("fused-cpu", torch.get_num_threads(), None)
    r = cli_main("bench", "--size", "64x32", "--frames", 1, "--json", env={"CPPN_ANIM_KERNEL": "eager"})
    assert json.loads(r.stdout.strip().splitlines()[-1])["kernel"] == "torch"


def test_bad_arguments_exit_2_with_one_line(tiny, tmp_path):
    cases = [
        ("render", tiny, "--size", "big"),
        ("render", tiny, "--frames", "5:2"),
        ("render", tiny, "-o", tmp_path / "x.avi"),
        ("render", tiny, "--set", "nokey"),
        ("render", tiny, "--set", "network.depth=0"),
        ("render", tiny, "--device", "cuda:7"),
        ("still", tiny, "--frame", 99, "-o", tmp_path / "s.png"),
        ("still", tiny, "--time", 1, "-o", tmp_path / "s.jpg"),
        ("render",),
        ("frobnicate",),
    ]
    for args in cases:
        r = cli_main(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, (args, r.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]


@pytest.mark.slow
def test_contract_examples():
    """The shared contract's public examples (../shared/check-contract, where it is beside the checkout)."""
    import subprocess

    checker = ROOT.parent / "shared" / "check-contract"
    cli = ROOT / ".venv" / "bin" / "cppn-anim"
    if not checker.exists() or not cli.exists():
        pytest.skip("the shared contract checker or .venv is not there")
    r = subprocess.run([str(checker), str(cli)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout


def _stderr_on_a_terminal(*args) -> str:
    """Run the command with stderr on a pseudo-terminal and return what it showed there."""
    import os
    import pty
    import subprocess

    from conftest import popen_cli

    master, slave = pty.openpty()
    proc = popen_cli(*args, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the other side closed
            break
        if not data:
            break
        chunks.append(data)
    proc.wait()
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_progress_bar_only_on_a_terminal(tmp_path):
    scene = tmp_path / "s.yaml"
    scene.write_text("duration: 2\nfps: 30\nsize: [160, 90]\ntrajectory: {keyframes: [{at: 0, z: random}]}\n")
    shown = _stderr_on_a_terminal("render", scene, "-o", tmp_path / "a.mp4")
    assert "frame/s" in shown and "/60" in shown and "<" in shown  # count, rate, ETA
    assert "frame/s" not in _stderr_on_a_terminal("render", scene, "-o", tmp_path / "b.mp4", "--quiet")
    assert "frame/s" not in run_cli("render", scene, "-o", tmp_path / "c.mp4").stderr  # not a terminal


@pytest.mark.slow
def test_the_console_script_exit_status(tiny, tmp_path):
    """The installed `cppn-anim` itself (not main() in this process): 0, and 2 with one line."""
    import subprocess

    script = ROOT / ".venv" / "bin" / "cppn-anim"
    if not script.exists():
        pytest.skip("no .venv/bin/cppn-anim")
    ok = subprocess.run([str(script), "render", str(tiny), "-o", str(tmp_path / "a.gif"), "--quiet"], capture_output=True, text=True)
    assert ok.returncode == 0 and Image.open(tmp_path / "a.gif").n_frames == 8, ok.stderr
    bad = subprocess.run([str(script), "render", str(tiny), "--size", "big"], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


def _one_line(r) -> bool:
    return len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.parametrize("out", ["./", ".", "..", "/", "", "out/", "sub/.."])
def test_a_folder_or_nothing_as_o_is_refused_in_one_line(tiny, tmp_path, out):
    """QA: `-o ./` (and `.`, `..`, `/`, `''`) gave a traceback (Path.with_suffix of a name-less
    path). A folder where a file is meant, or an empty -o (an unset shell variable; once it
    silently meant the default path), is exit 2, one line, nothing written anywhere."""
    work = tmp_path / "work"
    work.mkdir()
    for args in [("render", tiny, "-o", out), ("render", tiny, "--preview", "-o", out), ("still", tiny, "--frame", 0, "-o", out),
                 ("explore", tiny, "--seeds", "0-1", "-o", out)]:  # fmt: skip
        r = cli_main(*args, cwd=work)
        assert r.returncode == 2 and _one_line(r), (args, r.stderr)
    for command in ("previews", "watch") if out == "" else ():  # -o of every command refuses an empty path
        r = cli_main(command, tiny if command == "watch" else tmp_path, "-o", out, cwd=work)
        assert r.returncode == 2 and _one_line(r) and "an empty path" in r.stderr, (command, r.stderr)
    assert list(work.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml", "work"]


def test_an_unforeseen_exception_is_one_line_exit_1(tiny, monkeypatch):
    """The last resort in main: any Exception nothing foresaw -> `cppn-anim: internal error:
    TYPE: message (please report this)`, exit 1, no traceback; Ctrl-C and --version keep theirs."""
    from cppn_anim import cli

    def broken(args):
        raise ZeroDivisionError("boom\nsecond line")

    monkeypatch.setitem(cli.COMMANDS, "schema", broken)
    r = cli_main("schema")
    assert r.returncode == 1 and r.stderr == "cppn-anim: internal error: ZeroDivisionError: boom | second line (please report this)\n"
    monkeypatch.setitem(cli.COMMANDS, "schema", lambda args: (_ for _ in ()).throw(RuntimeError("not memory")))
    r = cli_main("schema")  # a RuntimeError that is not out-of-memory used to escape as a traceback
    assert r.returncode == 1 and r.stderr == "cppn-anim: internal error: RuntimeError: not memory (please report this)\n"
    monkeypatch.setitem(cli.COMMANDS, "schema", lambda args: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert cli_main("schema").returncode == 130
    r = cli_main("--version")
    assert r.returncode == 0 and r.stdout.startswith("cppn-anim ")


@pytest.mark.parametrize("argv, parsed", [
    (["render", "s.yaml", "-o", "-x.mp4"], ["render", "s.yaml", "--output=-x.mp4"]),
    (["render", "s.yaml", "--output", "-x.mp4", "-q"], ["render", "s.yaml", "--output=-x.mp4", "-q"]),
    (["render", "s.yaml", "--out", "-x.mp4"], ["render", "s.yaml", "--output=-x.mp4"]),  # an abbreviation argparse allows
    (["render", "s.yaml", "--size", "-5x90", "--set", "-k=1"], ["render", "s.yaml", "--size=-5x90", "--set=-k=1"]),
    (["render", "s.yaml", "--preview", "-o", "-p.gif"], ["render", "s.yaml", "--preview", "--output=-p.gif"]),
    (["still", "s.yaml", "--time", "-1", "-o", "-a.png"], ["still", "s.yaml", "--time=-1", "--output=-a.png"]),
    (["render", "s.yaml", "-o", "--quiet"], None),  # the next word is an option: argparse says what is missing
    (["render", "s.yaml", "-o", "-q"], None),
    (["render", "s.yaml", "-o", "--format=gif"], None),
    (["render", "s.yaml", "-q", "--format", "gif", "-o", "x.gif"], None),  # nothing to attach
    (["render", "s.yaml", "--", "-o", "-x"], None),  # all after -- as given
    (["--version"], None),
])  # fmt: skip
def test_attach_values_takes_a_next_word_starting_with_a_dash(argv, parsed):
    from cppn_anim import cli

    assert cli.attach_values(cli.build_parser(), argv) == (argv if parsed is None else parsed)


def test_every_one_value_option_takes_a_value_starting_with_a_dash():
    """Each option of each command that takes one value accepts `-...` as the next word."""
    import argparse

    from cppn_anim import cli

    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    checked = 0
    for name, sub in commands.items():
        positional = ["s.yaml"] if any(not a.option_strings and a.nargs in (None, "+") for a in sub._actions) else []
        for action in sub._actions:
            if action.nargs is not None or not action.option_strings or action.dest in ("scheduler", "port", "interval"):  # checked forms: their own tests
                continue
            value = "-5" if action.type in (int, float) else "-v.x"
            extra = ["--time", "1"] if name == "still" and action.dest not in ("time", "frame") else []
            for flag in action.option_strings:
                if action.choices:  # the value reached the option: argparse names it among the choices
                    with pytest.raises(cli.UsageError, match=f"invalid choice: '{value}'"):
                        parser.parse_args(cli.attach_values(parser, [name, *positional, *extra, flag, value]))
                    continue
                args = parser.parse_args(cli.attach_values(parser, [name, *positional, *extra, flag, value]))
                got = getattr(args, action.dest)
                assert got == ([value] if isinstance(got, list) else action.type(value) if action.type in (int, float) else value), (name, flag, got)
                checked += 1
    assert checked > 30


def test_dash_values_through_the_cli(tiny, tmp_path):
    """QA: `-o -lead2.webm` and `--size -5x90` said 'expected one argument'. Now -o/--output
    take the file named `-x.mp4`, --size -5x90 reaches the size check (exit 2, one line),
    and flags next to them still work."""
    r = cli_main("render", tiny, "-o", "-x.mp4", "-q", "--frames", "0:2", cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert video_info(tmp_path / "-x.mp4")["frames"] == 2
    r = cli_main("render", tiny, "--quiet", "--output", "-y.gif", "--frames", "0:3", cwd=tmp_path)
    assert r.returncode == 0 and Image.open(tmp_path / "-y.gif").n_frames == 3, r.stderr
    r = cli_main("render", tiny, "--size", "-5x90", "-o", "-z.mp4", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr == "--size -5x90: write WIDTHxHEIGHT, e.g. 1280x720\n"
    r = cli_main("render", tiny, "-o", "--quiet", cwd=tmp_path)
    assert r.returncode == 2 and "-o/--output: expected one argument" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["-x.mp4", "-y.gif", "tiny.yaml"]


class _ClosedPipe:
    """A standard output whose reader went away: writing (or, for `buffered`, the flush of
    what was written) raises BrokenPipeError, as a real closed pipe does."""

    def __init__(self, buffered: bool):
        self.buffered, self.held = buffered, ""

    def write(self, text: str) -> int:
        if not self.buffered:
            raise BrokenPipeError(32, "Broken pipe")
        self.held += text
        return len(text)

    def flush(self) -> None:
        if self.held:
            raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("buffered", [False, True])
@pytest.mark.parametrize("command", [("schema",), ("validate", "TINY", "TINY"), ("bench", "--frames", "1", "--size", "8x8", "--json")])
def test_a_closed_stdout_ends_quietly_with_141(tiny, command, buffered):
    """QA: `cppn-anim schema | head -1` printed `cppn-anim: [Errno 32] Broken pipe`. Every
    command that prints ends quietly when its reader went away: nothing on stderr, exit 141
    (128 + SIGPIPE, what a shell shows for a tool that SIGPIPE ended), whether the pipe breaks
    on a write or on the last flush."""
    import contextlib
    import io
    import signal

    from cppn_anim.cli import main

    err, saved = io.StringIO(), signal.getsignal(signal.SIGTERM)
    try:
        with contextlib.redirect_stdout(_ClosedPipe(buffered)), contextlib.redirect_stderr(err):
            code = main([str(tiny) if a == "TINY" else a for a in command])
    finally:
        signal.signal(signal.SIGTERM, saved)
    assert (code, err.getvalue()) == (141, "")


def test_a_closed_pipe_in_a_real_process_ends_quietly(tiny):
    """The real thing: standard output a pipe whose reading end is already closed (the
    reader, e.g. `head -1`, is gone), so Python's own flush at exit would fail too."""
    import os
    import subprocess
    import sys

    for args in (["schema"], ["validate", str(tiny)]):
        read, write = os.pipe()
        os.close(read)
        try:
            r = subprocess.run([sys.executable, "-m", "cppn_anim", *args], stdout=write, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        finally:
            os.close(write)
        assert (r.returncode, r.stderr) == (141, ""), args
