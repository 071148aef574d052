"""The core and its callers: still's default path, explore, previews, watch, make, quiet Dask, the seams to the CLI."""
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cppn_anim import cli, core, explore, previews
from conftest import CLI, ROOT, TINY, cli_main, write_scene

SHORT = "duration: 2\nfps: 4\nsize: [40, 24]\nnetwork: {latent_dim: 3, width: 8, depth: 3}\ntrajectory: {keyframes: [{at: 0, z: random}, {at: 2, z: random}]}\n"


def find(big: np.ndarray, small: np.ndarray) -> list[tuple[int, int]]:
    """Where `small` (h, w, 3) appears pixel for pixel inside `big`: [(y, x), ...]."""
    h, w = small.shape[:2]
    ys, xs = np.nonzero((big[: big.shape[0] - h + 1, : big.shape[1] - w + 1] == small[0, 0]).all(-1))
    return [(y, x) for y, x in zip(ys, xs) if np.array_equal(big[y : y + h, x : x + w], small)]


@pytest.mark.parametrize("size,side,want", [((160, 90), 256, [160, 90]), ((256, 144), 256, [256, 144]), ((1280, 720), 256, [256, 144]),
                                            ((300, 500), 256, [154, 256]), ((48, 32), 160, [48, 32]), ((4000, 3), 256, [256, 1])])
def test_fit_shrinks_but_never_enlarges(size, side, want):
    assert core.fit(size, side) == want


def test_previews_are_never_larger_than_the_scene(tmp_path):
    """A 160x90 scene's --preview used to be 256x144: every preview size comes from core.fit."""
    from cppn_anim import api, studio_session as studio

    small = core.parse(SHORT.replace("[40, 24]", "[160, 90]"), default_name="mini")
    assert core.preview_scene(small).size == [160, 90] and core.preview_scene(small).fps == 4
    assert studio.preview_of(small).size == [160, 90] and studio.Compiled(small).info()["width"] == 160
    big = core.parse(SHORT.replace("[40, 24]", "[1280, 720]"))
    assert core.preview_scene(big).size == [256, 144] and studio.preview_of(big).size == [320, 180]
    out = tmp_path / "mini.preview.gif"
    scene = write_scene(tmp_path, SHORT.replace("[40, 24]", "[160, 90]"), "mini.yaml")
    assert cli.main(["render", str(scene), "--preview", "-o", str(out), "--quiet"]) == 0
    gif = Image.open(out)
    assert gif.size == (160, 90) and gif.n_frames == 8
    notebook = Image.open(__import__("io").BytesIO(api.Animation(small)._repr_png_()))
    assert notebook.size == (160, 90)


def test_explore_cells_are_never_larger_than_the_scene(tmp_path):
    scene = write_scene(tmp_path, SHORT)  # 40x24, cells of 192 asked
    out = tmp_path / "sheet.png"
    assert cli.main(["explore", str(scene), "--seeds", "1-2", "--cell", "192", "-o", str(out), "--quiet"]) == 0
    sheet = np.asarray(Image.open(out).convert("RGB"))
    for seed in (1, 2):
        still = core.still(core.load(scene, {"seed": seed}), 0.0)
        assert still.shape == (24, 40, 3) and len(find(sheet, still)) == 1  # shown at its own size, not scaled up


def blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


@pytest.mark.parametrize("style", ["cppn-anim", "hardmaru", "guibas"])
def test_weights_are_the_same_bit_for_bit_on_one_blas_thread_or_many(style):
    from threadpoolctl import threadpool_limits

    from cppn_anim import network

    scene = core.parse(SHORT.replace("width: 8, depth: 3", f"width: 64, depth: 6, style: {style}"))
    with threadpool_limits(max(2, os.cpu_count() or 1), user_api="blas"):  # as many as numpy would take
        many = network.build(scene.network, scene.seed)
    one = core.build_weights(scene)
    arrays = lambda w: [w.first, w.first_z, w.first_bias, *[a for layer in w.hidden for a in layer], w.out, w.out_bias, w.coords]  # noqa: E731
    assert all(a.tobytes() == b.tobytes() for a, b in zip(arrays(many), arrays(one), strict=True))


