import signal
import subprocess
import time

import numpy as np
from PIL import Image

import pytest

from cppn_anim import gallery, previews
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
        assert gif.size == size and gif.info["loop"] == 0 and gif.n_frames == 12  # a page GIF: at most 12 fps
        assert (out / f"{name}.gif").stat().st_size <= previews.web_budget(2)
        assert (out / f"{name}.yaml").exists()
    index = (out / "index.html").read_text()
    for name in ("wide", "tall"):
        assert f'src="{name}.gif"' in index and f'href="{name}.yaml"' in index
    assert "1 s" in index and "640&times;360" in index and "300&times;500" in index
    assert "<h1>cppn-anim previews</h1>" in index and "as a small looping GIF (2 scenes" in index  # title, what the page is
    assert "grid-template-columns: repeat(auto-fill, 256px)" in index  # an even grid
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


def test_a_page_gif_over_its_share_is_made_again_smaller(tmp_path, monkeypatch):
    """The page's fitting really runs: a first guess, then the measured weight; a GIF that
    cannot fit at 10 fps and 128 px shows the scene's first seconds, never at a choppier
    rate (it was 5 fps, where the docs promised 10), and the page says so."""
    from cppn_anim import core

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scene(scenes, SCENE % (640, 360, 1) + "network: {width: 8, depth: 2}\n", "heavy.yaml")  # cheap to render
    tries = []
    real = core.render

    def counted(scene, path, fmt, start=0, stop=None, *, colors=256, **kwargs):
        tries.append((tuple(scene.size), scene.fps, colors, stop))
        return real(scene, path, fmt, start, stop, colors=colors, **kwargs)

    monkeypatch.setattr(core, "render", counted)
    monkeypatch.setattr(previews, "web_budget", lambda n: 30_000)  # 256x144 at 12 fps is about 150 KB
    r = cli_main("previews", scenes, "-o", tmp_path / "p", "--quiet")
    assert r.returncode == 0, r.stderr
    assert all(t[2] == 64 for t in tries) and 1 <= len(tries) <= previews.WEB_TRIES
    assert all(t[:2] == ((128, 72), 10) for t in tries)  # the guess: 10 fps, 128 px, then fewer seconds; never fewer fps
    assert tries[0][3] is not None and tries[0][3] < 10  # the scene is 1 s: its first frames only
    gif = tmp_path / "p" / "heavy.gif"
    assert gif.stat().st_size <= 30_000 or tries[-1][3] == 1
    frames = Image.open(gif).n_frames
    assert frames == tries[-1][3] and f"preview: the first {frames / 10:.3g} s, {frames} frames, 10 fps" in (tmp_path / "p" / "index.html").read_text()


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


def test_the_page_shares_its_byte_budget_among_the_scenes():
    """However many scenes, their GIFs together stay under the page's limit (less its reserve)."""
    for n in (1, 9, 10, 40):
        assert n * previews.web_budget(n) <= previews.PAGE_MAX_BYTES - previews.PAGE_RESERVE
    assert previews.web_budget(1) == previews.PREVIEW_MAX_BYTES  # a lone scene: a preview's limit
    # an 8 s 1280x720 scene at 12 fps: the frame rate goes first (to 10), then the size
    size, fps, seconds = previews.web_settings([256, 144], 12, 8.0, 560_000, 0.35)
    assert fps == 10 and seconds == 8 and 128 <= max(size) < 256 and 0.35 * size[0] * size[1] * 8 * fps <= 0.9 * 560_000 * 1.01
    assert previews.web_settings([64, 36], 12, 1.0, 560_000, 0.35) == ([64, 36], 12, 1.0)  # light already: as asked
    size, fps, seconds = previews.web_settings([256, 256], 12, 600.0, 560_000, 0.35)  # a 10-minute scene
    assert max(size) == 128 and fps == 10 and 1 <= seconds < 600 and 0.35 * 128 * 128 * seconds * fps <= 0.9 * 560_000 * 1.01
    assert previews.web_settings([256, 144], 4, 20.0, 5_000, 0.35)[1] == 4  # a scene slower than 10 fps keeps its rate


def test_the_page_shows_names_in_any_script_and_quotes_file_names(tmp_path):
    entry = gallery.Entry("春 Ω é <b>", "春 #1.gif", "春 #1.yaml", 2.0, (64, 36), 10.0, 20, 1000, (64, 36), 10.0)
    page = gallery.write_index(tmp_path, [entry], [], None).read_text(encoding="utf-8")
    assert "<b>春 Ω é &lt;b&gt;</b>" in page and '<meta charset="utf-8">' in page
    assert 'src="%E6%98%A5%20%231.gif"' in page and 'href="%E6%98%A5%20%231.yaml"' in page
    assert "Droid Sans Fallback" in page  # the font list ends in fonts with wide coverage
