"""Issue 18, the output side: every promise of "Output paths" kept, each fault with a test that
fails without its fix. Cheap by design (synthetic frames, in-process); the CLI only where the
case is the command's own (exit statuses, one line)."""
import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest

from cppn_anim import errors, targets

from conftest import TINY, cli_main, names, write_scene


def frames(n: int, w: int = 16, h: int = 12):
    y, x = np.mgrid[0:h, 0:w]
    for i in range(n):
        yield np.stack([(x * 16 + i * 16) % 256, (y * 20) % 256, np.full_like(x, i * 30 % 256)], -1).astype(np.uint8)


def lock_folder(systemp: Path) -> Path:
    return systemp / f"cppn-anim-locks-{os.getuid()}"


# ------------------------------------------------------------------ locks: private, keyed on the real path, no pile-up


def test_lock_files_do_not_pile_up_and_live_in_a_private_folder(tmp_path, systemp):
    """One lock file per target ever rendered piled up in the temp folder: now every claim's
    files go when it is released, in a 0700 folder of this user's; a killed render's stale
    file goes with the next claim."""
    for i in range(6):
        with targets.claim(tmp_path / f"t{i}.mp4"):
            pass
    with targets.claim(tmp_path / "f", 0, 4), targets.claim(tmp_path / "f", 4, 8):
        held = names(lock_folder(systemp))
        assert len(held) == 2 and all(n.endswith(".lock") for n in held)
    assert names(systemp) == [lock_folder(systemp).name] and names(lock_folder(systemp)) == []
    st = lock_folder(systemp).stat()
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.getuid()
    stale = lock_folder(systemp) / f"{targets.lock_key(tmp_path / 'gone.mp4')}.0-end.lock"
    stale.write_text("")  # as a render killed by kill -9 leaves it: nobody holds it
    with targets.claim(tmp_path / "other.mp4"):
        pass
    assert names(lock_folder(systemp)) == []


def test_a_target_through_a_symlinked_folder_is_the_same_target(tmp_path, systemp):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with targets.claim(tmp_path / "real" / "a.mp4"):
        with pytest.raises(errors.TargetBusy, match="another render is writing"):
            with targets.claim(tmp_path / "link" / "a.mp4"):
                pass
    with targets.claim(tmp_path / "real" / "frames", 0, 4):
        with pytest.raises(errors.TargetBusy):
            with targets.claim(tmp_path / "link" / "frames", 2, 6):
                pass


def test_a_lock_on_a_file_its_holder_removed_does_not_count(tmp_path, systemp, monkeypatch):
    """Lock files are removed on release, which opens the unlink/lock race: B opens the lock
    file, A releases it (removes it, unlocks), C makes a new one and locks it, B's lock on the
    removed file succeeds. B must see that the file it locked is no longer the one at the
    name, and try again (and find C holding it): never two holders."""
    import fcntl

    folder = targets.lock_folder()
    a = targets._lock(folder, "x.lock")
    real, held = fcntl.flock, {}

    def flock(fd, op):
        if fd != a and "c" not in held and op & fcntl.LOCK_EX:  # B, between its open and its lock
            held["c"] = None
            targets._unlock(folder, "x.lock", a)  # A releases
            held["c"] = targets._lock(folder, "x.lock")  # C takes the name
        return real(fd, op)

    monkeypatch.setattr(fcntl, "flock", flock)
    b = targets._lock(folder, "x.lock")
    assert held["c"] is not None and b is None
    targets._unlock(folder, "x.lock", held["c"])
    os.close(folder)
    assert names(lock_folder(systemp)) == []