def test_every_command_and_the_studio_build_weights_on_one_blas_thread(monkeypatch, tiny):
    """numpy's BLAS threads made network.build 30-130x slower on a busy machine: the entry
    points (entry.process: every command, and the studio, which runs under it) build the
    weights on one thread, and give the threads back after. The API (core, api) changes
    nothing process-wide: it builds them on the caller's BLAS threads (the same weights,
    bit for bit: test_weights_are_the_same_bit_for_bit_on_one_blas_thread_or_many)."""
    from cppn_anim import api, entry, network, studio_session

    before, seen, real = blas_threads(), [], network.build

    def spy(*args):
        seen.append(blas_threads())
        return real(*args)

    monkeypatch.setattr(network, "build", spy)
    scene = core.load(tiny)
    assert cli.main(["still", str(tiny), "--time", "0", "-o", str(tiny.with_suffix(".png")), "-q"]) == 0
    with entry.process(entry.Stop(), lambda message: None):  # the process as `cppn-anim studio` runs in it
        studio_session.Compiled(scene).frame_png(0)
        studio_session.Studio(tiny, port=1).frame_from_disk(0.0, 8, 6)
    assert len(seen) == 3 and all(threads and set(threads) == {1} for threads in seen), seen
    assert blas_threads() == before
    seen.clear()
    core.still(scene, 0.0)
    api.Animation(scene).still(0.0)
    assert seen == [before, before], seen
    assert blas_threads() == before


