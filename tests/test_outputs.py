"""Outputs never destroy or escape (shared cli.md, "Output paths"; issue 10 items 1-6 and 14).

Most checks drive encode in-process with synthetic frames (no torch, fast); one CLI run
per kind shows the case as a user meets it. Each test names the item it covers.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cppn_anim import core, distribute, encode, errors, ffmpeg, scene as scenes, targets
from cppn_anim.report import Reporter

from conftest import CLI, ROOT, TINY, cli_main, names, run_cli, video_info, write_scene


def frames(n: int, w: int = 32, h: int = 24):
    """n distinct frames (H, W, 3) uint8: a gradient that moves."""
    y, x = np.mgrid[0:h, 0:w]
    for i in range(n):
        yield np.stack([(x * 8 + i * 16) % 256, (y * 10) % 256, np.full_like(x, i * 30 % 256)], -1).astype(np.uint8)


def write(n: int, spec_: targets.VideoSpec, w: int = 32, h: int = 24) -> Path:
    """encode.write of n synthetic frames (a GIF's palette from the same frames)."""
    return encode.write(frames(n, w, h), spec_, palette_frames=lambda: list(frames(n, w, h)))


def spec(path: Path, fmt: str, **kw) -> targets.VideoSpec:
    return targets.VideoSpec(Path(path), fmt, 32, 24, 8, provenance="seed: 4\n", **kw)


def fake_ffmpeg(tmp_path: Path, body: str) -> str:
    fake = tmp_path / "fake-ffmpeg"
    fake.write_text("#!/bin/sh\n" + body)
    fake.chmod(0o755)
    return str(fake)


# a broken ffmpeg: takes every frame, writes random bytes where it was told to, says it succeeded
JUNK_FFMPEG = """for last; do :; done
cat >/dev/null
case "$last" in file:*) head -c 5000 /dev/urandom > "${last#file:}";; esac
echo "fake-ffmpeg: wrote junk on purpose" >&2
exit 0
"""


# ------------------------------------------------------------------ item 1: nothing the command did not write is deleted


def test_png_render_keeps_unrelated_files_item1(tmp_path, systemp):
    folder = tmp_path / "imp"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("t")
    (folder / "frame_1.png").write_text("not one of ours: not frame_NNNNN")
    targets.PngFolder(folder).put_frame(9, next(frames(1)))  # stale: a longer render's frame
    write(4, spec(folder, "png"))
    assert names(folder) == ["frame_00000.png", "frame_00001.png", "frame_00002.png", "frame_00003.png", "frame_1.png", "notes.txt", "sub"]
    assert (folder / "notes.txt").read_text() == "t" and (folder / "sub").is_dir()
    assert np.array_equal(np.asarray(Image.open(folder / "frame_00002.png")), list(frames(3))[2])


@pytest.mark.slow  # the case as a user meets it, through the CLI; the kind is tested in-process above
def test_png_render_keeps_unrelated_files_item1_cli(tiny, tmp_path):
    """The case as reported: mkdir -p imp/sub; echo t > imp/notes.txt; render --format png -o imp."""
    folder = tmp_path / "imp"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("t\n")
    r = run_cli("render", tiny, "--format", "png", "-o", folder, "--quiet")
    assert r.returncode == 0, r.stderr
    assert names(folder) == [f"frame_{i:05d}.png" for i in range(8)] + ["notes.txt", "sub"]


def test_png_prune_removes_only_frames_cppn_anim_wrote(tmp_path, systemp):
    """A full render removes frame files past its end only if cppn-anim wrote them (QA: it
    deleted a frame_00099.png holding "old"); a foreign file with a frame name is kept, named
    in one warning; a same-named frame of ours in range is still replaced (the render's own job)."""
    folder, elsewhere = tmp_path / "pngs", tmp_path / "elsewhere"
    folder.mkdir()
    targets.PngFolder(elsewhere).put_frame(0, next(frames(1)))
    (folder / "frame_00099.png").write_text("old\n")
    Image.new("RGB", (4, 4)).save(folder / "frame_00050.png")  # a PNG, but no text chunk of ours
    info = __import__("PIL.PngImagePlugin", fromlist=["PngInfo"]).PngInfo()
    info.add_text("Software", "GIMP 2.10")
    info.add_text("Comment", "cppn-anim")  # our name in another chunk does not make it ours
    Image.new("RGB", (4, 4)).save(folder / "frame_00060.png", pnginfo=info)
    (folder / "frame_00070.png").symlink_to(elsewhere / "frame_00000.png")  # a link is not a file we wrote
    targets.PngFolder(folder).put_frame(30, next(frames(1)))  # ours: removed
    encode.write_still(next(frames(1)), folder / "frame_00040.png")  # a still is ours too
    targets.PngFolder(folder).put_frame(2, np.zeros((4, 4, 3), np.uint8))  # ours, in range: replaced by frame 2 (another tool's is never replaced: test_output_faults.py)
    warned = []
    encode.write(frames(4), spec(folder, "png"), warn=warned.append)
    assert names(folder) == [f"frame_{i:05d}.png" for i in range(4)] + ["frame_00050.png", "frame_00060.png", "frame_00070.png", "frame_00099.png"]
    assert (folder / "frame_00099.png").read_text() == "old\n" and (elsewhere / "frame_00000.png").exists()
    assert np.array_equal(np.asarray(Image.open(folder / "frame_00002.png")), list(frames(3))[2])
    assert len(warned) == 1 and all(n in warned[0] for n in ("frame_00050.png", "frame_00060.png", "frame_00070.png")), warned
    assert "and 1 more" in warned[0] and "not written by cppn-anim" in warned[0]


def test_png_render_keeps_a_foreign_frame_past_its_end_cli(tmp_path):
    """The QA case as a user meets it: echo old > pngs/frame_00099.png; render a 4-frame scene
    --format png -o pngs: exit 0, the file kept as it was, a warning line on stderr."""
    scene = write_scene(tmp_path, TINY.replace("fps: 8", "fps: 4"), "mini.yaml")  # 4 frames
    (tmp_path / "pngs").mkdir()
    (tmp_path / "pngs" / "frame_00099.png").write_text("old\n")
    r = cli_main("render", scene, "--format", "png", "-o", "pngs", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert names(tmp_path / "pngs") == [f"frame_{i:05d}.png" for i in range(4)] + ["frame_00099.png"]
    assert (tmp_path / "pngs" / "frame_00099.png").read_text() == "old\n"
    assert r.stderr.count("\n") == 1 and "warning: kept frame_00099.png" in r.stderr, r.stderr
    assert all(targets.written_by_us(p) for p in (tmp_path / "pngs").glob("frame_0000?.png"))


def test_outputs_get_the_usual_permissions_item1(tmp_path, systemp):
    """A replaced file keeps ordinary permissions (0666 less the umask), not a temp file's 0600."""
    umask = os.umask(0o022)
    try:
        write(2, spec(tmp_path / "a.mp4", "mp4"))
        write(2, spec(tmp_path / "f", "png"))
        targets.write_bytes(b"x", tmp_path / "s.yaml")
    finally:
        os.umask(umask)
    for path in (tmp_path / "a.mp4", tmp_path / "f" / "frame_00001.png", tmp_path / "s.yaml"):
        assert path.stat().st_mode & 0o777 == 0o644, path


def test_png_frame_ranges_add_up_item1(tmp_path, systemp):
    folder = tmp_path / "f"
    folder.mkdir()
    targets.PngFolder(folder).put_frame(20, next(frames(1)))  # a stale frame an earlier, longer render wrote
    write(4, spec(folder, "png", first_index=0, stop=4))  # --frames 0:4
    write(4, spec(folder, "png", first_index=4, stop=8))  # --frames 4:8
    assert names(folder) == [f"frame_{i:05d}.png" for i in range(8)] + ["frame_00020.png"]  # a partial render prunes nothing
    write(6, spec(folder, "png"))  # a full render of 6 removes its own 6, 7 and 20
    assert names(folder) == [f"frame_{i:05d}.png" for i in range(6)]


def test_png_failure_leaves_whole_frames_only_item1(tmp_path, systemp):
    folder = tmp_path / "new" / "frames"

    def broken():
        yield from frames(3)
        deadline = time.time() + 300  # a wait for the writer to catch up, not a time limit: a loaded machine is slow, not wrong
        while time.time() < deadline and len(list(folder.glob("frame_*.png"))) < 3:
            time.sleep(0.01)
        raise RuntimeError("render failed")

    with pytest.raises(RuntimeError):
        encode.write(broken(), spec(folder, "png"))
    assert names(folder) == ["frame_00000.png", "frame_00001.png", "frame_00002.png"]
    for name in names(folder):
        Image.open(folder / name).load()  # each one whole

    def nothing():
        raise RuntimeError("failed before the first frame")
        yield

    other = tmp_path / "new2" / "frames"
    with pytest.raises(RuntimeError):
        encode.write(nothing(), spec(other, "png"))
    assert not (tmp_path / "new2").exists()  # folders are made only when something is written into them


# ------------------------------------------------------------------ item 2: a scene cannot write outside its folder


@pytest.mark.parametrize(
    "path, fmt, why",
    [
        ("/tmp/{name}.{ext}", "mp4", "absolute"),
        ("../../elsewhere/{name}.{ext}", "mp4", "climbs out"),
        ("out/../../{name}.{ext}", "mp4", "climbs out"),
        ("{name}/../../x.mp4", "mp4", "climbs out"),
        ("out/{name}.avi", "mp4", "does not end in .mp4"),
        ("out/{name}", "mp4", "does not end in .mp4"),
        ("out/{name}.gif", "mp4", "does not end in .mp4"),
        ("out/{name}.png", "png", "no extension"),
        ("out/{name}_{seed}.{ext}", "mp4", "unknown field {seed}"),
        ("out/{0}.{ext}", "mp4", "unknown field {0}"),
        ("out/{name!r}.{ext}", "mp4", "unknown field {name!r}"),
        ("out/{name.{ext}", "mp4", "without its pair"),
    ],
)
def test_scene_output_path_stays_inside_item2(path, fmt, why):
    text = f"trajectory: {{keyframes: [{{at: 0, z: random}}]}}\noutput:\n  format: {fmt}\n  path: '{path}'\n"
    with pytest.raises(scenes.SceneError) as e:
        scenes.parse(text, "s.yaml")
    assert str(e.value).startswith("s.yaml:4:9: output.path: ") and why in str(e.value)


@pytest.mark.parametrize(
    "path, fmt, filled",
    [
        ("out/{name}.{ext}", "mp4", "out/sc.mp4"),
        ("out/../{name}.{format}", "gif", "out/../sc.gif"),
        ("{name}.WEBM", "webm", "sc.webm"),
        ("out/{name}.{ext}", "png", "out/sc_frames"),
        ("out/{name}_frames", "png", "out/sc_frames"),
        ("~/{name}.mp4", "mp4", "~/sc.mp4"),  # a folder named ~ here: nothing expands it
    ],
)
def test_scene_output_paths_inside_are_fine_item2(path, fmt, filled):
    scene = scenes.parse(f"trajectory: {{keyframes: [{{at: 0, z: random}}]}}\noutput: {{format: {fmt}, path: '{path}'}}\n", "s.yaml", default_name="sc")
    assert targets.output_path(scene.output.path, scene.name, fmt) == Path(filled)


def test_scene_name_cannot_climb_out_item2():
    with pytest.raises(scenes.SceneError, match="output.path: .*climbs out"):
        scenes.parse("name: '..'\noutput: {path: '{name}/../x.mp4'}\ntrajectory: {keyframes: [{at: 0, z: random}]}\n", "s.yaml")


def test_output_outside_is_refused_by_validate_and_render_even_with_o_item2(tmp_path):
    scene = write_scene(tmp_path, "trajectory: {keyframes: [{at: 0, z: random}]}\noutput:\n  path: ../../elsewhere/{name}.{ext}\n", "outside.yaml")
    for args in (["validate", scene], ["render", scene, "-o", tmp_path / "a.mp4"]):
        r = run_cli(*args)
        assert r.returncode == 2 and r.stderr.startswith(f"{scene}:3:9: output.path: ") and "Traceback" not in r.stderr
    assert names(tmp_path) == ["outside.yaml"]


def test_validate_refuses_what_render_refuses_item2():
    """crf out of range for its output.format, a gif scene over 50 fps: FILE:LINE:COL, at load."""
    with pytest.raises(scenes.SceneError, match=r"^s.yaml:2:15: output.crf: .*0..51"):
        scenes.parse("trajectory: {keyframes: [{at: 0, z: random}]}\noutput: {crf: 60}\n", "s.yaml")
    scenes.parse("trajectory: {keyframes: [{at: 0, z: random}]}\noutput: {crf: 60, format: webm}\n", "s.yaml")
    with pytest.raises(scenes.SceneError, match=r"^s.yaml:1:6: fps: .*GIF"):
        scenes.parse("fps: 60\noutput: {format: gif}\ntrajectory: {keyframes: [{at: 0, z: random}]}\n", "s.yaml")


# ------------------------------------------------------------------ item 3: any path reaches ffmpeg as a plain file


@pytest.mark.parametrize(
    "name",
    ["sp ace.mp4", "q'uo\"te.mp4", "100%d.mp4", "clip_%03d.gif", "a:b.webm", "ünï cødé.gif", "-x.mp4", "-y -f null.mp4", "pipe:1.mp4"],
)
def test_every_path_character_reaches_ffmpeg_as_a_plain_file_item3(tmp_path, systemp, name):
    out = tmp_path / "o" / name
    targets.check_output(spec(out, out.suffix[1:]))
    write(5, spec(out, out.suffix[1:]))
    assert names(tmp_path / "o") == [name]  # that literal name, nothing else (no stray palette)
    assert video_info(out)["frames"] == 5
    assert [p.name for p in systemp.iterdir() if "palette" in p.name] == []


def test_file_protocol_in_o_is_a_folder_named_file_item3(tmp_path, systemp, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = Path("file:/x.mp4")  # -o file:/x.mp4: a relative path, folder 'file:'
    write(3, spec(out, "mp4"))
    assert (tmp_path / "file:" / "x.mp4").is_file() and not Path("/x.mp4").exists()


@pytest.mark.parametrize("path, fmt", [("out/clip", "mp4"), ("x.avi", "mp4"), ("x.mp4", "gif"), ("x.gif", "webm")])
def test_a_path_that_is_not_the_format_is_refused_up_front_item3(tmp_path, path, fmt):
    with pytest.raises(errors.OutputError, match=f"must end in .{fmt}"):
        targets.check_output(spec(tmp_path / path, fmt))
    assert names(tmp_path) == []


@pytest.mark.slow  # the case as a user meets it, through the CLI; the kind is tested in-process above
def test_o_without_extension_or_mismatched_is_refused_exit_2_item3(tiny, tmp_path):
    for args in (["-o", tmp_path / "out" / "clip"], ["-o", tmp_path / "x.avi", "--format", "mp4"]):
        r = run_cli("render", tiny, *args)
        assert r.returncode == 2 and "must end in .mp4" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli("render", tiny, f"--output={tmp_path}/-x.mp4", "--quiet")  # a leading dash, as argparse takes it
    assert r.returncode == 0, r.stderr
    assert names(tmp_path) == ["-x.mp4", "tiny.yaml"]


def test_concat_list_escapes_quotes_item3(tmp_path, systemp):
    assert ffmpeg.concat_line(Path("/a/bob's/x.ts")) == "file 'file:/a/bob'\\''s/x.ts'\n"
    folder = tmp_path / "bob's %d: dir"
    parts = []
    for i in range(2):
        part = folder / f"{i:06d}-{i + 1:06d}.ts"
        write(4, spec(part, "mp4", segment=True))
        parts.append(part)
    out = tmp_path / "bob's" / "seg.mp4"
    ffmpeg.concat(parts, spec(out, "mp4"), 8)
    info = video_info(out)
    assert (info["codec"], info["frames"]) == ("h264", 8)


@pytest.mark.slow  # the case as a user meets it, through the CLI; the kind is tested in-process above
def test_resume_into_a_folder_with_a_quote_item3(tmp_path):
    scene = write_scene(tmp_path, TINY)
    out = tmp_path / "bob's" / "seg.mp4"
    r = run_cli("render", scene, "--resume", "-o", out, "--quiet")
    assert r.returncode == 0, r.stderr
    assert video_info(out)["frames"] == 8 and names(tmp_path / "bob's") == ["seg.mp4"]


def test_a_failed_join_keeps_the_segments_item3(tmp_path, systemp, monkeypatch):
    scene = scenes.parse(TINY, "tiny.yaml")
    out = tmp_path / "seg.mp4"

    def failing_concat(paths, spec_, frames, cancel=None):
        raise errors.EncodeError("the join failed on purpose")

    class Notes(Reporter):
        def note(self, message):
            notes.append(message)

    monkeypatch.setattr(ffmpeg, "concat", failing_concat)
    notes = []
    frames_of = core.SceneFrames(scene.resolved_yaml())
    with pytest.raises(errors.EncodeError, match="on purpose"):
        distribute.render(frames_of, spec(out, "mp4"), 0, 8, resume=True, report=Notes())
    kept = sorted((tmp_path / ".seg.mp4.segments").glob("*.ts"))
    assert len(kept) == 1 and "--resume" in notes[-1] and not out.exists()
    monkeypatch.undo()
    monkeypatch.setattr(tempfile, "tempdir", str(systemp))
    distribute.render(frames_of, spec(out, "mp4"), 0, 8, resume=True, report=Notes())
    assert "resuming: 1 of 1" in notes[-1] and video_info(out)["frames"] == 8
    assert names(tmp_path) == ["seg.mp4", "systemp"]


# ------------------------------------------------------------------ item 4: read back before replacing


@pytest.mark.parametrize("fmt", ["mp4", "gif", "webm"])
def test_junk_from_ffmpeg_never_replaces_the_file_item4(tmp_path, systemp, monkeypatch, fmt):
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", fake_ffmpeg(tmp_path, JUNK_FFMPEG))
    out = tmp_path / "keep" / f"movie.{fmt}"
    out.parent.mkdir()
    out.write_bytes(b"precious")
    with pytest.raises(errors.EncodeError) as e:
        write(4, spec(out, fmt))
    assert "fake-ffmpeg: wrote junk on purpose" in str(e.value) or "not a GIF" in str(e.value)
    assert out.read_bytes() == b"precious" and names(out.parent) == [f"movie.{fmt}"]  # no .part, no .c
    assert [p.name for p in systemp.iterdir() if not p.name.startswith("cppn-anim-locks-")] == []  # no palette


@pytest.mark.slow  # the case as a user meets it, through the CLI; the kind is tested in-process above
def test_junk_from_ffmpeg_exits_1_and_keeps_the_mp4_item4(tiny, tmp_path):
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"precious")
    r = run_cli("render", tiny, "-o", out, env={"IMAGEIO_FFMPEG_EXE": fake_ffmpeg(tmp_path, JUNK_FFMPEG)})
    assert r.returncode == 1 and "does not read back as mp4" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "wrote junk on purpose" in r.stderr  # ffmpeg's stderr, one line
    assert out.read_bytes() == b"precious" and names(tmp_path) == ["fake-ffmpeg", "keep.mp4", "tiny.yaml"]


def test_read_back_checks_container_codec_and_frame_count_item4(tmp_path, systemp):
    out = tmp_path / "a.mp4"
    write(5, spec(out, "mp4"))
    ffmpeg.read_back(out, "mp4", 5)
    with pytest.raises(errors.EncodeError, match="5 frames"):
        ffmpeg.read_back(out, "mp4", 6)
    with pytest.raises(errors.EncodeError, match="as webm"):
        ffmpeg.read_back(out, "webm", 5)
    gif = tmp_path / "a.gif"
    write(5, spec(gif, "gif"))
    with pytest.raises(errors.EncodeError, match="as mp4"):
        ffmpeg.read_back(gif, "mp4", 5)


# ------------------------------------------------------------------ item 5: one writer per target


def test_one_writer_per_target_item5(tmp_path, systemp):
    target = tmp_path / "a.mp4"
    with targets.claim(target):
        with pytest.raises(errors.TargetBusy, match=f"another render is writing {target}"):
            write(2, spec(target, "mp4"))
        with pytest.raises(errors.TargetBusy, match="another render is writing"):
            with targets.claim(tmp_path / "." / "a.mp4"):  # the same target, spelt otherwise
                pass
        assert not target.exists() and names(tmp_path) == ["systemp"]  # the lock is never beside the target
        assert any(p.name.endswith(".lock") for p in systemp.rglob("*"))  # in the temp folder (its private lock folder)
    write(2, spec(target, "mp4"))  # released


def test_png_ranges_lock_only_their_frames_item5(tmp_path, systemp):
    folder = tmp_path / "f"
    with targets.claim(folder, 0, 4), targets.claim(folder, 4, 8):  # disjoint ranges at once
        for a, b in ((2, 6), (7, 9), (0, None), (6, None)):
            with pytest.raises(errors.TargetBusy, match="another render is writing"):
                with targets.claim(folder, a, b):
                    pass
        with targets.claim(folder, 8, 12):
            pass
    with targets.claim(folder):  # all released
        pass


def test_a_killed_writer_releases_its_claim_item5(tmp_path, systemp):
    target = tmp_path / "a.mp4"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, tempfile, time; tempfile.tempdir = sys.argv[2]\n"
         "from cppn_anim import targets\nfrom pathlib import Path\n"
         "with targets.claim(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(600)", str(target), str(systemp)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(errors.TargetBusy, match="another render is writing"):
            with targets.claim(target):
                pass
    finally:
        holder.kill()  # kill -9: no clean-up code runs
        holder.wait()
    with targets.claim(target):
        pass


@pytest.mark.slow
def test_a_second_render_to_a_target_being_written_exits_1_item5(tmp_path):
    scene = write_scene(tmp_path, "duration: 60\nfps: 30\nsize: [320, 180]\ntrajectory: {keyframes: [{at: 0, z: random}, {at: 30, z: random}]}\n")
    out = tmp_path / "movie.mp4"
    first = subprocess.Popen([*CLI, "render", str(scene), "-o", str(out), "--quiet"], cwd=ROOT, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not list(tmp_path.glob(".movie.*.part.mp4")):
            time.sleep(0.1)
        r = run_cli("render", scene, "-o", out, "--seed", 9)
        assert r.returncode == 1 and f"another render is writing {out}" in r.stderr, r.stderr
        r = run_cli("render", scene, "-o", out, "--resume", "--seed", 9)  # its segments folder too
        assert r.returncode == 1 and "another render is writing" in r.stderr, r.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    assert first.returncode == 143 and names(tmp_path) == ["scene.yaml"]


# ------------------------------------------------------------------ item 6: no leftovers


@pytest.mark.parametrize("args, out", [
    (("render",), "./sub/../same.gif"),
    (("render",), "sub/../same.mp4"),
    (("render", "--format", "png"), "sub/../frames"),
    (("render", "--preview"), "a/b/../../p.gif"),
    (("still", "--frame", "0"), "sub/../s.png"),
    (("explore", "--seeds", "0-1"), "file.txt/../sheet.png"),  # a file, not a folder, before the ..
])  # fmt: skip
def test_a_path_through_a_missing_folder_and_back_is_refused_up_front(tmp_path, args, out):
    """QA: `-o ./sub/../same.gif` without sub failed late (exit 1, "cannot make the folder
    sub/..: File exists"). `X/..` needs a real folder X, so such a path is refused before any
    work: exit 2, one line naming X, nothing created; with the folder there it renders."""
    scene = write_scene(tmp_path, TINY)
    (tmp_path / "file.txt").write_text("t")
    r = cli_main(args[0], scene, *args[1:], "-o", out, "-q" if args[0] != "explore" else "--cell=16", cwd=tmp_path)
    folder = out.removeprefix("./").split("/..")[0]
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and f"{folder} " in r.stderr and "leads nowhere" in r.stderr, r.stderr
    assert names(tmp_path) == ["file.txt", "scene.yaml"]
    if args[0] == "render" and "--preview" not in args:  # the same path once the folder exists
        (tmp_path / "sub").mkdir()
        assert cli_main("render", scene, *args[1:], "-o", out, "-q", "--frames", "0:2", cwd=tmp_path).returncode == 0
        assert names(tmp_path) == ["file.txt", (tmp_path / out).resolve().name, "scene.yaml", "sub"]


def test_checks_make_no_folder_item6(tmp_path):
    target = tmp_path / "newdir" / "sub" / "x.mp4"
    targets.check_output(spec(target, "mp4"))
    targets.check_output(spec(tmp_path / "newdir" / "frames", "png"))
    targets.check_file(tmp_path / "newdir" / "still.png")
    assert names(tmp_path) == []


@pytest.mark.slow  # the case as a user meets it, through the CLI
def test_no_folder_is_made_when_nothing_is_written_item6(tiny, tmp_path):
    target = tmp_path / "newdir" / "sub" / "x.mp4"
    r = run_cli("render", tiny, "--device", "cuda:99", "-o", target)
    assert r.returncode == 2 and "render.device" in r.stderr
    assert names(tmp_path) == ["tiny.yaml"]


def test_a_failed_write_takes_back_the_folders_it_made_item6(tmp_path, systemp, monkeypatch):
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", fake_ffmpeg(tmp_path, "cat >/dev/null; echo 'broken on purpose' >&2; exit 3\n"))
    for fmt in ("mp4", "gif"):
        with pytest.raises(errors.EncodeError, match="broken on purpose"):
            write(3, spec(tmp_path / "new" / "sub" / f"x.{fmt}", fmt))
    assert names(tmp_path) == ["fake-ffmpeg", "systemp"]
    assert [p.name for p in systemp.iterdir() if not p.name.startswith("cppn-anim-locks-")] == []


# ------------------------------------------------------------------ item 14: GIF block order


def gif_blocks(data: bytes) -> list[str]:
    """The GIF's blocks in order: 'app:NETSCAPE2.0', 'comment', 'gce', 'image', ... (no data)."""
    assert data[:6] in (b"GIF87a", b"GIF89a")
    at = 13 + (3 * 2 ** ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    out = []
    while data[at] != 0x3B:
        if data[at] == 0x21:
            label = data[at + 1]
            name = {0xFF: "app:" + data[at + 3 : at + 14].decode("latin-1"), 0xFE: "comment", 0xF9: "gce"}.get(label, hex(label))
            at += 2
        else:  # 0x2C image descriptor, its local colour table, LZW minimum code size
            packed = data[at + 9]
            at += 10 + (3 * 2 ** ((packed & 7) + 1) if packed & 0x80 else 0) + 1
            name = "image"
        while data[at]:  # sub-blocks
            at += data[at] + 1
        at += 1
        out.append(name)
    return out


def test_gif_loop_block_comes_before_the_comment_item14(tmp_path, systemp):
    out = tmp_path / "a.gif"
    write(4, spec(out, "gif"))
    blocks = gif_blocks(out.read_bytes())
    assert blocks[:2] == ["app:NETSCAPE2.0", "comment"] and blocks.count("image") == 4
    im = Image.open(out)
    assert im.info["loop"] == 0 and b"seed: 4" in im.info["comment"]


# ------------------------------------------------------------------ issue 14: a hung ffmpeg is noticed


@pytest.mark.parametrize("size", [(256, 256), (16, 16)])  # frames that fill the pipe, and frames that all fit in it
def test_an_ffmpeg_that_stops_reading_is_noticed_item14(tmp_path, systemp, monkeypatch, size):
    monkeypatch.setattr(ffmpeg, "STALL_SECONDS", 1.0)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", fake_ffmpeg(tmp_path, "echo 'fake-ffmpeg: hanging on purpose' >&2\nexec sleep 600\n"))
    w, h = size
    out = tmp_path / "o" / "a.mp4"
    with pytest.raises(errors.EncodeError, match=r"ffmpeg stopped reading frames .*fake-ffmpeg: hanging on purpose"):
        encode.write(frames(12, w, h), targets.VideoSpec(out, "mp4", w, h, 8))
    assert names(tmp_path) == ["fake-ffmpeg", "systemp"]
    assert _sleepers() == []  # stopped and waited for before the error came back: none left, at once (no deadline)


def _sleepers() -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x00600\x00" and os.getppid() != int(pid):
                stat = Path(f"/proc/{pid}/stat").read_text()
                if stat.split(") ")[1].split()[0] != "Z":
                    found.append(int(pid))
        except (OSError, IndexError):
            continue
    return found


@pytest.mark.slow
@pytest.mark.parametrize("how, code", [("ctrl-c", 130), ("sigterm", 143)])
def test_an_interrupted_cluster_render_leaves_no_scratch_and_no_traceback_item6(tmp_path, how, code):
    pytest.importorskip("dask.distributed")
    systemp = tmp_path / "systemp"
    systemp.mkdir()
    scene = write_scene(tmp_path, "seed: 3\nduration: 60\nfps: 10\nsize: [320, 200]\ntrajectory: {keyframes: [{at: 0, z: random}, {at: 20, z: random}]}\n")
    proc = subprocess.Popen([*CLI, "render", str(scene), "-o", str(tmp_path / "w.mp4"), "--workers", "2"], cwd=ROOT,
                            env=dict(os.environ, TMPDIR=str(systemp)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and not [p for p in systemp.glob("cppn-anim-segment-*") if "-dask-" not in p.name]:
        time.sleep(0.1)  # until a worker is encoding a segment
    assert list(systemp.glob("cppn-anim-segment-*")), "no segment started"
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole process group
    else:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert b"Traceback" not in err and err.decode().strip().splitlines()[-1] in ("cppn-anim: interrupted", "cppn-anim: terminated"), err
    deadline = time.time() + 20
    while time.time() < deadline and list(systemp.glob("cppn-anim-segment-*")):
        time.sleep(0.2)
    assert list(systemp.glob("cppn-anim-segment-*")) == []
    assert not (tmp_path / "w.mp4").exists()


def test_every_output_gets_0666_less_the_umask(tmp_path, systemp):
    """Every file a command writes (mp4, webm, gif, png frames, a still, a sheet, a preview,
    a segmented join of mp4 and of png) gets the usual 0666 & ~umask, never a temporary
    file's 0600; a folder it makes, 0777 & ~umask. A umask of 002 tells 0664 from both
    0644 and 0600."""
    scene, work = write_scene(tmp_path, TINY), tmp_path / "work"
    work.mkdir()
    runs = [
        ("render", scene, "-o", "v/a.mp4"), ("render", scene, "-o", "v/a.webm"), ("render", scene, "-o", "v/a.gif"),
        ("render", scene, "--format", "png", "-o", "frames"), ("render", scene, "--preview", "-o", "p.gif"),
        ("render", scene, "--resume", "-o", "seg/a.mp4"), ("render", scene, "--resume", "--format", "png", "-o", "segframes"),
        ("still", scene, "--frame", "1", "-o", "s/still.png"), ("explore", scene, "--seeds", "0-1", "--cell", "16", "-o", "sheet.png"),
    ]  # fmt: skip
    umask = os.umask(0o002)
    try:
        for args in runs:
            r = cli_main(*args, "-q" if args[0] != "explore" else "--quiet", cwd=work)
            assert r.returncode == 0, (args, r.stderr)
    finally:
        os.umask(umask)
    made = list(work.rglob("*"))
    files = [p.relative_to(work).as_posix() for p in made if p.is_file()]
    for want in ("v/a.mp4", "v/a.webm", "v/a.gif", "frames/frame_00007.png", "p.gif", "seg/a.mp4", "segframes/frame_00007.png", "s/still.png", "sheet.png"):
        assert want in files, (want, files)
    assert {p.relative_to(work).as_posix(): oct(p.stat().st_mode & 0o777) for p in made if p.is_file() and p.stat().st_mode & 0o777 != 0o664} == {}
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in made if p.is_dir() and p.stat().st_mode & 0o777 != 0o775} == {}