def test_a_planted_lock_folder_or_file_is_handled(tmp_path, systemp):
    """The lock folder must be a real folder of this user's: a file or a link there is
    refused in one line (exit 1); ours but open to others is made private; a link or a
    foreign file planted in place of a lock file is removed, never followed."""
    folder = lock_folder(systemp)
    folder.write_text("planted")
    with pytest.raises(errors.RenderError, match="lock folder .* not a private folder of yours"):
        with targets.claim(tmp_path / "a.mp4"):
            pass
    folder.unlink()
    (tmp_path / "elsewhere").mkdir()
    folder.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(errors.RenderError, match="is a link"):
        with targets.claim(tmp_path / "a.mp4"):
            pass
    assert names(tmp_path / "elsewhere") == []
    folder.unlink()
    folder.mkdir(0o777)
    os.chmod(folder, 0o777)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (folder / f"{targets.lock_key(tmp_path / 'a.mp4')}.lock").symlink_to(victim)
    with targets.claim(tmp_path / "a.mp4"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert victim.read_text() == "keep me" and names(folder) == []
    if os.getuid() == 0:  # another user's folder (only root can make one here)
        os.chown(folder, 12345, 12345)
        with pytest.raises(errors.RenderError, match="belongs to another user"):
            with targets.claim(tmp_path / "a.mp4"):
                pass


def test_a_non_utf8_target_name_is_claimed(tmp_path, systemp):
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/\xff\xfe.mp4"))
    with targets.claim(odd):
        with pytest.raises(errors.TargetBusy):
            with targets.claim(odd):
                pass


# ------------------------------------------------------------------ claims before work


@pytest.mark.parametrize("args, held", [
    (("render", "-o", "a.mp4"), ("a.mp4",)),
    (("render", "-o", "a.gif"), ("a.gif",)),
    (("render", "--format", "png", "-o", "frames"), ("frames",)),
    (("render", "--format", "png", "--frames", "2:6", "-o", "frames"), ("frames", 0, 4)),
    (("render", "--preview", "-o", "p.gif"), ("p.gif",)),
    (("render", "--resume", "-o", "r.mp4"), ("r.mp4",)),  # --workers too: the same claim, in core.render
    (("still", "--frame", "1", "-o", "s.png"), ("s.png",)),
    (("explore", "--seeds", "0-1", "--cell", "16", "-o", "sheet.png"), ("sheet.png",)),
    (("previews", "-o", "pv"), ("pv",)),
])  # fmt: skip
def test_a_busy_target_exits_1_before_any_work(tmp_path, systemp, monkeypatch, args, held):
    """A render to a target another render is writing built all the weights (on a huge
    network: minutes, or out of memory) before it said so: the claim comes first, for
    every command that writes."""
    from cppn_anim import core

    scenes_dir = tmp_path / "scenes"
    scenes_dir.mkdir()
    write_scene(scenes_dir, TINY, "tiny.yaml")
    built = []
    monkeypatch.setattr(core, "build_weights", lambda scene: built.append(scene) or pytest.fail("weights built"))
    scene = "scenes" if args[0] == "previews" else "scenes/tiny.yaml"
    path, *span = held
    with targets.claim(tmp_path / path, *span):
        r = cli_main(args[0], scene, *args[1:], cwd=tmp_path)
    assert r.returncode == 1 and r.stderr == f"cppn-anim: another render is writing {path}\n", r.stderr
    assert built == [] and names(tmp_path) == ["scenes", "systemp"]


# ------------------------------------------------------------------ atomic everything


class Cut:
    """A file whose next write stops half-way with a Ctrl-C (KeyboardInterrupt)."""

    def __init__(self, f):
        self.f = f

    def write(self, data):
        self.f.write(data[: len(data) // 2])
        self.f.flush()
        raise KeyboardInterrupt

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def interrupt_writes(monkeypatch, folder: Path, word: str) -> None:
    """Ctrl-C half-way through writing any file in `folder` whose name holds `word` (the file
    itself, or a temporary file for it): what a write in place leaves is half a file."""
    import builtins
    import io

    real = io.open

    def opener(file, mode="r", *args, **kwargs):
        f = real(file, mode, *args, **kwargs)
        if isinstance(file, (str, bytes, os.PathLike)) and any(c in mode for c in "wax+"):
            path = Path(os.fsdecode(file))
            if path.parent == folder and word in path.name:
                return Cut(f)
        return f

    monkeypatch.setattr(io, "open", opener)
    monkeypatch.setattr(builtins, "open", opener)


def test_the_previews_page_and_scene_copies_are_written_atomically(tmp_path, systemp, monkeypatch):
    """In-process and cheap (the whole command: the slow test below): Ctrl-C while the page or
    a scene's copy is written leaves the old one whole, and no temporary file."""
    from cppn_anim import gallery

    out = tmp_path / "pv"
    out.mkdir()
    (out / "index.html").write_text("the old page")
    (out / "tiny.yaml").write_text("the old copy")
    scene = write_scene(tmp_path, TINY, "tiny.yaml")
    entry = gallery.Entry("tiny", "tiny.gif", "tiny.yaml", 1.0, (48, 32), 8.0, 8, 1000)
    for word, write in (("index", lambda: gallery.write_index(out, [entry], [], None)), ("tiny", lambda: gallery.copy_scene(scene, out))):
        with monkeypatch.context() as m:
            interrupt_writes(m, out, word)
            with pytest.raises(KeyboardInterrupt):
                write()
    assert (out / "index.html").read_text() == "the old page" and (out / "tiny.yaml").read_text() == "the old copy"
    assert names(out) == ["index.html", "tiny.yaml"]
    gallery.write_index(out, [entry], [], None)
    assert 'src="tiny.gif"' in (out / "index.html").read_text()


@pytest.mark.slow  # three `previews` runs; the kind is tested in-process above
def test_the_previews_page_and_sheet_are_written_atomically(tmp_path, systemp, monkeypatch):
    """Ctrl-C while `previews` writes its page or contact sheet left a truncated file: now the
    old one stays whole until the new one is, and no temporary file is left."""
    scenes_dir = tmp_path / "scenes"
    scenes_dir.mkdir()
    write_scene(scenes_dir, TINY.replace("size: [48, 32]", "size: [16, 12]"), "tiny.yaml")
    out = tmp_path / "pv"
    assert cli_main("previews", scenes_dir, "-o", out, "-q").returncode == 0
    for seed, word in ((9, "index"), (10, "contact-sheet")):
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        assert sorted(before) == ["contact-sheet.png", "index.html", "tiny.gif", "tiny.yaml"]
        with monkeypatch.context() as m:
            interrupt_writes(m, out, word)
            r = cli_main("previews", scenes_dir, "-o", out, "-q", "--seed", seed)
        assert r.returncode == 130, r.stderr
        name = "index.html" if word == "index" else "contact-sheet.png"
        assert (out / name).read_bytes() == before[name] and sorted(p.name for p in out.iterdir()) == sorted(before), word
    from cppn_anim import gallery  # the scene's copy beside the page (shutil.copyfile wrote it in place)

    (scenes_dir / "tiny.yaml").write_text(TINY + "# changed\n")
    with monkeypatch.context() as m:
        interrupt_writes(m, out, "tiny")
        with pytest.raises(KeyboardInterrupt):
            gallery.copy_scene(scenes_dir / "tiny.yaml", out)
    assert (out / "tiny.yaml").read_bytes() == before["tiny.yaml"] and sorted(p.name for p in out.iterdir()) == sorted(before)


class Source:
    """A synthetic frame source for segmented renders (no torch): frame i of `seed`."""

    def __init__(self, seed: int = 0, w: int = 16, h: int = 12):
        self.seed, self.w, self.h = seed, w, h

    @property
    def description(self) -> str:
        return f"synthetic {self.seed}"

    def __call__(self, start, stop, cancel=None, pin=None):
        y, x = np.mgrid[0 : self.h, 0 : self.w]
        for i in range(start, stop):
            yield np.stack([(x * 16 + i * 8) % 256, (y * 20 + self.seed * 90) % 256, np.full_like(x, (i * 7 + self.seed * 50) % 256)], -1).astype(np.uint8)


class Notes:
    def __init__(self):
        from cppn_anim.report import Reporter

        self.lines = []
        self.reporter = type("R", (Reporter,), {"note": lambda _, line: self.lines.append(line)})()


def segmented(out: Path, fmt: str, source: Source, start: int, stop: int, notes: Notes | None = None, **kw):
    from cppn_anim import distribute

    spec = targets.VideoSpec(out, fmt, source.w, source.h, 8, provenance="synthetic\n", first_index=start, **kw)
    return distribute.render(source, spec, start, stop, resume=True, report=(notes or Notes()).reporter)


def keep_segments(monkeypatch, out: Path, fmt: str, source: Source, start: int, stop: int, **kw) -> Path:
    """A segmented render whose join fails: its finished segments are kept for --resume."""
    from cppn_anim import distribute

    def failing(*args, **kwargs):
        raise errors.EncodeError("the join failed on purpose")

    with monkeypatch.context() as m:
        m.setattr(distribute, "_join", failing)
        with pytest.raises(errors.EncodeError, match="on purpose"):
            segmented(out, fmt, source, start, stop, **kw)
    (folder,) = out.parent.glob(f".{out.name}*.segments")
    return folder


def png_frames(folder: Path) -> list[np.ndarray]:
    from PIL import Image

    return [np.asarray(Image.open(p)) for p in sorted(folder.glob("frame_*.png"), key=lambda p: int(p.stem[6:]))]


def test_a_half_written_manifest_is_planned_again_never_an_internal_error(tmp_path, systemp, monkeypatch):
    """manifest.json was written in place: Ctrl-C mid-write left half of it, and --resume then
    failed with an internal error (JSONDecodeError). Now it is written atomically, and a
    damaged one is said in one line and the segments are rendered again."""
    out = tmp_path / "f"
    with monkeypatch.context() as m:
        interrupt_writes(m, tmp_path / ".f.segments", "manifest")
        with pytest.raises(KeyboardInterrupt):
            segmented(out, "png", Source(), 0, 16)
    folder = tmp_path / ".f.segments"
    assert not folder.exists() or [p.name for p in folder.iterdir()] in ([], ["manifest.json"])
    folder = keep_segments(monkeypatch, out, "png", Source(), 0, 16)
    (folder / "manifest.json").write_text('{"key": "')  # as an older version's Ctrl-C left it
    notes = Notes()
    segmented(out, "png", Source(), 0, 16, notes)
    assert [line for line in notes.lines if "manifest" in line and "damaged" in line], notes.lines
    assert len(png_frames(out)) == 16 and not folder.exists()


@pytest.mark.parametrize("fmt, damage, cause", [
    ("mp4", "cut", "it holds 3 of its 8 frames"), ("mp4", "junk", "it cannot be read"), ("png", "cut", "holds 5 of its 8 frame files"),
])  # fmt: skip
def test_a_damaged_kept_segment_is_named_and_rendered_again(tmp_path, systemp, monkeypatch, fmt, damage, cause):
    """A kept segment cut short made every --resume fail (the join's read-back, or an internal
    error for png) and advise --resume again, forever: it is named and rendered again. Its
    line is short: the segment's name and the cause, never ffmpeg's progress lines
    ("Press [q] to stop", "frame=    3 fps=0.0 ...") pasted in."""
    from conftest import video_info

    out = tmp_path / ("v.mp4" if fmt == "mp4" else "f")
    folder = keep_segments(monkeypatch, out, fmt, Source(), 0, 16)
    bad = sorted(folder.glob("*.ts" if fmt == "mp4" else "*.tar"))[1]
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2] if damage == "cut" else b"junk" * 100)
    notes = Notes()
    segmented(out, fmt, Source(), 0, 16, notes)
    (line,) = [line for line in notes.lines if bad.name in line and "damaged" in line and "again" in line] or [notes.lines]
    assert cause in line and len(line) < 160 and not re.search(r"Press \[q\]|frame=|fps=|muxing overhead| \| ", line), line
    assert (video_info(out)["frames"] if fmt == "mp4" else len(png_frames(out))) == 16 and not folder.exists()


# ------------------------------------------------------------------ names that outgrow their width


def test_segments_past_frame_999999_are_removed_and_never_taken_for_another_scene(tmp_path, systemp, monkeypatch):
    """Segment names past frame 999,999 (7 digits) were not removed after success, and a
    --resume of another scene into the target took them for its own (exit 0, wrong frames)."""
    out = tmp_path / "f"
    start, stop = 999_992, 1_000_008
    segmented(out, "png", Source(1), start, stop)
    assert names(tmp_path) == ["f", "systemp"]  # no segments folder left
    keep_segments(monkeypatch, out, "png", Source(1), start, stop)
    notes = Notes()
    segmented(out, "png", Source(2), start, stop, notes)  # another scene into the same target
    assert not [line for line in notes.lines if "resuming" in line], notes.lines
    want = list(Source(2)(start, stop))
    got = png_frames(out)
    assert len(got) == 16 and all(np.array_equal(a, b) for a, b in zip(got, want))
    assert names(tmp_path) == ["f", "systemp"]


def test_png_frames_past_99999_sort_in_order(tmp_path, systemp):
    """frame_100000.png sorted before frame_99998.png: a render of over 100,000 frames names
    every frame with the width of its last index (a shorter one keeps frame_NNNNN.png), and a
    full render removes its own frames of another width."""
    scene = write_scene(tmp_path, TINY.replace("duration: 1", "duration: 10000.1").replace("fps: 8", "fps: 10").replace("[48, 32]", "[8, 6]"))
    r = cli_main("render", scene, "--format", "png", "--frames", "99998:100001", "-o", "fr", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert names(tmp_path / "fr") == ["frame_099998.png", "frame_099999.png", "frame_100000.png"]
    assert targets.frame_digits(100_000) == 5 and targets.frame_digits(100_001) == 6 and targets.frame_name(7) == "frame_00007.png"
    folder = tmp_path / "f2"
    targets.PngFolder(folder, digits=6).put_frame(1, next(frames(1)))  # ours, from a longer render
    targets.PngFolder(folder, digits=6).put_frame(200_000, next(frames(1)))
    (folder / "frame_000002.png").write_text("another tool's: kept")
    from cppn_anim import encode

    encode.write(frames(3), targets.VideoSpec(folder, "png", 16, 12, 8))
    assert names(folder) == sorted(["frame_00000.png", "frame_00001.png", "frame_000002.png", "frame_00002.png"])


@pytest.mark.parametrize("fmt, size", [("mp4", 255), ("gif", 241), ("gif", 255), ("png", 255)])
def test_a_long_legal_name_renders(tmp_path, systemp, fmt, size):
    """A legal 241-255 byte name failed (the temporary file beside it, `.NAME.XXXX.part.mp4`,
    was over NAME_MAX): temporary names are shortened (a hash keeps them apart); a name over
    the limit is refused up front (exit 2)."""
    from cppn_anim import encode

    ext = "" if fmt == "png" else f".{fmt}"
    stem = "é" * 20 + "x" * (size - 40 - len(ext))
    out = tmp_path / f"{stem}{ext}"
    assert len(os.fsencode(out.name)) == size
    spec = targets.VideoSpec(out, fmt, 16, 12, 8, provenance="synthetic\n")
    targets.check_output(spec)
    encode.write(frames(3), spec, palette_frames=lambda: list(frames(3)))
    assert names(tmp_path) == sorted([out.name, "systemp"])
    with pytest.raises(errors.OutputError, match="over the file system's 255"):
        targets.check_output(targets.VideoSpec(tmp_path / ("y" * (256 - len(ext)) + ext), fmt, 16, 12, 8))


def test_a_segmented_render_to_a_long_name(tmp_path, systemp):
    """The segments folder beside the target (`.NAME.segments`) overflowed NAME_MAX too."""
    out = tmp_path / ("z" * 251 + ".mp4")
    segmented(out, "mp4", Source(), 0, 8)
    assert names(tmp_path) == sorted([out.name, "systemp"])


# ------------------------------------------------------------------ never overwrite what we did not write


def test_a_png_render_never_replaces_another_tools_frame(tmp_path, systemp):
    """A png render replaced a frame_00000.png another tool wrote (a read-only one of another
    user's too): refused before any work (exit 2), named, the file as it was; a full render
    still replaces its own frames."""
    scene = write_scene(tmp_path, TINY.replace("[48, 32]", "[8, 6]"))
    folder = tmp_path / "fr"
    folder.mkdir()
    theirs = folder / "frame_00003.png"
    theirs.write_bytes(b"another tool's frame")
    theirs.chmod(0o444)
    if os.getuid() == 0:
        os.chown(theirs, 12345, 12345)
    for args in ((), ("--frames", "2:5"), ("--resume",)):
        r = cli_main("render", scene, "--format", "png", "-o", "fr", "-q", *args, cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "frame_00003.png" in r.stderr and "not written by cppn-anim" in r.stderr, r.stderr
        assert names(folder) == ["frame_00003.png"] and theirs.read_bytes() == b"another tool's frame"
    assert cli_main("render", scene, "--format", "png", "--frames", "4:8", "-o", "fr", "-q", cwd=tmp_path).returncode == 0
    assert cli_main("render", scene, "--format", "png", "--frames", "4:8", "-o", "fr", "-q", cwd=tmp_path).returncode == 0  # ours: replaced
    assert names(folder) == [f"frame_{i:05d}.png" for i in range(3, 8)]
    folder2 = tmp_path / "late"  # one that turns up while the render runs: not replaced either
    folder2.mkdir()
    with pytest.raises(errors.EncodeError, match="frame_00001.png was not written by cppn-anim"):
        from cppn_anim import encode

        def late():
            for i, frame in enumerate(frames(3)):
                if i == 1:
                    (folder2 / "frame_00001.png").write_text("late")
                yield frame

        encode.write(late(), targets.VideoSpec(folder2, "png", 16, 12, 8))
    assert (folder2 / "frame_00001.png").read_text() == "late"


# ------------------------------------------------------------------ numbers at the edges: GIF delays


def test_gif_delays_never_wrap(tmp_path, systemp):
    """At 0.001 fps a GIF delay (16 bits of centiseconds: at most 655.35 s) wrapped (the last
    frame showed 344.64 s). A GIF render below 100/65535 fps is refused at `fps` (exit 2,
    the limit said); a preview, which picks its own rate, shows such a scene at that rate."""
    from PIL import Image

    scene = write_scene(tmp_path, "duration: 2000\nfps: 0.001\nsize: [8, 6]\nnetwork: {width: 8, depth: 2}\n"
                                  "trajectory: {keyframes: [{at: 0, z: random}, {at: 1000, z: random}]}\n")  # fmt: skip
    r = cli_main("render", scene, "-o", "s.gif", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith(f"{scene}:2:6: fps: 0.001 fps is too slow for a GIF") and "655.35 s" in r.stderr, r.stderr
    assert names(tmp_path) == ["scene.yaml", "systemp"]
    assert cli_main("render", scene, "--preview", "-o", "p.gif", "-q", cwd=tmp_path).returncode == 0
    gif = Image.open(tmp_path / "p.gif")
    delays = []
    for i in range(gif.n_frames):
        gif.seek(i)
        delays.append(gif.info["duration"])
    assert delays == [655350] * 3


# ------------------------------------------------------------------ every input path


@pytest.mark.parametrize("fmt", ["mp4", "gif", "png"])
def test_any_output_name_end_to_end(tmp_path, systemp, fmt):
    """A name with a line break, a quote, a space and bytes that are not UTF-8 (surrogateescape):
    the claim, the temporary files, ffmpeg and a segmented render's join all take it (the
    join failed on a line break after rendering every segment; the claim on the bytes)."""
    from cppn_anim import encode

    ext = b"" if fmt == "png" else b"." + fmt.encode()
    out = Path(os.fsdecode(bytes(tmp_path) + b"/a\nb 'q\xff\xfe" + ext))
    spec = targets.VideoSpec(out, fmt, 16, 12, 8, provenance="synthetic\n")
    targets.check_output(spec)
    encode.write(frames(3), spec, palette_frames=lambda: list(frames(3)))
    assert out.exists() and names(tmp_path) == sorted([out.name, "systemp"])
    if fmt != "gif":  # segments, joined
        out.rename(out.with_name("first" + ext.decode()))
        segmented(out, fmt, Source(), 0, 16)
        assert names(tmp_path) == sorted([out.name, "first" + ext.decode(), "systemp"])


def test_a_line_break_in_the_output_name_resumes_cli(tmp_path, systemp):
    scene = write_scene(tmp_path, TINY.replace("[48, 32]", "[8, 6]"))
    out = "a\nb.mp4"  # as the shell gives -o $'a\nb.mp4'; the bytes of a non-UTF-8 name: test_any_output_name_end_to_end
    r = cli_main("render", scene, "--resume", "-o", out, "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert names(tmp_path) == sorted([out, "scene.yaml", "systemp"])


def test_previews_into_the_scenes_folder_is_refused_up_front(tmp_path, systemp):
    """`previews sc -o sc` wrote a GIF into the scenes folder, then failed ("are the same
    file"): the scenes folder itself (or a link to it) is refused before anything is
    written, exit 2, one line."""
    sc = tmp_path / "sc"
    sc.mkdir()
    write_scene(sc, TINY, "tiny.yaml")
    (tmp_path / "link").symlink_to(sc)
    for out in ("sc", "sc/", "./sc", "link"):
        r = cli_main("previews", "sc", "-o", out, cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "scenes folder" in r.stderr, (out, r.stderr)
        assert names(sc) == ["tiny.yaml"]


# ------------------------------------------------------------------ Ctrl-C while --workers start; Dask's scratch


def _workers_of(pid: int) -> list[int]:
    """The client's worker processes (spawned by multiprocessing), running or starting."""
    found = []
    for task in Path("/proc").glob("[0-9]*"):
        try:
            if f"PPid:\t{pid}\n" in (task / "status").read_text() and b"spawn_main" in (task / "cmdline").read_bytes():
                found.append(int(task.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_ctrl_c_while_workers_start_is_one_line_and_leaves_no_scratch(tmp_path):
    """Ctrl-C (to the whole process group, as a terminal sends it) while the workers of
    --workers start printed a traceback of ~30 lines per worker (they were importing, with
    Ctrl-C not held: CPython's resource tracker unblocked it in Dask's loop thread), and
    Dask left dask-scratch-space in the temp folder. Now: one line, exit 130, and the temp
    folder as it was (but for the private lock folder)."""
    import signal
    import subprocess
    import time

    from conftest import CLI, ROOT

    pytest.importorskip("dask.distributed")
    systemp = tmp_path / "systemp"
    systemp.mkdir()
    scene = write_scene(tmp_path, "seed: 3\nduration: 60\nfps: 10\nsize: [320, 200]\ntrajectory: {keyframes: [{at: 0, z: random}, {at: 20, z: random}]}\n")
    env = dict(os.environ, TMPDIR=str(systemp))
    proc = subprocess.Popen([*CLI, "render", str(scene), "-o", str(tmp_path / "w.mp4"), "--workers", "2"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and len(_workers_of(proc.pid)) < 2 and proc.poll() is None:
        time.sleep(0.02)
    assert _workers_of(proc.pid), "no worker started"
    os.killpg(proc.pid, signal.SIGINT)  # the workers are still importing: seconds before their set-up runs
    _, err = proc.communicate(timeout=120)
    assert (proc.returncode, err.decode()) == (130, "cppn-anim: interrupted\n")
    deadline = time.time() + 20
    while time.time() < deadline and names(systemp) != [lock_folder(systemp).name]:
        time.sleep(0.2)
    assert names(systemp) == [lock_folder(systemp).name] and not (tmp_path / "w.mp4").exists()


@pytest.mark.slow
def test_a_cluster_render_leaves_no_dask_scratch_space(tmp_path):
    """A --workers render that ends well left `dask-scratch-space` (the scheduler's) in the
    temp folder: everything Dask writes goes in a scratch folder of ours, removed at the end."""
    from conftest import run_cli

    pytest.importorskip("dask.distributed")
    systemp = tmp_path / "systemp"
    systemp.mkdir()
    scene = write_scene(tmp_path, TINY.replace("[48, 32]", "[16, 12]"))
    r = run_cli("render", scene, "-o", tmp_path / "w.mp4", "--workers", "1", "-q", env={"TMPDIR": str(systemp)})
    assert r.returncode == 0, r.stderr
    assert names(systemp) == [lock_folder(systemp).name] and names(lock_folder(systemp)) == []


# ------------------------------------------------------------------ a temporary file that cannot be made or written


@pytest.mark.parametrize("command, target", [("render", "/proc/x.mp4"), ("render", "/proc/frames"), ("still", "/proc/x.png")])
def test_a_folder_that_takes_no_new_files_is_refused_up_front(tiny, tmp_path, systemp, command, target):
    """`-o /proc/x.mp4` passed the up-front checks (root may write anywhere, as access() says)
    and failed at work with a raw errno naming our hidden temporary file: now a folder that
    takes no new file is found before any work (a probe made and removed at once): exit 2,
    one line naming the target."""
    if not os.path.isdir("/proc"):
        pytest.skip("no /proc here")
    args = ["--frame", 0] if command == "still" else (["--format", "png"] if target.endswith("frames") else [])
    r = cli_main(command, tiny, *args, "-o", target)
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith(f"{target}: cannot write there") and ".part" not in line, line


class DiskFull:
    """os.open that fails for our hidden temporary files (a full disk, a folder gone meanwhile)."""

    def __init__(self, monkeypatch, errno_: int = 28):
        real = os.open
        import errno as errno_module

        def fake(path, flags, *args, **kwargs):
            if os.path.basename(os.fsdecode(path)).startswith(".") and flags & os.O_EXCL:
                raise OSError(errno_, os.strerror(errno_), os.fsdecode(path))
            return real(path, flags, *args, **kwargs)

        monkeypatch.setattr(targets.os, "open", fake)
        self.words = os.strerror(errno_ or errno_module.ENOSPC)


@pytest.mark.parametrize("fmt", ["mp4", "gif", "png", "still", "bytes"])
def test_a_temporary_file_that_cannot_be_made_names_the_target(tmp_path, systemp, monkeypatch, fmt):
    """An OSError making the temporary file beside a target escaped as a raw errno naming
    `.x.d3ec4e18.part.mp4`: now every writer (atomic, png frames, stills, plain files) says
    one line naming the target, with the cause in words (an EncodeError: exit 1)."""
    from cppn_anim import encode

    out = tmp_path / ("x" if fmt == "png" else "x.png" if fmt in ("still", "bytes") else f"x.{fmt}")
    full = DiskFull(monkeypatch)
    with pytest.raises(errors.EncodeError) as caught:
        if fmt == "still":
            encode.write_still(next(frames(1)), out)
        elif fmt == "bytes":
            targets.write_bytes(b"data", out)
        else:
            encode.write(frames(3), targets.VideoSpec(out, fmt, 16, 12, 8), palette_frames=lambda: list(frames(3)))
    message = str(caught.value)
    assert str(out) in message and full.words in message and "/." not in message and ".part" not in message, message
    assert names(tmp_path) == ["systemp"]


def test_a_failure_while_writing_names_the_target(tmp_path, systemp, monkeypatch):
    """An OSError after the temporary file was made (moving it into place, a segment kept
    for --resume) named nothing of ours or escaped raw: it names the target too."""
    from cppn_anim import distribute

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".x.1234abcd.part.png"))

    with monkeypatch.context() as m:
        m.setattr(targets.os, "replace", refuse)
        with pytest.raises(errors.EncodeError, match=r"^cannot write .*x\.png: Permission denied$"):
            targets.write_bytes(b"data", tmp_path / "x.png")
    assert names(tmp_path) == ["systemp"]
    with monkeypatch.context() as m:
        m.setattr(distribute.os, "replace", refuse)
        with pytest.raises(errors.EncodeError) as caught:
            segmented(tmp_path / "v.mp4", "mp4", Source(), 0, 8)
    assert str(caught.value) == f"cannot write {tmp_path / 'v.mp4'}: Permission denied"


# ------------------------------------------------------------------ a target that is a symlink is written through


@pytest.mark.parametrize("fmt", ["mp4", "webm", "gif", "png", "still", "bytes", "dangling"])
def test_a_symlinked_target_is_written_through_and_stays_a_link(tmp_path, systemp, fmt):
    """out/x.mp4 -> elsewhere/x.mp4 was replaced by a regular file (os.replace over the link):
    now the file the link names is replaced, as an editor saves, and the link stays; a png
    folder that is a link to a folder is filled through it. A dangling link gets its file."""
    from cppn_anim import encode

    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir(), elsewhere.mkdir()
    name = {"png": "frames", "still": "x.png", "bytes": "x.png", "dangling": "x.mp4"}.get(fmt, f"x.{fmt}")
    real, link = elsewhere / name, out / name
    if fmt == "png":
        real.mkdir()
    elif fmt != "dangling":
        real.write_bytes(b"old")
    link.symlink_to(real)
    kind = "mp4" if fmt == "dangling" else fmt
    if kind == "still":
        encode.write_still(next(frames(1)), link)
    elif kind == "bytes":
        targets.write_bytes(b"new", link)
    else:
        spec = targets.VideoSpec(link, kind, 16, 12, 8, provenance="synthetic\n")
        targets.check_output(spec)
        encode.write(frames(3), spec, palette_frames=lambda: list(frames(3)))
    assert link.is_symlink() and os.readlink(link) == str(real)
    if fmt == "png":
        assert names(real) == ["frame_00000.png", "frame_00001.png", "frame_00002.png"]
    else:
        assert real.is_file() and real.read_bytes() != b"old" and real.stat().st_size > 0
    assert names(out) == [name] and names(elsewhere) == [name]  # nothing left beside either
