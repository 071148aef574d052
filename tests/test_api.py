"""The Python API (cppn_anim.load ...): the docs' example runs; same pixels and errors as the CLI."""
import base64
import io
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import cppn_anim
from cppn_anim import cli
from conftest import ROOT, TINY, decode, video_info


def _docs_example() -> str:
    """The first Python block of docs/api.md (the API page's example)."""
    text = (ROOT / "docs" / "api.md").read_text()
    return re.search(r"```python\n(.*?)```", text, re.S).group(1)


def test_the_docs_example_runs(tmp_path, monkeypatch, capsys):
    (tmp_path / "scenes").mkdir()
    shutil.copy(ROOT / "scenes" / "spiral.yaml", tmp_path / "scenes")
    monkeypatch.chdir(tmp_path)
    names: dict = {}
    exec(compile(_docs_example(), "docs/api.md", "exec"), names)
    assert names["frame"].shape == (72, 128, 3) and names["frame"].dtype == np.uint8
    assert names["path"] == tmp_path / "out" / "x.mp4" or names["path"].resolve() == tmp_path / "out" / "x.mp4"
    assert video_info(tmp_path / "out" / "x.mp4")["frames"] == 16  # 8 s at 2 fps
    gif = Image.open(io.BytesIO(names["preview"].data))
    assert gif.format == "GIF" and gif.n_frames == 16 and gif.size == (128, 72)  # the scene is 128x72: never enlarged
    out = capsys.readouterr().out
    assert "scenes/spiral.yaml: --set network.depth=99: network.depth: must be <= 64, got 99" in out


def test_still_is_the_cli_still(tiny, tmp_path):
    scene = cppn_anim.load(tiny, overrides={"seed": 9})
    frame = scene.still(t=0.25, size=(40, 24))
    assert frame.shape == (24, 40, 3) and frame.dtype == np.uint8 and frame.std() > 1
    png = tmp_path / "s.png"
    assert cli.main(["still", str(tiny), "--time", "0.25", "--size", "40x24", "--seed", "9", "-o", str(png), "--quiet"]) == 0
    assert np.array_equal(frame, np.asarray(Image.open(png).convert("RGB")))


def test_frames_are_the_rendered_frames_in_order(tiny, tmp_path):
    scene = cppn_anim.load(tiny)
    frames = list(scene.frames(start=2, stop=5))
    assert len(frames) == 3 and all(f.shape == (32, 48, 3) and f.dtype == np.uint8 for f in frames)
    path = scene.render(tmp_path / "seq", format="png")
    assert path == tmp_path / "seq"
    for i, frame in zip(range(2, 5), frames):
        assert np.array_equal(frame, np.asarray(Image.open(path / f"frame_{i:05d}.png")))
    assert not np.array_equal(frames[0], frames[2])  # they move


def test_render_picks_the_format_from_the_path_and_reports_progress(tiny, tmp_path):
    done = []
    path = cppn_anim.load(tiny).render(tmp_path / "a.gif", progress=done.append)
    assert path == tmp_path / "a.gif" and sum(done) == 8
    assert Image.open(path).n_frames == 8
    mp4 = cppn_anim.load(tiny).render(tmp_path / "a.mp4", start=1, stop=4)
    assert len(decode(mp4)) == 3


def test_scene_error_fields_for_a_file_and_for_an_override(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.replace("depth: 3", "depth: 0"))
    with pytest.raises(cppn_anim.SceneError) as e:
        cppn_anim.load(bad)
    err = e.value
    assert (err.line, err.col, err.key_path) == (5, 43, "network.depth")
    assert err.message == "must be >= 1, got 0"
    assert str(err) == f"{bad}:5:43: network.depth: must be >= 1, got 0"
    good = tmp_path / "good.yaml"
    good.write_text(TINY)
    with pytest.raises(cppn_anim.SceneError) as e:
        cppn_anim.load(good, overrides={"network.activation": "sine"})
    err = e.value
    assert err.line is None and err.col is None and err.key_path == "network.activation"
    assert str(err).startswith(f"{good}: --set network.activation=sine: network.activation: unknown activation 'sine'")


def test_a_time_or_frame_outside_the_scene_is_a_value_error(tiny):
    scene = cppn_anim.load(tiny)
    with pytest.raises(ValueError, match="runs from 0 to 1 s"):
        scene.still(t=2)
    with pytest.raises(ValueError, match="frames 0..7"):
        list(scene.frames(0, 9))


