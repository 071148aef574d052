"""Frame-exact timing: a keyframe or step boundary that falls exactly on a frame is taken on that frame."""
from fractions import Fraction

import numpy as np
import pytest

from cppn_anim import easing, scene, tracks, trajectory
from cppn_anim.tracks import Track


def _steps_scene(d, fps, n, t0=0) -> str:
    """z (1 number) and view.rotation both go 0 -> 1 (rotation 0 -> n) over [t0, d] in steps(n)."""
    hold = f"    - {{at: {t0}, z: [0]}}\n" if t0 else ""
    hold_rot = f"    - {{at: {t0}, value: 0}}\n" if t0 else ""
    return (
        f"duration: {d}\nfps: {fps}\nnetwork: {{latent_dim: 1}}\n"
        f"trajectory:\n  interpolation: linear\n  keyframes:\n    - {{at: 0, z: [0]}}\n{hold}"
        f"    - {{at: {d}, z: [1], ease: 'steps({n})'}}\n"
        f"animate:\n  view.rotation:\n    - {{at: 0, value: 0}}\n{hold_rot}    - {{at: {d}, value: {n}, ease: 'steps({n})'}}\n"
    )


def test_steps_5_over_3_s_at_10_fps_jumps_at_frames_6_12_18_24():
    s = scene.parse(_steps_scene(3, 10, 5))
    motion = trajectory.Motion(s)
    params = [motion.at(t) for t in trajectory.frame_times(s)]
    z = [float(p.z[0]) for p in params]
    rotation = [p.rotation for p in params]
    assert [i for i in range(1, len(z)) if z[i] != z[i - 1]] == [6, 12, 18, 24]
    assert [i for i in range(1, len(rotation)) if rotation[i] != rotation[i - 1]] == [6, 12, 18, 24]


def _late_boundaries(durations, rates, steps, starts, make_track) -> tuple[int, int]:
    """(exact boundaries, how many of them a frame late) over every combination."""
    exact_count = late = 0
    for d in durations:
        for fps in rates:
            F = Fraction(str(fps))
            for t0 in [t for t in starts if t < d]:
                for n in steps:
                    track = make_track(d, t0, n)
                    D, T0 = Fraction(str(d)), Fraction(str(t0))
                    for j in range(1, n + 1):
                        i = (T0 + (D - T0) * j / n) * F  # the frame the j-th jump falls on, if whole
                        if i.denominator != 1 or i >= D * F:
                            continue
                        exact_count += 1
                        value = float(track.at(Fraction(int(i)) / F)[0])
                        late += abs(value - j / n) > 1e-12
    return exact_count, late


def test_every_exact_step_boundary_lands_on_its_frame():
    def make(d, t0, n):
        times = [0, t0, d] if t0 else [0, d]
        values = [[0.0], [0.0], [1.0]] if t0 else [[0.0], [1.0]]
        eases = [easing.parse("linear")] * (len(times) - 1) + [easing.parse(f"steps({n})")]
        return Track(times, values, eases, "linear", False, d)

    durations = [0.3, 0.6, 0.7, 0.9, 1.1, 1.2, 2.1, 3, 3.3, 3.6, 4.2, 4.8, 6.6, 9.9]
    rates = [6, 10, 12, 15, 24, 25, 29.97, 30, 60]
    count, late = _late_boundaries(durations, rates, range(1, 11), [0, 0.1, 0.3, 0.7], make)
    assert count > 1000
    assert late == 0, f"{late} of {count} exact boundaries land a frame late"


@pytest.mark.parametrize("name, jumps", [("step_end", 1), ("step_start", 0)])
def test_step_end_and_step_start_decide_on_the_exact_frame(name, jumps):
    # keyframes at 0.1 and 0.7 s at 10 fps: frame 7 is exactly the second keyframe
    track = Track([0, 0.1, 0.7], [[0.0], [0.0], [1.0]], [easing.linear, easing.linear, easing.parse(name)], "linear", False, 1)
    fps = Fraction(10)
    values = [float(track.at(i / fps)[0]) for i in range(10)]
    first_one = values.index(1.0)
    assert first_one == (7 if name == "step_end" else 2)


def test_keyframe_times_and_frame_count_are_exact_decimals():
    # 0.7 s at 30 fps: 21 frames (0.7 * 30 is 20.999999999999996 in floats); 0.05 s at 10 fps: a half, rounded up
    assert scene.parse("duration: 0.7\nfps: 30\ntrajectory: {keyframes: [{at: 0, z: random}]}").frame_count == 21
    assert scene.parse("duration: 0.05\nfps: 10\ntrajectory: {keyframes: [{at: 0, z: random}]}").frame_count == 1
    s = scene.parse("duration: 1\nfps: 29.97\ntrajectory: {keyframes: [{at: 0, z: random}]}")
    assert trajectory.frame_times(s)[3] == Fraction(300, 2997)
    assert tracks.exact(0.1) == Fraction(1, 10) and tracks.exact(29.97) == Fraction(2997, 100) and tracks.exact(3) == 3


def test_a_float_time_is_read_as_the_decimal_it_prints_as():
    track = Track([0, 0.3, 1], [[0.0], [5.0], [1.0]], [easing.linear, easing.linear, easing.parse("step_end")], "linear", False, 1)
    assert float(track.at(0.3)[0]) == 5.0  # the keyframe's own value at its own time
    assert float(track.at(np.float64(3) / 10)[0]) == 5.0
    assert float(track.at(Fraction(3, 10))[0]) == 5.0


def test_still_frame_i_is_render_frame_i_on_a_step_boundary(tmp_path):
    """--frame I is the exact time I / fps: a step that lands on that frame is taken there, as in render."""
    from PIL import Image

    from conftest import cli_main, write_scene

    path = write_scene(tmp_path, "duration: 1\nfps: 3\nsize: [24, 16]\nnetwork: {latent_dim: 2, width: 8, depth: 2}\n"
                       "trajectory: {keyframes: [{at: 0, z: random}]}\n"
                       "animate:\n  view.zoom: [{at: 0, value: 1}, {at: 1, value: 4, ease: 'steps(3)'}]\n")
    assert cli_main("render", path, "--format", "png", "-o", tmp_path / "frames", "--quiet").returncode == 0
    for i in range(3):
        r = cli_main("still", path, "--frame", i, "-o", tmp_path / f"still{i}.png", "--quiet")
        assert r.returncode == 0, r.stderr
        still = np.asarray(Image.open(tmp_path / f"still{i}.png").convert("RGB"))
        frame = np.asarray(Image.open(tmp_path / "frames" / f"frame_{i:05d}.png").convert("RGB"))
        assert np.array_equal(still, frame), i
    zoomed = [np.asarray(Image.open(tmp_path / "frames" / f"frame_{i:05d}.png").convert("RGB")) for i in range(2)]
    assert not np.array_equal(*zoomed)  # frame 1 sits on the first step: zoom 2, not 1
