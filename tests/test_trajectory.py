import numpy as np
import pytest

from cppn_anim import scene, tracks, trajectory
from cppn_anim.tracks import Track
from cppn_anim.trajectory import Motion


def motion(text: str) -> tuple[scene.Scene, Motion]:
    s = scene.parse(text)
    return s, Motion(s)


def test_z_equals_each_keyframe_exactly_at_its_time():
    s, m = motion(
        """
duration: 4
network: {latent_dim: 5}
trajectory:
  interpolation: cubic
  keyframes:
    - {at: 0, z: random}
    - {at: 1.3, z: {seed: 9}, ease: out_back}
    - {at: 2.9, z: [0.1, 0.2, 0.3, 0.4, 0.5], ease: in_out_cubic}
"""
    )
    for k, key in enumerate(s.trajectory.keyframes):
        expected = trajectory.latent_vector(s.seed, k, key.z, 5)
        assert np.array_equal(m.at(key.at).z, expected)
    assert np.array_equal(m.at(3.5).z, [0.1, 0.2, 0.3, 0.4, 0.5])  # holds after the last


def test_frame_count_and_times():
    s = scene.parse("duration: 2.5\nfps: 12\ntrajectory: {keyframes: [{at: 0, z: random}]}")
    assert s.frame_count == 30
    times = trajectory.frame_times(s)
    assert len(times) == 30 and times[0] == 0 and times[-1] == pytest.approx(29 / 12)
    assert scene.parse("duration: 1\nfps: 2.5\ntrajectory: {keyframes: [{at: 0, z: random}]}").frame_count == 3  # 2.5 -> 3


def test_random_z_depends_on_seed_and_index_and_seed_z_on_n_alone():
    a = trajectory.latent_vector(1, 0, "random", 4)
    assert np.array_equal(a, trajectory.latent_vector(1, 0, "random", 4))
    assert not np.array_equal(a, trajectory.latent_vector(1, 1, "random", 4))
    assert not np.array_equal(a, trajectory.latent_vector(2, 0, "random", 4))
    seeded = scene.SeedZ(seed=3)
    assert np.array_equal(trajectory.latent_vector(1, 0, seeded, 4), trajectory.latent_vector(99, 7, seeded, 4))