def test_still_of_a_frame_is_the_cli_still_frame(tiny, tmp_path):
    """still(frame=I) is `cppn-anim still --frame I`: the frame at t = I / fps, exactly as the video has it."""
    scene = cppn_anim.load(tiny)
    png = tmp_path / "f.png"
    assert cli.main(["still", str(tiny), "--frame", "3", "-o", str(png), "--quiet"]) == 0
    assert np.array_equal(scene.still(frame=3), np.asarray(Image.open(png).convert("RGB")))
    assert np.array_equal(scene.still(frame=np.int64(0)), scene.still())  # numpy integers are whole numbers too
    with pytest.raises(cppn_anim.UsageError, match="frame 8: the scene has frames 0..7"):
        scene.still(frame=8)
    with pytest.raises(cppn_anim.UsageError, match="frame -1"):
        scene.still(frame=-1)
    with pytest.raises(cppn_anim.ArgumentError, match="frame: a whole number"):
        scene.still(frame=1.0)
    with pytest.raises(cppn_anim.ArgumentError, match="not both"):
        scene.still(0.5, frame=1)


def test_a_notebook_shows_a_still_and_a_looping_preview(tiny):
    scene = cppn_anim.loads(TINY, overrides={"size": (64, 40)}, name="nb")
    png = Image.open(io.BytesIO(scene._repr_png_()))
    assert png.format == "PNG" and png.size == (64, 40)
    assert np.array_equal(np.asarray(png.convert("RGB")), scene.still(0.0))
    html = scene.preview()._repr_html_()
    data = base64.b64decode(re.search(r'src="data:image/gif;base64,([^"]+)"', html).group(1))
    gif = Image.open(io.BytesIO(data))
    assert gif.n_frames == 8 and gif.info["loop"] == 0 and gif.size == (64, 40)  # never larger than the scene
    assert "nb" in repr(scene) and "64x40" in repr(scene)


@pytest.mark.slow
def test_import_is_light_until_something_renders(tiny):
    code = (
        "import sys, cppn_anim\n"
        f"scene = cppn_anim.load({str(tiny)!r})\n"
        "assert 'torch' not in sys.modules, 'torch loaded by load()'\n"
        "scene.still(0.5, size=(8, 8))\n"
        "assert 'torch' in sys.modules\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


def _process_state() -> dict:
    """What the API must leave as it found: torch's and BLAS's threads, the environment,
    the warning filters and showwarning, every signal handler."""
    import os
    import signal
    import warnings

    import torch
    from threadpoolctl import threadpool_info

    handlers = {}
    for sig in signal.valid_signals():
        try:
            handlers[sig] = signal.getsignal(sig)
        except (OSError, ValueError):
            continue
    return {
        "torch": (torch.get_num_threads(), torch.get_num_interop_threads()),
        "blas": [(i["prefix"], i["num_threads"]) for i in threadpool_info()],
        "environ": dict(os.environ),
        "filters": list(warnings.filters),
        "showwarning": warnings.showwarning,
        "signals": handlers,
    }


def test_the_api_changes_nothing_process_wide(tiny, tmp_path, monkeypatch):
    """load, loads, still, frames, render (a video, a GIF, png frames), preview: the
    process's threads, environment, warning filters and signal handlers stay exactly as
    the caller had them, and nothing even sets torch's threads for a while."""
    import torch

    calls = []
    for name in ("set_num_threads", "set_num_interop_threads"):
        real = getattr(torch, name)
        monkeypatch.setattr(torch, name, lambda n, real=real, name=name: (calls.append((name, n)), real(n))[1])
    before = _process_state()
    scene = cppn_anim.load(tiny, overrides={"seed": 2})
    scene.still(0.25)
    scene.still(0.25, size=(64, 40))
    list(scene.frames(0, 3))
    scene.render(tmp_path / "a.mp4", progress=lambda n: None)
    scene.render(tmp_path / "a.gif")
    scene.render(tmp_path / "frames", format="png", start=0, stop=2)
    scene.preview()
    cppn_anim.loads(TINY).still(0.0)
    assert calls == []
    assert _process_state() == before


def test_wrong_argument_types_are_argument_errors(tiny):
    """A TypeError that says which argument: cppn_anim.ArgumentError."""
    with pytest.raises(cppn_anim.ArgumentError, match="path"):
        cppn_anim.load(42)
    with pytest.raises(cppn_anim.ArgumentError, match="YAML text"):
        cppn_anim.loads(b"seed: 1")
    with pytest.raises(cppn_anim.ArgumentError, match="overrides"):
        cppn_anim.load(tiny, overrides=[("seed", 1)])
    scene = cppn_anim.load(tiny)
    for size in ((64,), "64x40", (64.5, 40), (True, 40)):
        with pytest.raises(cppn_anim.ArgumentError, match="size"):
            scene.still(0.0, size=size)
    with pytest.raises(cppn_anim.ArgumentError, match="t: a number"):
        scene.still("0.5")
    with pytest.raises(cppn_anim.ArgumentError, match="start: a whole number"):
        scene.frames(start=1.5)
    with pytest.raises(cppn_anim.ArgumentError, match="render.path"):
        scene.render(42)
    with pytest.raises(cppn_anim.ArgumentError, match="render.progress"):
        scene.render("out/x.gif", progress=3)
    with pytest.raises(cppn_anim.ArgumentError, match="render.cancel"):
        scene.render("out/x.gif", cancel="stop")
    with pytest.raises(cppn_anim.ArgumentError, match="each key is a key path"):
        cppn_anim.load(tiny, overrides={1: 2})
    with pytest.raises(cppn_anim.ArgumentError, match="loads.name"):
        cppn_anim.loads("seed: 1", name=5)
    assert isinstance(cppn_anim.ArgumentError("x"), TypeError)


def test_the_errors_are_one_family():
    from cppn_anim import errors

    assert issubclass(cppn_anim.SceneError, ValueError) and issubclass(cppn_anim.OutputError, ValueError)
    assert issubclass(cppn_anim.UsageError, ValueError) and issubclass(cppn_anim.RenderError, RuntimeError)
    assert issubclass(cppn_anim.OutOfMemory, MemoryError) and issubclass(cppn_anim.EncodeError, cppn_anim.RenderError)
    assert issubclass(cppn_anim.TargetBusy, cppn_anim.RenderError) and issubclass(cppn_anim.DeviceUnavailable, cppn_anim.RenderError)
    for name in cppn_anim.__all__[4:]:
        assert issubclass(getattr(cppn_anim, name), errors.CppnAnimError), name


def test_a_render_stops_when_its_cancel_flag_is_set(tiny, tmp_path):
    """From another thread (a notebook's button, a server): the target stays as it was."""
    import threading

    cancel, out = threading.Event(), tmp_path / "a.mp4"
    out.write_bytes(b"old")
    with pytest.raises(cppn_anim.Cancelled):
        cppn_anim.load(tiny).render(out, progress=lambda n: cancel.set(), cancel=cancel)
    assert out.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "tiny.yaml"]