def title_band_is_whole(image: np.ndarray, lines: int) -> bool:
    """Every title line has ink, and none reaches the sheet's right edge (a clipped title does)."""
    from cppn_anim import sheet

    band = (image != sheet.BACKGROUND).any(-1)[: sheet.GAP + lines * sheet.LABEL_HEIGHT]
    per_line = [band[sheet.GAP // 2 + i * sheet.LABEL_HEIGHT :][: sheet.LABEL_HEIGHT].any() for i in range(lines)]
    return all(per_line) and not band[:, -sheet.GAP :].any()


@pytest.mark.parametrize("cell,cols", [((32, 18), 1), ((64, 36), 2), ((8, 8), 1), ((192, 108), 3)])
def test_a_sheet_title_wraps_and_is_never_clipped(cell, cols):
    from cppn_anim import sheet

    title = "spiral at t=0s: network.activation x network.style"
    picture = np.full((cell[1], cell[0], 3), 200, np.uint8)
    image = sheet.compose([[sheet.Cell(picture, "tanh")] * cols], cell, title=title)
    grid_width = sheet.GAP + cols * (cell[0] + sheet.GAP)
    lines = sheet.title_lines(title, grid_width - 2 * sheet.GAP)
    assert " ".join(lines) == title  # every word shown, in order
    assert all(sheet.text_width(line) + 2 * sheet.GAP <= image.width for line in lines)
    assert (len(lines) > 1) == (sheet.text_width(title) + 2 * sheet.GAP > grid_width)  # wraps only when it must
    assert image.height == sheet.GAP + len(lines) * sheet.LABEL_HEIGHT + cell[1] + sheet.LABEL_HEIGHT + sheet.GAP
    assert title_band_is_whole(np.asarray(image), len(lines))


def test_explore_with_small_cells_shows_its_whole_title(tmp_path):
    """`explore --cell 64` with two --vary keys cut the title at "network.activation x network..."."""
    from cppn_anim import sheet

    scene = write_scene(tmp_path, SHORT.replace("[40, 24]", "[64, 36]"), "spiral.yaml")
    out = tmp_path / "grid.png"
    args = ["explore", str(scene), "--vary", "network.activation=tanh,sin", "--vary", "network.style=cppn-anim,guibas"]
    assert cli.main([*args, "--cell", "64", "-o", str(out), "--quiet"]) == 0
    image = np.asarray(Image.open(out).convert("RGB"))
    title = "spiral at t=0s: network.activation x network.style"
    lines = sheet.title_lines(title, image.shape[1] - 2 * sheet.GAP)
    assert len(lines) > 1 and title_band_is_whole(image, len(lines))
    assert image.shape[1] >= max(sheet.text_width(line) for line in lines) + 2 * sheet.GAP


def test_cli_has_no_pipeline_logic():
    text = (ROOT / "cppn_anim" / "cli.py").read_text()
    for word in ("Renderer", "ffmpeg", "palette", "network.build", "Motion(", "encode.write", "import torch"):
        assert word not in text, word


def test_still_without_o_writes_a_named_png(tmp_path, monkeypatch, capsys):
    scene = write_scene(tmp_path, TINY, "tiny.yaml")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["still", str(scene), "--time", "1"]) == 0
    out = tmp_path / "out" / "tiny_t1.000.png"
    assert "wrote out/tiny_t1.000.png" in capsys.readouterr().err
    frame = np.asarray(Image.open(out).convert("RGB"))
    assert np.array_equal(frame, core.still(core.load(scene), 1.0))
    assert cli.main(["still", str(scene), "--frame", "3", "--quiet"]) == 0  # t = 3 / 8 fps
    assert (tmp_path / "out" / "tiny_t0.375.png").exists()
    assert cli.main(["still", str(scene), "--time", "0.5", "-o", str(tmp_path / "given.png"), "--quiet"]) == 0
    assert (tmp_path / "given.png").exists()


def test_a_missing_scene_names_the_scenes_there(tmp_path, monkeypatch, capsys):
    (tmp_path / "scenes").mkdir()
    write_scene(tmp_path / "scenes", TINY, "spiral.yaml")
    write_scene(tmp_path / "scenes", TINY, "lava.yaml")
    monkeypatch.chdir(tmp_path)
    for command in (["render", "scenes/spiarl.yaml"], ["still", "scenes/spiarl.yaml", "--time", "0"], ["validate", "scenes/spiarl.yaml"]):
        assert cli.main(command) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == ["scenes/spiarl.yaml: no such file (did you mean scenes/spiral.yaml? scenes in scenes: lava, spiral)"]
    assert not (tmp_path / "out").exists()


def test_explore_errors_name_the_vary_that_gave_them(tiny, tmp_path, capsys):
    code = cli.main(["explore", str(tiny), "--vary", "network.activaton=tanh,sin", "-o", str(tmp_path / "s.png")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not (tmp_path / "s.png").exists()
    assert err == f"{tiny}: --vary network.activaton=tanh: network.activaton: unknown key 'activaton' (did you mean 'activation'?)"
    assert cli.main(["explore", str(tiny), "--vary", "network.depth=2,99", "-o", str(tmp_path / "s.png")]) == 2
    assert "--vary network.depth=99: network.depth: must be <= 64" in capsys.readouterr().err


def test_explore_past_the_end_shows_the_last_moment_and_says_so(tmp_path, capsys):
    scene = write_scene(tmp_path, SHORT)
    late, end = tmp_path / "late.png", tmp_path / "end.png"
    assert cli.main(["explore", str(scene), "--seeds", "1-2", "--time", "99", "--cell", "32", "-o", str(late)]) == 0
    err = capsys.readouterr().err
    assert "warning: --time 99 is past the end of scene (2 s): the sheet shows t = 2" in err
    assert cli.main(["explore", str(scene), "--seeds", "1-2", "--time", "2", "--cell", "32", "-o", str(end), "--quiet"]) == 0
    assert "warning" not in capsys.readouterr().err
    # the same sheet, title included ("scene at t=2s"), as asking for t = 2
    assert np.array_equal(np.asarray(Image.open(late)), np.asarray(Image.open(end)))
    done = explore.explore(scene, [explore.Axis("seed", [("seed 1", [("seed", 1)])])], t=99, cell=32, out=tmp_path / "x.png")
    assert done.time == 2.0 and done.cells == 1


def test_previews_refuse_two_scenes_with_one_name(tmp_path, capsys):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scene(scenes, "name: same\n" + TINY, "a.yaml")
    write_scene(scenes, "name: same\n" + TINY, "b.yaml")
    out = tmp_path / "previews"
    assert cli.main(["previews", str(scenes), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{scenes / 'a.yaml'} and {scenes / 'b.yaml'} are both named 'same'" in err[0]
    assert not out.exists()


def test_previews_keep_a_gif_under_the_size_limit(tmp_path, monkeypatch):
    """The size loop really runs: a GIF over the limit is made again with fewer colours until it fits."""
    scene = core.parse(TINY.replace("fps: 8", "fps: 15"), default_name="big")
    made = []
    real = core.render

    def spy(s, path, fmt, *args, colors=256, **kw):
        done = real(s, path, fmt, *args, colors=colors, **kw)
        made.append((colors, s.fps, Path(path).stat().st_size))
        return done

    monkeypatch.setattr(core, "render", spy)
    previews.render_preview(scene, tmp_path / "p.gif")
    limit = made[0][2] - 1  # one byte too many at 256 colours
    made.clear()
    done = previews.render_preview(scene, tmp_path / "p.gif", max_bytes=limit)
    assert [c for c, _, _ in made] == [256, 128] and made[-1][1] == 15
    assert (tmp_path / "p.gif").stat().st_size == made[-1][2] <= limit
    gif = Image.open(tmp_path / "p.gif")
    assert done.frames == gif.n_frames == 15 and done.colors == 128


def test_watch_on_a_missing_file_says_so(tmp_path, capsys):
    assert cli.main(["watch", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err.strip() == f"{tmp_path / 'nope.yaml'}: no such file"


@pytest.mark.slow
def test_watch_ends_with_143_on_sigterm_and_0_on_ctrl_c(tmp_path):
    scene = write_scene(tmp_path, TINY)
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGINT, 0)):
        out = tmp_path / f"w{code}.gif"
        proc = subprocess.Popen([*CLI, "watch", str(scene), "-o", str(out), "--interval", "0.1"], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
        deadline = time.time() + 120
        while time.time() < deadline and not out.exists():
            time.sleep(0.1)
        assert out.exists()
        os.killpg(proc.pid, sig)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == code, err


@pytest.mark.slow
def test_make_names_the_scenes_and_renders_in_the_scenes_format(tmp_path):
    scenes = tmp_path / "myscenes"
    scenes.mkdir()
    write_scene(scenes, TINY + "output: {format: gif}\n", "looping.yaml")
    make = ["make", "-s", "-f", str(ROOT / "Makefile"), f"VENV={ROOT / '.venv'}", "STAMP=", f"SCENES={scenes}"]  # .venv is there: no set-up
    r = subprocess.run([*make, "scene=loopnig"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and f"did you mean {scenes}/looping.yaml?" in r.stderr and not (tmp_path / "out").exists()
    r = subprocess.run([*make, "scene=looping"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "wrote out/looping.gif" in r.stderr and Image.open(tmp_path / "out" / "looping.gif").n_frames == 8
    assert not list((tmp_path / "out").glob("*.mp4"))


@pytest.mark.slow
def test_workers_print_nothing_but_the_result(tmp_path):
    scene = write_scene(tmp_path, SHORT)
    out = tmp_path / "w.mp4"
    r = subprocess.run([*CLI, "render", str(scene), "-o", str(out), "--workers", "2"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines() == [line for line in r.stderr.strip().splitlines() if line.startswith(f"wrote {out}")]
    assert len(r.stderr.strip().splitlines()) == 1 and r.stdout == ""


def test_png_segments_travel_as_tar_and_come_back_whole(tiny, tmp_path):
    from cppn_anim import distribute, targets

    scene = core.load(tiny)
    spec = targets.VideoSpec(tmp_path / "frames", "png", scene.width, scene.height, scene.fps)
    data = distribute.render_segment(core.SceneFrames(scene.resolved_yaml()), spec, 2, 5, "testkey")
    files = distribute._unpack(data)
    assert [name for name, _ in files] == ["frame_00002.png", "frame_00003.png", "frame_00004.png"]
    scene = core.load(tiny)
    for (name, blob), frame in zip(files, core.frames(scene, 2, 5)):
        assert np.array_equal(np.asarray(Image.open(__import__("io").BytesIO(blob)).convert("RGB")), frame)


def test_overrides_as_a_dict_and_as_cli_tuples_agree(tiny):
    a = core.load(tiny, {"seed": 5, "size": (20, 10), "network.activation": "sin"})
    b = core.load(tiny, [("seed", 5), ("size", [20, 10]), ("network.activation", "sin")])
    assert a.model_dump() == b.model_dump() and a.size == [20, 10]


FLAT_CASES = {  # settings that leave nothing to see: each frame is a single colour
    "huge_zoom": {"view.zoom": 1e9},
    "overflowing_weights": {"network.weight_scale": 1e200, "network.activation": "softplus"},
    "huge_contrast": {"network.contrast": 1e300},
    "no_inputs": {"network.inputs": []},
}


@pytest.mark.parametrize("case", sorted(FLAT_CASES))
def test_a_flat_picture_warns_once_and_numpy_stays_quiet(tiny, case):
    import warnings

    scene = core.load(tiny, {"size": [40, 30], **FLAT_CASES[case]})
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        still = core.still(scene, 0.25)
        video = list(core.frames(scene))
    for frame in [still] + video:
        pixels = frame.reshape(-1, 3).astype(int)
        assert (pixels.max(axis=0) - pixels.min(axis=0) <= 1).all()  # the case really is flat
    kinds = [w.category.__name__ for w in seen]
    assert kinds.count("FlatPicture") == 2, kinds  # once per prepared scene: the still's and the video's
    assert kinds == ["FlatPicture"] * len(kinds), [str(w.message) for w in seen]  # no numpy overflow lines
    hint = "network.inputs is empty" if case == "no_inputs" else "single colour"
    assert all(hint in str(w.message) for w in seen)


def test_a_picture_with_something_to_see_does_not_warn(tiny):
    import warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        list(core.frames(core.load(tiny)))
    assert not [w for w in seen if w.category.__name__ == "FlatPicture"]


@pytest.mark.parametrize("fmt", ["gif", "mp4", "png"])
def test_a_flat_render_says_so_in_one_line(tmp_path, fmt):
    path = write_scene(tmp_path, TINY, name=f"flat_render_{fmt}.yaml")
    out = tmp_path / ("frames" if fmt == "png" else f"a.{fmt}")
    r = cli_main("render", path, "--set", "view.zoom=1e9", "--set", "network.weight_scale=1e200", "--format", fmt, "-o", out, "--quiet")
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"warning: flat_render_{fmt}: a frame is a single colour" in lines[0], r.stderr


@pytest.mark.parametrize("args, said", [
    (["--time", "nan"], "--time nan: a time is 0 or more seconds"),
    (["--cell", "0"], "--cell 0: a cell's long side is at least 16 pixels"),
    (["--vary", "network.style=hardmaru", "--vary", "network.style=guibas"], "network.style is varied twice"),
])  # fmt: skip
def test_explore_refuses_what_cannot_make_a_sheet(tiny, tmp_path, args, said):
    r = cli_main("explore", tiny, *args, "-o", tmp_path / "sheet.png")
    assert r.returncode == 2 and said in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "sheet.png").exists()


def test_an_unknown_top_level_key_in_an_override_is_named_as_the_override(tiny):
    with pytest.raises(core.SceneError) as caught:
        core.load(tiny, {"netwrk.depth": 2})
    e = caught.value
    assert e.line is None and e.col is None and e.key_path == "netwrk" and "--set netwrk.depth" in str(e)
    r = cli_main("validate", tiny, "--set", "netwrk.depth=2")
    assert r.returncode == 2 and ": --set netwrk.depth=2: netwrk: unknown key 'netwrk' (did you mean 'network'?)" in r.stderr


OVERSHOOT = {  # keyframe values all > 0, but the track dips below 0 between them
    "in_back": "view.zoom: {ease: in_back, keyframes: [{at: 0, value: 0.1}, {at: 2, value: 5}]}",
    "cubic": "network.contrast: {interpolation: cubic, keyframes: [{at: 0, value: 0.1}, {at: 0.2, value: 0.1}, {at: 1, value: 5}, {at: 1.9, value: 0.1}]}",
}


@pytest.mark.parametrize("case", sorted(OVERSHOOT))
def test_a_positive_track_that_overshoots_below_0_is_refused_at_the_track(tmp_path, case):
    text = f"duration: 2\nanimate:\n  {OVERSHOOT[case]}\ntrajectory: {{keyframes: [{{at: 0, z: random}}]}}\n"
    path = write_scene(tmp_path, text)
    r = cli_main("validate", path)
    key = OVERSHOOT[case].split(":")[0]
    assert r.returncode == 2 and "scene.yaml:3:" in r.stderr and f"animate.{key}: the track reaches -" in r.stderr, r.stderr
    # the same shape that stays above 0 is fine: values further from 0
    fine = text.replace("value: 0.1", "value: 2")
    assert cli_main("validate", write_scene(tmp_path, fine, name="fine.yaml")).returncode == 0