@pytest.mark.parametrize("style", ["cppn-anim", "hardmaru", "guibas"])
def test_pinned_latent_values(style):
    """numpy's RandomState is frozen: these numbers must never change, for any style
    (z: random at keyframe 0 of seed 0; z: {seed: 3} at keyframe 2 of seed 7)."""
    z = trajectory.latent_vector(0, 0, "random", 3, style)
    np.testing.assert_allclose(z, PINNED_Z[style][0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(trajectory.latent_vector(7, 2, scene.SeedZ(seed=3), 2, style), PINNED_Z[style][1], rtol=0, atol=1e-12)


PINNED_Z = {
    "cppn-anim": ([-1.1063538910937303, -1.387749411657186, -0.308801128072761], [-0.906978371031181, 1.2947215859222605]),
    "hardmaru": ([-0.923330969054774, 0.9471658338118989, -0.3557725324474277], [0.4385151904111284, -0.3071886631041263]),
    "guibas": ([0.03833451547261302, 0.9735829169059494, 0.32211373377628616], [0.7192575952055642, 0.34640566844793685]),
}


def test_loop_returns_to_the_first_keyframe_at_duration():
    _, m = motion("duration: 3\ntrajectory: {loop: true, interpolation: linear, keyframes: [{at: 0, z: [0, 0]}, {at: 1, z: [1, 0]}]}\nnetwork: {latent_dim: 2}")
    np.testing.assert_allclose(m.z.at(2.0), [0.5, 0])  # halfway back from 1 to 0 over [1, 3]
    np.testing.assert_allclose(m.z.at(2.999999), [0, 0], atol=1e-5)


def test_no_loop_holds_the_last_value():
    _, m = motion("duration: 3\ntrajectory: {interpolation: linear, keyframes: [{at: 0, z: [0, 0]}, {at: 1, z: [1, 0]}]}\nnetwork: {latent_dim: 2}")
    np.testing.assert_allclose(m.z.at(2.5), [1, 0])


def test_step_holds_previous_value():
    track = Track([0, 1, 2], [[0.0], [1.0], [5.0]], [lambda u: u] * 3, "step", False, 3)
    assert track.at(0.99)[0] == 0 and track.at(1.0)[0] == 1 and track.at(1.5)[0] == 1


def test_easing_shapes_the_travel_into_a_keyframe():
    _, m = motion("duration: 2\nnetwork: {latent_dim: 1}\ntrajectory: {interpolation: linear, keyframes: [{at: 0, z: [0]}, {at: 2, z: [1], ease: in_quad}]}")
    assert m.z.at(1.0)[0] == pytest.approx(0.25)


def test_slerp_keeps_norms_between_the_ends_and_moves_on_the_sphere():
    rng = np.random.RandomState(0)
    for _ in range(50):
        a, b = rng.standard_normal(6) * rng.uniform(0.5, 3), rng.standard_normal(6) * rng.uniform(0.5, 3)
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        for e in np.linspace(0, 1, 11):
            v = tracks.slerp(a, b, e)
            n = np.linalg.norm(v)
            assert min(na, nb) - 1e-9 <= n <= max(na, nb) + 1e-9
            assert n == pytest.approx((1 - e) * na + e * nb)
        # the direction moves along the great circle: equal angle steps
        angles = [np.arccos(np.clip(tracks.slerp(a, b, e) @ a / np.linalg.norm(tracks.slerp(a, b, e)) / na, -1, 1)) for e in (0.25, 0.5)]
        assert angles[1] == pytest.approx(2 * angles[0], rel=1e-6)


def test_slerp_falls_back_to_linear_when_parallel_or_opposite():
    a = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(tracks.slerp(a, 2 * a, 0.5), 1.5 * a)
    np.testing.assert_allclose(tracks.slerp(a, -a, 0.5), 0 * a, atol=1e-12)


def _velocity(track: Track, t: float, h: float = 1e-6) -> np.ndarray:
    return (track.at(t + h) - track.at(t - h)) / (2 * h)


def test_cubic_is_continuous_in_value_and_velocity_with_uneven_keyframes():
    times = [0, 0.4, 1.7, 2.0, 3.6]
    values = np.random.RandomState(1).standard_normal((5, 3))
    track = Track(times, values, [lambda u: u] * 5, "cubic", False, 4)
    for t in times[1:-1]:
        left = (track.at(t) - track.at(t - 1e-5)) / 1e-5
        right = (track.at(t + 1e-5) - track.at(t)) / 1e-5
        np.testing.assert_allclose(left, right, atol=1e-3)
        np.testing.assert_allclose(track.at(t - 1e-9), track.at(t), atol=1e-7)
        # and the velocity is the time-aware Catmull-Rom tangent
        k = times.index(t)
        np.testing.assert_allclose(_velocity(track, t), (values[k + 1] - values[k - 1]) / (times[k + 1] - times[k - 1]), atol=1e-4)


def test_cubic_loop_is_smooth_across_the_seam():
    times = [0, 0.7, 2.2]
    values = np.random.RandomState(2).standard_normal((3, 2))
    d = 3.0
    track = Track(times, values, [lambda u: u] * 3, "cubic", True, d)
    h = 1e-5
    before_seam = (track.at(d - h) - track.at(d - 2 * h)) / h  # arriving at keyframe 0 again
    after_seam = (track.at(2 * h) - track.at(h)) / h  # leaving keyframe 0
    np.testing.assert_allclose(before_seam, after_seam, atol=1e-3)
    np.testing.assert_allclose(track.at(d - 1e-9), values[0], atol=1e-6)
    for t in times[1:]:
        left = (track.at(t) - track.at(t - h)) / h
        right = (track.at(t + h) - track.at(t)) / h
        np.testing.assert_allclose(left, right, atol=1e-3)


def test_view_tracks_animate_zoom_rotation_and_center():
    _, m = motion(
        """
duration: 4
view: {zoom: 3, rotation: 10}
trajectory: {keyframes: [{at: 0, z: random}]}
animate:
  view.rotation: [{at: 0, value: 0}, {at: 4, value: 360}]
  view.center:
    interpolation: linear
    keyframes: [{at: 0, value: [0, 0]}, {at: 2, value: [1, -1]}]
"""
    )
    p = m.at(1.0)
    assert p.rotation == pytest.approx(90)
    np.testing.assert_allclose(p.center, [0.5, -0.5])
    assert p.zoom == 3  # not animated: the view's value
    assert m.at(4.0).rotation == 360


def test_the_loop_back_uses_the_first_keyframes_ease():
    """With loop: true, z travels from the last keyframe back to the first; keyframe 0's
    `ease` is the easing INTO it, so it shapes that last stretch (and only that one)."""
    _, m = motion(
        "duration: 4\nnetwork: {latent_dim: 1}\n"
        "trajectory: {loop: true, interpolation: linear, ease: linear, keyframes: [{at: 0, z: [0], ease: in_quad}, {at: 2, z: [1]}]}"
    )
    assert m.z.at(1.0)[0] == pytest.approx(0.5)  # 0 -> 1: keyframe 1's ease (the default, linear)
    assert m.z.at(3.0)[0] == pytest.approx(1 - 0.25)  # 1 -> 0 over [2, 4]: in_quad(0.5) = 0.25 of the way
    assert m.z.at(3.5)[0] == pytest.approx(1 - 0.75**2)
    _, plain = motion("duration: 4\nnetwork: {latent_dim: 1}\ntrajectory: {loop: true, interpolation: linear, keyframes: [{at: 0, z: [0]}, {at: 2, z: [1]}]}")
    assert plain.z.at(3.0)[0] == pytest.approx(0.5)


def test_cubic_without_loop_has_one_sided_tangents_at_the_ends():
    """The first and last keyframes have one neighbour: their tangent is the slope to it."""
    times = [0.0, 0.5, 2.0, 2.6]
    values = np.random.RandomState(3).standard_normal((4, 2))
    track = Track(times, values, [lambda u: u] * 4, "cubic", False, 3.0)
    h = 1e-6
    start = (track.at(h) - track.at(0.0)) / h  # leaving the first keyframe
    np.testing.assert_allclose(start, (values[1] - values[0]) / (times[1] - times[0]), atol=1e-4)
    end = (track.at(times[-1]) - track.at(times[-1] - h)) / h  # arriving at the last
    np.testing.assert_allclose(end, (values[-1] - values[-2]) / (times[-1] - times[-2]), atol=1e-4)
    np.testing.assert_allclose(track.at(2.9), values[-1])  # and it holds after the last