def test_api_errors_name_the_apis_arguments_and_the_cli_its_options(tiny, tmp_path):
    """render("y.avi") told a Python caller `-o out/api/y.avi: ... add --format mp4|gif|webm|png`:
    a message names the caller's own options (errors.option), in the API's words through the
    API (`path`, `format=`) and in the command line's through the command line."""
    scene = cppn_anim.load(tiny)
    out = tmp_path / "y.avi"
    with pytest.raises(cppn_anim.UsageError) as caught:
        scene.render(out)
    message = str(caught.value)
    assert message == f"path {out}: cannot tell the format from '.avi'; pass format='mp4', 'gif', 'webm' or 'png'"
    with pytest.raises(cppn_anim.UsageError, match=r"^path .*\.mp4: '\.mp4' is an extension without a name"):
        scene.render(tmp_path / ".mp4")
    with pytest.raises(cppn_anim.UsageError, match=r"^time 9: the scene runs from 0 to 1 s$"):
        scene.still(9)
    from conftest import cli_main  # the command line keeps its flags

    assert cli_main("render", tiny, "-o", out).stderr.strip() == f"-o {out}: cannot tell the format from '.avi'; add --format mp4|gif|webm|png"
    assert cli_main("still", tiny, "--time", 9).stderr.strip() == "--time 9: the scene runs from 0 to 1 s"
    assert cli_main("still", tiny, "--frame", 8).stderr.strip() == "--frame 8: the scene has frames 0..7"


FLAGS = re.compile(r"(?:^|[\s(])(-o|--format|--frames|--size|--time|--frame)\b")


@pytest.mark.parametrize("module", ["core", "targets", "api", "resources", "previews", "encode", "ffmpeg", "gif", "distribute"])
def test_no_message_the_api_can_reach_names_a_command_line_flag(module):
    """The whole kind: in the modules the API calls, no raised message names a flag of the
    command line; it writes errors.option(role), said in the reader's words."""
    import ast

    tree = ast.parse((ROOT / "cppn_anim" / f"{module}.py").read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for part in ast.walk(node.exc):
                if isinstance(part, ast.Constant) and isinstance(part.value, str) and FLAGS.search(part.value):
                    found.append(f"line {part.lineno}: {part.value!r}")
    assert not found, found
