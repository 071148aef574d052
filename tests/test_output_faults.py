"""Issue 18, the output side: every promise of "Output paths" kept, each fault with a test that
fails without its fix. Cheap by design (synthetic frames, in-process); the CLI only where the
case is the command's own (exit statuses, one line)."""
import os
import stat
import tempfile
from pathlib import Path

import numpy as np
import pytest

from cppn_anim import errors, targets

from conftest import TINY, cli_main, write_scene


def frames(n: int, w: int = 16, h: int = 12):
    y, x = np.mgrid[0:h, 0:w]
    for i in range(n):
        yield np.stack([(x * 16 + i * 16) % 256, (y * 20) % 256, np.full_like(x, i * 30 % 256)], -1).astype(np.uint8)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def systemp(tmp_path, monkeypatch) -> Path:
    """A private system temp folder, so what the commands leave there can be counted."""
    folder = tmp_path / "systemp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


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
    (("render", "--resume", "-o", "r.mp4"), ("r.mp4",)),
    (("render", "--workers", "1", "-o", "w.mp4"), ("w.mp4",)),
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
