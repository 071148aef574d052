import signal
import subprocess
import time

import numpy as np
from PIL import Image

import pytest

from conftest import cli_main, popen_cli, write_scene

SCENE = "duration: 1\nfps: 30\nsize: [%d, %d]\nseed: %d\ntrajectory: {loop: true, keyframes: [{at: 0, z: random}, {at: 0.5, z: random}]}\n"


def test_previews_of_a_scenes_folder(tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scene(scenes, "# yaml-language-server: $schema=./scene.schema.json\n" + SCENE % (640, 360, 1), "wide.yaml")
    write_scene(scenes, SCENE % (300, 500, 2), "tall.yaml")
    out = tmp_path / "previews"
    r = cli_main("previews", scenes, "-o", out)
    assert r.returncode == 0, r.stderr
    for name, size in (("wide", (256, 144)), ("tall", (154, 256))):
        gif = Image.open(out / f"{name}.gif")
        assert gif.size == size and gif.info["loop"] == 0 and gif.n_frames == 15
        assert (out / f"{name}.gif").stat().st_size <= 2 * 1024 * 1024
        assert (out / f"{name}.yaml").exists()
    index = (out / "index.html").read_text()
    for name in ("wide", "tall"):
        assert f'src="{name}.gif"' in index and f'href="{name}.yaml"' in index
    assert "1 s" in index and "640&times;360" in index and "300&times;500" in index
    sheet = np.asarray(Image.open(out / "contact-sheet.png"))
    assert sheet.shape[0] > 100 and sheet.std() > 10


def test_previews_report_a_bad_scene_and_still_show_the_others(tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scene(scenes, SCENE % (64, 36, 1), "good.yaml")
    write_scene(scenes, "netwrok: {}\n" + SCENE % (64, 36, 1), "bad.yaml")
    r = cli_main("previews", scenes, "-o", tmp_path / "p", "--quiet")
    assert r.returncode == 2 and "bad.yaml:1:1: netwrok" in r.stderr
    assert (tmp_path / "p" / "good.gif").exists() and "bad.yaml:1:1" in (tmp_path / "p" / "index.html").read_text()


def test_explore_grid_of_two_keys(tmp_path):
    scene = write_scene(tmp_path, SCENE % (320, 180, 1))
    out = tmp_path / "sheet.png"
    r = cli_main("explore", scene, "--vary", "network.activation=tanh,sin,gaussian", "--vary", "network.depth=2,6", "--cell", 64, "-o", out, "--quiet")
    assert r.returncode == 0, r.stderr
    sheet = np.asarray(Image.open(out))
    assert sheet.shape[1] > 2 * 64 and sheet.shape[0] > 3 * 36
    r = cli_main("explore", scene, "--seeds", "3-6", "--cell", 48, "-o", tmp_path / "seeds.png", "--quiet")
    assert r.returncode == 0 and Image.open(tmp_path / "seeds.png").size[0] > 4 * 48
    bad = cli_main("explore", scene, "--vary", "network.activation=tanh,sinn", "-o", tmp_path / "bad.png")
    assert bad.returncode == 2 and "did you mean 'sin'" in bad.stderr and not (tmp_path / "bad.png").exists()


def test_explore_same_weights_at_growing_sizes(tmp_path):
    """Each cell is the scene's still at its own size, and the sizes show one picture (the same
    weights, resolution independent): the middle pixel of each 3x3 block of the 96x54 cell is
    the 32x18 cell's pixel. (This test only looked at the sheet's width before.)"""
    from cppn_anim import core
    from test_core import find

    scene = write_scene(tmp_path, SCENE % (320, 180, 1))
    out = tmp_path / "sizes.png"
    assert cli_main("explore", scene, "--vary", "size=32x18,96x54", "--cell", 128, "-o", out, "--quiet").returncode == 0
    sheet = np.asarray(Image.open(out).convert("RGB"))
    small, big = (core.still(core.load(scene, {"size": size}), 0.0) for size in ([32, 18], [96, 54]))
    for still in (small, big):  # each shown in a 128x72 cell, scaled by nearest (its pixels stay whole)
        assert len(find(sheet, np.asarray(Image.fromarray(still).resize((128, 72), Image.NEAREST)))) == 1
    assert np.abs(big[1::3, 1::3].astype(int) - small).max() <= 1


def _wait_for(predicate, timeout=300.0):  # generous: a loaded machine is slow, not wrong
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_watch_rerenders_on_save_and_survives_a_bad_save(tmp_path):
    scene = write_scene(tmp_path, SCENE % (64, 36, 1))
    out = tmp_path / "w.gif"
    log = tmp_path / "log.txt"
    with open(log, "w") as sink:
        proc = popen_cli("watch", scene, "-o", out, "--interval", "0.1", stdout=sink, stderr=subprocess.STDOUT)
        try:
            assert _wait_for(out.exists), log.read_text()
            first = out.read_bytes()
            time.sleep(0.05)
            scene.write_text(SCENE % (64, 36, 2))  # a good save: a new picture
            assert _wait_for(lambda: out.read_bytes() != first), log.read_text()
            second = out.read_bytes()
            scene.write_text("seed: 2\nnetwork: {depth: deep}\n" + (SCENE % (64, 36, 2)).replace("seed: 2\n", ""))  # a bad save
            assert _wait_for(lambda: "network.depth" in log.read_text()), log.read_text()
            assert out.read_bytes() == second  # the last good preview stays
            assert f"{scene}:2:" in log.read_text()
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait()
    assert proc.returncode == 0 and "Traceback" not in log.read_text()


def test_a_gif_over_the_size_limit_is_made_again_smaller(tmp_path, monkeypatch):
    """The size loop really runs: fewer colours first (256, 128, 64), then fewer frames per
    second, down to 5 fps; the page shows what was finally written."""
    from cppn_anim import core, previews

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scene(scenes, SCENE % (64, 36, 1) + "network: {width: 8, depth: 2}\n", "heavy.yaml")  # cheap to render 8 times
    tries = []
    real = core.render

    def counted(scene, *args, colors=256, **kwargs):
        tries.append((scene.fps, colors))
        return real(scene, *args, colors=colors, **kwargs)

    monkeypatch.setattr(core, "render", counted)
    monkeypatch.setattr(previews, "PREVIEW_MAX_BYTES", 1)  # every GIF is too big
    r = cli_main("previews", scenes, "-o", tmp_path / "p", "--quiet")
    assert r.returncode == 0, r.stderr
    assert tries == [(15, 256), (15, 128), (15, 64), (12.0, 64), (9.6, 64), (7.68, 64), (6.14, 64), (5.0, 64)]
    gif = Image.open(tmp_path / "p" / "heavy.gif")
    assert gif.n_frames == 5 and gif.size == (64, 36)  # 1 s at 5 fps, never larger than the scene
    assert len(np.unique(np.asarray(gif.convert("RGB")).reshape(-1, 3), axis=0)) <= 64
    assert "preview: 5 frames" in (tmp_path / "p" / "index.html").read_text()


def test_a_small_scene_is_previewed_and_sheeted_at_its_own_size(tmp_path):
    """Neither the GIF nor the contact sheet's still of a 64x36 scene is scaled up (they were 256x144 and 160x90)."""
    from cppn_anim import core
    from test_core import find

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    path = write_scene(scenes, SCENE % (64, 36, 1) + "network: {width: 8, depth: 2}\n", "small.yaml")
    r = cli_main("previews", scenes, "-o", tmp_path / "p", "--quiet")
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "p" / "small.gif").size == (64, 36)
    scene = core.load(path)
    still = core.still(scene, scene.duration / 2)
    sheet = np.asarray(Image.open(tmp_path / "p" / "contact-sheet.png").convert("RGB"))
    assert len(find(sheet, still)) == 1
