"""Issue 18, the input side: every promise of the contract kept, each for its whole kind.

One line, always (user text escaped where an error becomes text); step holds until the
keyframe's time, whatever the easing; checks before work; every input path and value
(names that are not UTF-8, malformed --set keys, bounds on what a scene may ask, workers,
watch's interval); validation time linear in the file's size (counted, never timed);
HTML reprs escaped. Pure functions and in-process commands only: cheap enough for the
fast tier.
"""
from __future__ import annotations

import re
import warnings

import pytest

from cppn_anim import easing, scene
from cppn_anim.errors import SceneError

from conftest import cli_main

KEYS = "trajectory:\n  keyframes:\n    - {at: 0, z: random}\n"

# ---------------------------------------------------------------- one line, always

# control characters as a YAML double-quoted string writes them, and what they are
CONTROLS = {
    "line feed": "\\n", "carriage return": "\\r", "tab": "\\t", "ESC (clear screen)": "\\e[2J", "NUL": "\\0",
    "DEL": "\\x7f", "C1 NEL": "\\N", "C1 CSI": "\\x9b", "line separator": "\\L", "paragraph separator": "\\P",
    "vertical tab": "\\v", "bell": "\\a",
}  # fmt: skip


def _refused(text: str, source: str = "s.yaml") -> SceneError:
    with pytest.raises(SceneError) as info:
        scene.parse(text, source)
    line = str(info.value)
    assert line.isprintable(), repr(line)  # one line, nothing a terminal acts on (no control character, no separator)
    return info.value


def _ease_forms(c: str) -> list[str]:
    """Every way an easing is written, each made wrong by the control character c."""
    return [
        f"in{c}out", f"in_out_cu{c}bic", f"lin{c}ear", f"ease-in{c}-out", f"easeIn{c}Out",  # names (and their CSS/JS spellings)
        f"cubic_bezier(0.{c}1, 0.2, 0.3, 1)", f"cubic_bezier(0.1, 0.2, 0.3{c})", f"cubic_bezier(2, 0, 0.3, 1){c}",
        f"steps(3{c}0)", f"steps(0{c})", f"steps{c}",
    ]  # fmt: skip


@pytest.mark.parametrize("what", sorted(CONTROLS))
def test_every_easing_form_with_a_control_character_is_one_printable_line(what):
    for form in _ease_forms(CONTROLS[what]):
        for where in (f'trajectory:\n  ease: "{form}"\n  keyframes: [{{at: 0, z: random}}]\n',
                      f'trajectory:\n  keyframes: [{{at: 0, z: random}}, {{at: 1, z: random, ease: "{form}"}}]\n',
                      KEYS + f'animate:\n  view.zoom: {{ease: "{form}", keyframes: [{{at: 0, value: 1}}]}}\n'):  # fmt: skip
            err = _refused(where)
            assert "ease" in err.path and err.line is not None, str(err)


@pytest.mark.parametrize("what", sorted(CONTROLS))
def test_every_palette_form_with_a_control_character_is_one_printable_line(what):
    c = CONTROLS[what]
    for palette in (f'"mag{c}ma"', f'"{c}"', f'"no such map{c}"', f'["#ffffff", "#fff{c}"]', f'["{c}#000", "#fff"]'):
        err = _refused(f"network: {{palette: {palette}}}\n" + KEYS)
        assert err.path.startswith("network.palette"), str(err)


@pytest.mark.parametrize("what", sorted(CONTROLS))
def test_keys_values_and_file_names_with_control_characters_are_one_printable_line(what):
    c = CONTROLS[what]
    raw = c.encode().decode("unicode_escape") if c not in ("\\e[2J", "\\N", "\\L", "\\P") else {"\\e[2J": "\x1b[2J", "\\N": "\x85", "\\L": "\u2028", "\\P": "\u2029"}[c]
    _refused(KEYS + f'"net{c}work": 1\n')  # an unknown key: in the key path and in the message
    _refused(f'network: {{color: "rg{c}b"}}\n' + KEYS)
    _refused(f'render: {{device: "cu{c}da"}}\n' + KEYS)
    _refused(f'trajectory: {{keyframes: [{{at: 0, z: "rand{c}om"}}]}}\n')
    _refused("seed: x\n" + KEYS, source=f"a{raw}b.yaml")  # the file's own name


def test_an_easing_with_an_escape_sequence_never_reaches_the_terminal_raw(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text('trajectory:\n  ease: "\\e[2J\\e]0;owned\\a"\n  keyframes: [{at: 0, z: random}]\n')
    r = cli_main("validate", path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "\x1b" not in r.stderr and "\x07" not in r.stderr, repr(r.stderr)
    assert "\\x1b[2J" in r.stderr


@pytest.mark.parametrize("text", ["a: [\x1b\n", "a: \x85b\n", "\x07: 1\n", 'a: "\\q"\n', "a: 'unclosed\n", "{a: 1\n"])
def test_yaml_syntax_errors_are_one_printable_line(text):
    _refused(text)


def test_a_reused_anchor_is_yaml_1_2_and_warns_nothing():
    """ruamel warned in 8 lines naming "<unicode string>"; YAML 1.2 lets an anchor be defined again
    (an alias is the most recent node with its anchor)."""
    text = "seed: &n 1\nfps: &n 12\nduration: *n\n" + KEYS
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        s = scene.parse(text)
    assert seen == [] and s.duration == 12


def test_a_second_document_is_said_in_a_whole_sentence(tmp_path):
    err = _refused(KEYS + "---\nseed: 1\n")
    assert (err.line, err.col) == (4, 1) and "second YAML document" in err.message and not err.message.startswith("but")


# ---------------------------------------------------------------- step with an easing; overshooting easings

import math  # noqa: E402
from fractions import Fraction  # noqa: E402

import numpy as np  # noqa: E402

from cppn_anim.tracks import Track  # noqa: E402
from cppn_anim.trajectory import Motion  # noqa: E402

EVERY_EASE = sorted(easing.EASINGS) + ["cubic_bezier(0.3, 1.5, 0.7, -0.5)", "cubic_bezier(0, 0, 1, 1)", "steps(1)", "steps(3)"]


@pytest.mark.parametrize("ease", EVERY_EASE)
@pytest.mark.parametrize("loop", [False, True])
def test_step_holds_the_previous_value_until_the_keyframes_own_time_whatever_the_easing(ease, loop):
    """out_elastic is exactly 1.0 at u = 0.975 (and six times before), step_start as soon as
    u > 0: step used to show the next keyframe's value there, a flash of the next z."""
    f = easing.parse(ease)
    track = Track([0, 1, 3], [[1.0], [2.0], [5.0]], [f, f, f], "step", loop, 4)
    for i in range(1, 40):  # inside the first segment, on a grid that hits out_elastic's early 1.0
        assert track.at(Fraction(i, 40))[0] == 1.0, (ease, i)
    assert track.at(1)[0] == 2.0 and track.at(Fraction(2999, 1000))[0] == 2.0 and track.at(3)[0] == 5.0
    assert track.at(Fraction(3999, 1000))[0] == 5.0
    if loop:
        assert track.at(4)[0] == 1.0  # t = duration is keyframe 0 again


def test_step_with_out_elastic_shows_no_flash_on_any_frame():
    """The scene as render sees it: z and an animate track, frame by frame (frame 39 at 40 fps
    is u = 0.975, where out_elastic is exactly 1.0)."""
    s = scene.parse(
        "duration: 2\nfps: 40\nnetwork: {latent_dim: 2}\n"
        "trajectory: {interpolation: step, ease: out_elastic, keyframes: [{at: 0, z: [0, 0]}, {at: 1, z: [1, 1]}]}\n"
        "animate:\n  view.zoom: {interpolation: step, ease: step_start, keyframes: [{at: 0, value: 1}, {at: 1, value: 2}]}\n"
    )
    m = Motion(s)
    for i in range(s.frame_count):
        p, before = m.at(s.frame_time(i)), i < 40
        assert list(p.z) == ([0.0, 0.0] if before else [1.0, 1.0]) and p.zoom == (1.0 if before else 2.0), i


# Robert Penner's easing equations (2001) as easings.net writes them, computed here with math
# alone (no numpy, nothing from cppn_anim), the reference for back, elastic, expo and circ.
C1 = 1.70158
C2, C3, C4, C5 = C1 * 1.525, C1 + 1, 2 * math.pi / 3, 2 * math.pi / 4.5
PENNER = {
    "in_back": lambda x: C3 * x**3 - C1 * x**2,
    "out_back": lambda x: 1 + C3 * (x - 1) ** 3 + C1 * (x - 1) ** 2,
    "in_out_back": lambda x: ((2 * x) ** 2 * ((C2 + 1) * 2 * x - C2)) / 2 if x < 0.5 else ((2 * x - 2) ** 2 * ((C2 + 1) * (x * 2 - 2) + C2) + 2) / 2,
    "in_elastic": lambda x: -(2 ** (10 * x - 10)) * math.sin((x * 10 - 10.75) * C4),
    "out_elastic": lambda x: 2 ** (-10 * x) * math.sin((x * 10 - 0.75) * C4) + 1,
    "in_out_elastic": lambda x: -(2 ** (20 * x - 10) * math.sin((20 * x - 11.125) * C5)) / 2 if x < 0.5
    else (2 ** (-20 * x + 10) * math.sin((20 * x - 11.125) * C5)) / 2 + 1,
    "in_expo": lambda x: 2 ** (10 * x - 10),
    "out_expo": lambda x: 1 - 2 ** (-10 * x),
    "in_out_expo": lambda x: 2 ** (20 * x - 10) / 2 if x < 0.5 else (2 - 2 ** (-20 * x + 10)) / 2,
    "in_circ": lambda x: 1 - math.sqrt(1 - x**2),
    "out_circ": lambda x: math.sqrt(1 - (x - 1) ** 2),
    "in_out_circ": lambda x: (1 - math.sqrt(1 - (2 * x) ** 2)) / 2 if x < 0.5 else (math.sqrt(1 - (-2 * x + 2) ** 2) + 1) / 2,
}  # fmt: skip
INSIDE = [0.05, 0.1, 0.2, 0.25, 0.3, 1 / 3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95, 0.99]


@pytest.mark.parametrize("name", sorted(PENNER))
def test_back_elastic_expo_circ_match_penners_formulas(name):
    ours = easing.parse(name)
    for u in INSIDE:
        assert float(ours(u)) == pytest.approx(PENNER[name](u), abs=1e-12), (name, u)
        assert float(ours(Fraction(u).limit_denominator(10**6))) == pytest.approx(PENNER[name](float(Fraction(u).limit_denominator(10**6))), abs=1e-12)
    assert float(ours(0.0)) == 0.0 and float(ours(1.0)) == 1.0  # exact ends (the formulas miss by 2**-11 for expo, elastic)


def test_a_few_reference_values_written_out():
    """Numbers anyone can check by hand: back overshoots by about 10% (Penner's s = 1.70158)."""
    assert float(easing.parse("in_back")(0.5)) == pytest.approx(2.70158 / 8 - 1.70158 / 4, abs=1e-15)  # -0.0876975
    assert float(easing.parse("out_back")(0.5)) == pytest.approx(1 - 2.70158 / 8 + 1.70158 / 4, abs=1e-15)
    assert min(float(easing.parse("in_back")(u / 10000)) for u in range(10001)) == pytest.approx(-0.1000041, abs=1e-7)  # at u = 0.4199
    assert float(easing.parse("in_expo")(0.5)) == pytest.approx(2**-5, abs=1e-15)
    assert float(easing.parse("out_circ")(0.5)) == pytest.approx(math.sqrt(0.75), abs=1e-15)
    assert float(easing.parse("out_elastic")(0.1)) == pytest.approx(1 + 2**-1 * math.sin(0.25 * C4), abs=1e-15)


@pytest.mark.parametrize("ease", ["in_back", "out_back", "in_out_back", "in_elastic", "out_elastic", "in_out_elastic"])
def test_slerp_with_an_overshooting_easing_turns_past_its_keyframes_as_the_formula_says(ease):
    """slerp: the direction turns by e * angle and the norm is (1 - e)|a| + e|b|, also for e < 0 or e > 1."""
    a, b = np.array([1.0, 0.0]), np.array([0.0, 2.0])  # 90 degrees apart, norms 1 and 2
    track = Track([0, 1], [a, b], [easing.parse(ease)] * 2, "slerp", False, 1)
    for u in INSIDE:
        e = PENNER[ease](float(Fraction(u).limit_denominator(10**6)))
        norm, angle = (1 - e) * 1 + e * 2, e * math.pi / 2
        np.testing.assert_allclose(track.at(Fraction(u).limit_denominator(10**6)), [norm * math.cos(angle), norm * math.sin(angle)], atol=1e-9)


@pytest.mark.parametrize("ease", ["in_back", "out_back", "in_out_back", "in_elastic", "out_elastic", "in_out_elastic"])
def test_cubic_with_an_overshooting_easing_is_the_hermite_spline_at_the_eased_progress(ease):
    """cubic: Catmull-Rom tangents m_k = (v[k+1] - v[k-1]) / (t[k+1] - t[k-1]), one-sided at the
    ends, and the Hermite basis at s = e(u), computed here by hand."""
    times, values = [0.0, 1.0, 3.0], [0.0, 1.0, 5.0]
    m = [(values[1] - values[0]) / 1.0, (values[2] - values[0]) / 3.0, (values[2] - values[1]) / 2.0]
    track = Track(times, [[v] for v in values], [easing.parse(ease)] * 3, "cubic", False, 3)
    for k in (1, 2):  # the segment into keyframe k
        t0, t1 = times[k - 1], times[k]
        for u in INSIDE:
            u = float(Fraction(u).limit_denominator(10**6))
            s, span = PENNER[ease](u), t1 - t0
            h = (2 * s**3 - 3 * s**2 + 1) * values[k - 1] + (s**3 - 2 * s**2 + s) * m[k - 1] * span
            h += (-2 * s**3 + 3 * s**2) * values[k] + (s**3 - s**2) * m[k] * span
            assert track.at(Fraction(t0) + Fraction(u) * Fraction(span))[0] == pytest.approx(h, abs=1e-9), (k, u)


# ---------------------------------------------------------------- checks before work

HUGE = "network: {width: 4096, depth: 64}\nduration: 2\nfps: 10\n" + KEYS  # weights: 64 x 4096^2 floats, 8 GB


@pytest.fixture
def no_weights(monkeypatch):
    """Building weights is work: a request refused up front never gets there."""
    from cppn_anim import network

    def refuse(*args, **kwargs):
        raise AssertionError("the weights were built before the request was checked")

    monkeypatch.setattr(network, "build", refuse)


@pytest.mark.parametrize("when", [("--time", "99"), ("--time", "-1"), ("--time", "nan"), ("--time", "inf"), ("--frame", "20"), ("--frame", "-1")])
def test_still_checks_the_time_before_building_a_huge_network(tmp_path, no_weights, when):
    path = tmp_path / "huge.yaml"
    path.write_text(HUGE)
    r = cli_main("still", path, *when, "-o", tmp_path / "s.png")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith(when[0]), r.stderr
    assert not (tmp_path / "s.png").exists()


@pytest.mark.parametrize("t", [99, -1, float("nan"), float("inf")])
def test_the_api_and_the_core_check_the_time_before_any_work(no_weights, t):
    import cppn_anim
    from cppn_anim import core

    animation = cppn_anim.loads(HUGE)
    with pytest.raises(cppn_anim.UsageError, match="the scene runs from 0 to 2 s"):
        animation.still(t)
    with pytest.raises(cppn_anim.UsageError, match="the scene runs from 0 to 2 s"):
        animation.still(t=t, size=(8, 8))
    with pytest.raises(cppn_anim.UsageError, match="the scene runs from 0 to 2 s"):
        core.still(animation.scene, t)


def test_the_api_takes_a_frame_as_still_frame_does(tmp_path):
    """still(frame=I) is `cppn-anim still --frame I`: frame I at t = I / fps exactly."""
    import cppn_anim
    from PIL import Image

    from conftest import TINY

    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    animation = cppn_anim.load(path)
    assert cli_main("still", path, "--frame", "3", "-o", tmp_path / "f3.png", "--quiet").returncode == 0
    assert np.array_equal(animation.still(frame=3), np.asarray(Image.open(tmp_path / "f3.png").convert("RGB")))
    assert np.array_equal(animation.still(frame=3), animation.still(Fraction(3, 8)))
    for bad in (8, -1):
        with pytest.raises(cppn_anim.UsageError, match="frames 0..7"):
            animation.still(frame=bad)
    with pytest.raises(cppn_anim.ArgumentError):
        animation.still(0.5, frame=3)
    with pytest.raises(cppn_anim.ArgumentError):
        animation.still(frame=1.5)


# ---------------------------------------------------------------- every input path, every value

import os  # noqa: E402

SMALL = "duration: 0.5\nfps: 4\nsize: [12, 8]\nnetwork: {latent_dim: 2, width: 4, depth: 2}\n" + KEYS


def test_names_that_are_not_utf8_work_everywhere(tmp_path):
    """A scene file or -o name with bytes that are not UTF-8 (Python holds them as lone
    surrogates): an internal error in the render's claim (path.encode()), and `validate`'s
    "ok" line could not be printed. Shown as \\xNN, used as the bytes they are."""
    folder = tmp_path / "scenes"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9")  # Latin-1 on disk
    path = folder / f"{name}.yaml"
    path.write_text(SMALL)
    r = cli_main("validate", path)
    assert (r.returncode, r.stdout) == (0, f"{folder}/caf\\xe9.yaml: ok\n"), r.stderr
    for out in (tmp_path / f"{name}.gif", tmp_path / f"{name}.mp4"):
        r = cli_main("render", path, "-o", out)
        assert r.returncode == 0 and os.fsencode(out).endswith(b"caf\xe9" + os.fsencode(out.suffix)) and out.stat().st_size > 0, r.stderr
        assert "wrote " in r.stderr and r.stderr.rstrip("\n").isprintable() and "\\xe9" in r.stderr
    r = cli_main("still", path, "--time", "0", "-o", tmp_path / f"{name}.png", "--quiet")
    assert r.returncode == 0 and (tmp_path / f"{name}.png").exists(), r.stderr
    r = cli_main("previews", folder, "-o", tmp_path / "p", "--quiet")
    assert r.returncode == 0 and (tmp_path / "p" / f"{name}.gif").exists(), r.stderr
    page = (tmp_path / "p" / "index.html").read_text(encoding="utf-8")
    assert 'src="caf%E9.gif"' in page and 'href="caf%E9.yaml"' in page and "caf\\xe9" in page
    bad = folder / os.fsdecode(b"\xff\n.yaml")
    bad.write_text("seed: -1\n" + KEYS)
    r = cli_main("validate", bad)
    assert r.returncode == 2 and r.stderr == f"{folder}/\\xff\\n.yaml:1:7: seed: must be >= 0, got -1\n", r.stderr


@pytest.mark.parametrize("interval", [-1, 0, float("nan"), float("inf"), 1e12])
def test_watch_refuses_an_interval_that_is_no_wait(tmp_path, interval):
    """--interval -1 spun forever, nan and inf were internal errors: a usage error, before any work."""
    from cppn_anim import errors, watch

    path = tmp_path / "s.yaml"
    path.write_text(SMALL)
    with pytest.raises(errors.UsageError, match="interval"):
        watch.watch(path, tmp_path / "w.gif", interval=interval)
    assert not (tmp_path / "w.gif").exists()
    r = cli_main("watch", path, "-o", tmp_path / "w.gif", "--interval", str(interval))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--interval" in r.stderr and not (tmp_path / "w.gif").exists(), r.stderr


@pytest.mark.parametrize("key", ["seed.", ".seed", "network..depth", "network.depth.", "trajectory.keyframes.[0].at", "[0]", "seed[x]", "seed[0"])
def test_a_malformed_key_path_is_refused_not_half_read(tmp_path, key):
    """`--set seed.=1` set the seed (the trailing dot was ignored): every dot is followed by a key."""
    from cppn_anim import core

    path = tmp_path / "s.yaml"
    path.write_text(SMALL)
    r = cli_main("validate", path, "--set", f"{key}=1")
    assert r.returncode == 2 and r.stderr == f"{path}: --set {key}: not a key path (write e.g. network.depth or trajectory.keyframes[0].at)\n", r.stderr
    with pytest.raises(SceneError, match="not a key path"):
        core.parse(SMALL, overrides={key: 1})


# ---------------------------------------------------------------- rules across keys: bounds, blame, linear time

LIST_SCENE = (
    "network: {activation: [tanh, sin, tanh, sin, tanh, sin, tanh, sin], latent_dim: 2, palette: magma}\n"
    "duration: 2\ntrajectory:\n  keyframes: [{at: 0, z: [1, 2]}, {at: 2, z: random}]\n"
)  # valid as it is: 8 activations for the default depth 8, a z of 2 for latent_dim 2, a palette on gray


@pytest.mark.parametrize("flag, value, path", [
    ("--fps", "1e-300", "fps"),
    ("--set", "fps=1e-300", "fps"),
    ("--duration", "1", "duration"),
    ("--duration", "1e300", "duration"),
    ("--set", "network.depth=2", "network.depth"),
    ("--set", "network.style=hardmaru", "network.style"),  # its depth is 4
    ("--set", "network.latent_dim=3", "network.latent_dim"),
    ("--set", "network.color=rgb", "network.color"),
    ("--set", "trajectory.keyframes[0].at=3", "trajectory.keyframes[0].at"),  # the override itself is wrong
])  # fmt: skip
def test_a_rule_broken_by_an_override_names_the_override(tmp_path, flag, value, path):
    """`--set fps=1e-300` was blamed on the file's `duration` (and --duration on a keyframe's
    `at`, --set network.depth on the file's activation list...): the override caused it."""
    scene_file = tmp_path / "s.yaml"
    scene_file.write_text(LIST_SCENE)
    assert cli_main("validate", scene_file).returncode == 0
    r = cli_main("validate", scene_file, flag, value)
    shown = f"{flag} {value}" if flag != "--set" else f"--set {value}"
    assert r.returncode == 2 and r.stderr.startswith(f"{scene_file}: {shown}: {path}: ") and r.stderr.count("\n") == 1, r.stderr


def test_a_rule_broken_by_the_file_is_still_at_its_line(tmp_path):
    scene_file = tmp_path / "s.yaml"
    scene_file.write_text(LIST_SCENE.replace("latent_dim: 2, ", ""))  # z of 2 for the default latent_dim 8
    r = cli_main("validate", scene_file, "--seed", "3", "--fps", "12")
    assert r.returncode == 2 and r.stderr.startswith(f"{scene_file}:4:26: trajectory.keyframes[0].z: z has 2 numbers"), r.stderr


def test_a_scene_asks_at_most_10_8_frames(tmp_path):
    """`duration: 1e300` was accepted (and `previews` of its folder never ended)."""
    folder = tmp_path / "scenes"
    folder.mkdir()
    huge = folder / "huge.yaml"
    huge.write_text("duration: 1e300\n" + KEYS)
    err = _refused(huge.read_text())
    assert (err.path, err.line, err.col) == ("duration", 1, 11) and "at most 1e+08" in err.message
    edge = "fps: 30\nduration: %s\n" + KEYS + "animate:\n  view.zoom: {interpolation: cubic, keyframes: [{at: 0, value: 1}, {at: 9, value: 3}, {at: 10, value: 1}]}\n"
    assert scene.parse(edge % "3333333.3").frame_count == 99_999_999  # within: accepted, and checked without a look at each frame
    assert "at most" in _refused(edge % "3333334").message
    assert cli_main("validate", huge, "--duration", "4").returncode == 0
    r = cli_main("validate", huge, "--set", "duration=4", "--fps", "240", "--set", "duration=1e6")
    assert r.returncode == 2 and r.stderr.startswith(f"{huge}: --set duration=1e6: duration: "), r.stderr
    r = cli_main("previews", folder, "-o", tmp_path / "p", "--quiet")
    assert r.returncode == 2 and "at most" in r.stderr and not (tmp_path / "p" / "huge.gif").exists()


def _work(text: str) -> int:
    """Function calls made while a scene text is validated (Python and C): a count, not a time."""
    import sys

    from cppn_anim import core

    calls = [0]

    def count(frame, event, arg):
        if event in ("call", "c_call"):
            calls[0] += 1

    sys.setprofile(count)
    try:
        core.parse(text)
    finally:
        sys.setprofile(None)
    return calls[0]


def _tracked(n: int, key: str = "view.zoom", duration: float | None = None, fps: float = 30) -> str:
    rows = "".join(f"      - {{at: {i}, value: {1 + i % 3}}}\n" for i in range(n))
    return f"duration: {duration or n}\nfps: {fps}\n{KEYS}animate:\n  {key}:\n    interpolation: cubic\n    keyframes:\n{rows}"


def test_validation_work_is_linear_in_the_file_and_not_in_its_frames():
    """3000 cubic zoom keyframes took 19 s to validate: the positivity rule sampled every
    segment 256 times and looked at every frame. Counted in function calls, never timed:
    10x the keyframes is 10x the work; the rule costs little next to reading the file (the
    same keyframes on rotation, which has no such rule); a longer video is no more work."""
    from cppn_anim import core

    core.parse(_tracked(3))  # imports and caches (the schema, the easings) out of the count
    small, big = _work(_tracked(40)), _work(_tracked(400))
    assert big <= 11 * small, (small, big)
    plain = _work(_tracked(400, key="view.rotation"))
    assert big <= 1.25 * plain, (big, plain)
    longer = _work(_tracked(40, duration=3000, fps=240))  # 720,000 frames instead of 1,200
    assert longer <= 1.02 * small, (small, longer)


@pytest.mark.parametrize("interpolation", ["linear", "cubic"])
@pytest.mark.parametrize("loop", [False, True])
def test_a_tracks_lowest_value_is_exact_not_sampled(interpolation, loop):
    """Track.lowest (the positivity rule) against a dense look at every segment: never above
    what the track reaches, and as low as it really goes."""
    from cppn_anim import tracks

    rng = np.random.default_rng(7)
    names = ["linear", "in_back", "out_back", "in_out_elastic", "out_elastic", "in_out_quad", "steps(3)", "cubic_bezier(0.2, -0.6, 0.8, 1.7)"]
    for trial in range(12):
        times = [0.0, *sorted(rng.choice(np.arange(1, 40), 4, replace=False) / 4)]
        values = rng.uniform(0.05, 3, len(times))
        eases = [easing.parse(names[(trial + k) % len(names)]) for k in range(len(times))]
        track = Track(times, [[v] for v in values], eases, interpolation, loop, 11)
        low, when = track.lowest()
        dense = min(values)
        bounds = list(times) + ([11.0] if loop else [])
        for k in range(1, len(bounds)):
            a, b = k - 1, k % len(times)
            s = np.asarray(eases[b](np.linspace(0, 1, 20001)), dtype=np.float64)
            span = bounds[k] - bounds[k - 1]
            if interpolation == "cubic":
                h = tracks.hermite(values[a], values[b], track.tangents[a, 0] * span, track.tangents[b, 0] * span, s)
            else:
                h = values[a] + (values[b] - values[a]) * s
            dense = min(dense, float(h.min()))
        assert low <= dense + 1e-12 and dense - low < 1e-6, (trial, low, dense)
        assert float(track.at(when)[0]) == pytest.approx(low, abs=1e-3)  # and it is reached when it says


@pytest.mark.parametrize("args", [
    ("render", "-o", ".mp4"), ("render", "-o", "sub/.GIF"), ("render", "-o", ".webm", "--format", "webm"), ("render", "-o", ".png", "--format", "png"),
    ("render", "--preview", "-o", ".gif"), ("still", "--time", "0", "-o", ".png"), ("explore", "-o", "sub/.png"), ("watch", "-o", ".gif"),
], ids=" ".join)  # fmt: skip
def test_an_output_named_only_by_its_extension_says_so(tmp_path, args):
    """`-o .mp4` said ".mp4: a mp4 file must end in .mp4": it names no file, only an extension."""
    path = tmp_path / "s.yaml"
    path.write_text(SMALL)
    r = cli_main(args[0], path, *args[1:], cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "is an extension without a name" in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]
    import cppn_anim

    with pytest.raises(cppn_anim.UsageError, match="without a name"):
        cppn_anim.loads(SMALL).render(str(tmp_path / ".mp4"))


def test_workers_are_at_most_the_cpu_count(tmp_path, monkeypatch):
    """`--workers 999` started 999 Dask workers on a 2-core machine: at most the CPU count, exit 2, nothing started."""
    from cppn_anim import distribute

    def started(*args, **kwargs):
        raise AssertionError("a cluster was started")

    monkeypatch.setattr(distribute, "render", started)
    path = tmp_path / "s.yaml"
    path.write_text(SMALL)
    for n in (os.cpu_count() + 1, 999):
        r = cli_main("render", path, "-o", tmp_path / "a.mp4", "--workers", n)
        assert r.returncode == 2 and r.stderr == f"--workers {n}: at most {os.cpu_count()}, the CPU count of this machine (for more, start a cluster and give --scheduler)\n", r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_a_dangling_symlink_says_where_it_points_never_did_you_mean_itself(tmp_path):
    folder = tmp_path / "scenes"
    folder.mkdir()
    (folder / "spiral.yaml").write_text(SMALL)
    (folder / "spiarl.yaml").symlink_to("gone/spiral.yaml")  # dangling
    (folder / "lava.yaml").symlink_to("nowhere.yaml")  # dangling too: never suggested
    r = cli_main("validate", folder / "spiarl.yaml")
    assert r.returncode == 2 and r.stderr == f"{folder}/spiarl.yaml: a symbolic link to gone/spiral.yaml, which does not exist\n", r.stderr
    r = cli_main("validate", folder / "lav.yaml")
    assert r.returncode == 2 and "lava" not in r.stderr and r.stderr.endswith(f"scenes in {folder}: spiral)\n"), r.stderr
    r = cli_main("validate", folder / "spirl.yaml")
    assert r.returncode == 2 and f"did you mean {folder}/spiral.yaml?" in r.stderr, r.stderr


# ---------------------------------------------------------------- notebook safety


@pytest.mark.parametrize("name", ['"><img src=x onerror=alert(1)>', "<script>alert(1)</script>", "a & b ' \" < >", "line\nbreak"])
def test_a_preview_in_a_notebook_shows_the_name_as_text(name):
    """Preview._repr_html_ put the scene's name into the page raw: a name could run script."""
    from html.parser import HTMLParser

    from cppn_anim.api import Preview

    page = Preview(b"GIF89a", name)._repr_html_()
    tags = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append((tag, dict(attrs)))

    Tags().feed(page)
    assert [t for t, _ in tags] == ["img"] and set(tags[0][1]) == {"src", "alt"}, page
    assert tags[0][1]["alt"].startswith(name.replace("\n", "\\n"))


# ---------------------------------------------------------------- validate reports every error in a file (issue 22)

MANY = """\
seed: -1
fps: x
network:
  depht: 3
  activation: [tanh, sin]
duration: 2
trajectory:
  keyframes:
    - {at: 0, z: random}
    - {at: 3, z: random}
output: {path: /etc/x.mp4}
bogus: 1
"""
MANY_LINES = [
    "1:7: seed: must be >= 0, got -1",
    "2:6: fps: expected a number, got 'x'",
    "4:3: network.depht: unknown key 'depht' (did you mean 'depth'?)",
    "5:15: network.activation: 2 activations for depth 8: give one name, or exactly 8",
    "10:12: trajectory.keyframes[1].at: at 3 is past the end (duration 2)",
    "11:16: output.path: '/etc/x.mp4' is an absolute path",
    "12:1: bogus: unknown key 'bogus'",
]


def test_validate_reports_every_error_in_file_order_one_line_each(tmp_path):
    """Schema errors, unknown keys and rules across keys, each on its own line, by line then
    column; exit 2. Every other command stops at the first and prints that one line."""
    path = tmp_path / "many.yaml"
    path.write_text(MANY)
    r = cli_main("validate", path)
    lines = r.stderr.splitlines()
    assert r.returncode == 2 and r.stdout == "" and len(lines) == len(MANY_LINES), r.stderr
    for line, want in zip(lines, MANY_LINES):
        assert line.startswith(f"{path}:{want}"), (line, want)
    for command in (["render", path, "-o", tmp_path / "a.mp4"], ["still", path, "--time", "0", "-o", tmp_path / "a.png"]):
        r = cli_main(*command)
        assert r.returncode == 2 and r.stderr == lines[0] + "\n", r.stderr
    with pytest.raises(SceneError) as info:  # the API: the first error, and all of them
        scene.parse(MANY, str(path))
    assert str(info.value) == lines[0] and [str(e) for e in info.value.errors] == lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many.yaml"]


def test_validate_goes_on_past_duplicate_keys_and_refused_tags(tmp_path):
    text = KEYS + "seed: 1\nfps: !!python/object:os.system 12\nseed: 2\nsize: [10, !!binary eA==]\nview: {zoom: -1}\n"
    errors = _refused_all(text)
    assert [(e.line, e.path) for e in errors] == [(5, "fps"), (6, "seed"), (7, "size[1]"), (8, "view.zoom")], [str(e) for e in errors]
    assert "duplicate key 'seed' (first at line 4)" in errors[1].message and "not allowed" in errors[0].message


def _refused_all(text: str) -> list[SceneError]:
    with pytest.raises(SceneError) as info:
        scene.parse(text, "s.yaml")
    errors = info.value.errors
    assert errors[0] is info.value and all(str(e).isprintable() for e in errors)
    assert [(e.line or 0, e.col or 0) for e in errors] == sorted((e.line or 0, e.col or 0) for e in errors)
    return errors


@pytest.mark.parametrize("text, want", [
    # a bad depth: the activation list is not also blamed for not matching a depth stood in for it
    ("network: {depth: x, activation: [tanh, sin]}\n" + KEYS, ["network.depth"]),
    # a bad duration: the keyframe times are not measured against a stand-in
    ("duration: -1\ntrajectory: {keyframes: [{at: 0, z: random}, {at: 9, z: random}]}\n", ["duration"]),
    # a bad latent_dim: a z list is not measured against a stand-in
    ("network: {latent_dim: 0}\ntrajectory: {keyframes: [{at: 0, z: [1, 2]}]}\n", ["network.latent_dim"]),
    # a bad keyframe: the rest of the scene is still checked
    ("trajectory: {keyframes: [{at: 0, z: random}, {at: x, z: random}]}\noutput: {path: ../x.mp4}\nview: {zoom: 0}\n",
     ["trajectory.keyframes[1].at", "output.path", "view.zoom"]),
    # no trajectory at all: the rest is still checked
    ("fps: 0\nnetwork: {color: rgb, palette: magma}\n", ["trajectory", "fps", "network.palette"]),
    # a bad format: the path is not measured against a stand-in format
    ("output: {format: mp5, path: out/x.mp5}\n" + KEYS, ["output.format"]),
])  # fmt: skip
def test_validate_reports_only_independent_errors(text, want):
    assert [e.path for e in _refused_all(text)] == want


# ---------------------------------------------------------------- the test tiers


def test_make_check_fails_when_no_slow_test_is_collected(tmp_path):
    """`make check` accepted pytest's exit 5 (no test collected): a slow tier that lost its
    tests (a marker renamed, a module-level skip) passed as if it had run. The Makefile's own
    check recipe, run where there is no test at all, must fail."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    if shutil.which("make") is None:
        pytest.skip("no make")
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    recipe = re.search(r"^check:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe, "the Makefile has a check target"
    (tmp_path / "Makefile").write_text(f"BIN := {Path(sys.executable).parent}\ntest:\n\t@true\ncheck: test\n{recipe.group(1)}")
    r = subprocess.run(["make", "-s", "check"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode != 0 and "no tests ran" in r.stdout, (r.returncode, r.stdout[-500:], r.stderr)


# a module-level skip skips every test of its module: only where every one of them needs the
# module (the Triton kernel's tests all run Triton); Dask is needed by the cluster tests only
WHOLE_MODULE_SKIPS = {"test_fused.py": {"triton"}}


def test_no_test_module_is_skipped_whole_for_what_only_some_of_its_tests_need():
    """test_distribute skipped its Dask-free tests (gif refused, the hint without Dask) with a
    module-level importorskip("dask.distributed")."""
    import ast
    from pathlib import Path

    found = {}
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        for node in ast.parse(path.read_text()).body:  # module level only
            call = node.value if isinstance(node, (ast.Expr, ast.Assign)) else None
            if isinstance(call, ast.Call) and getattr(call.func, "attr", None) == "importorskip":
                found.setdefault(path.name, set()).add(ast.literal_eval(call.args[0]))
    assert found == WHOLE_MODULE_SKIPS


EASE_FORMS = {  # every way to write an easing wrong, and a word of what is said
    "in_out_cubc": "did you mean 'in_out_cubic'", "ease-in-out": "did you mean", "easeInOutCubic": "did you mean 'in_out_cubic'",
    "": "unknown easing ''", "   ": "unknown easing ''", "x" * 1000: "...'", "cubic_bezier(1,2,3)": "four numbers",
    "cubic_bezier(2, 0, 0.5, 1)": "x1 and x2 in [0, 1]", "cubic_bezier(0.1, 0.2, 0.3, 1": "put it in quotes",
    "cubic_bezier(a, b, c, d)": "four numbers", "cubic_bezier(" + "1," * 500 + ")": "four numbers", "cubic_bezier": "four numbers",
    "steps(0)": "n >= 1", "steps(-1)": "n >= 1", "steps(1.5)": "whole number", "steps()": "whole number", "steps": "whole number",
}  # fmt: skip
PALETTE_FORMS = {
    '"magam"': "did you mean 'magma'", '""': "unknown palette ''", '"' + "x" * 1000 + '"': "unknown palette", '"cmap:magma"': "did you mean",
    '["#ggg", "#fff"]': "is not a colour", '["#fff"]': "at least 2", "[]": "at least 2", "[1, 2]": "expected text", "{a: 1}": "colormap name or a list",
    "3": "colormap name or a list", "true": "colormap name or a list",
}  # fmt: skip


@pytest.mark.parametrize("form", sorted(EASE_FORMS))
def test_every_wrong_easing_is_one_short_line_at_its_key(form):
    for where, path in ((f'trajectory:\n  ease: "{form}"\n  keyframes: [{{at: 0, z: random}}]\n', "trajectory.ease"),
                        (KEYS + f'animate:\n  network.contrast: [{{at: 0, value: 1}}, {{at: 1, value: 2, ease: "{form}"}}]\n', "animate.network.contrast[1].ease")):  # fmt: skip
        err = _refused(where)
        assert err.path == path and err.line is not None and len(str(err)) < 240 and EASE_FORMS[form] in err.message, str(err)


@pytest.mark.parametrize("form", sorted(PALETTE_FORMS))
def test_every_wrong_palette_is_one_short_line_at_its_key(form):
    err = _refused(f"network: {{palette: {form}}}\n" + KEYS)
    assert err.path.startswith("network.palette") and err.line == 1 and len(str(err)) < 240 and PALETTE_FORMS[form] in err.message, str(err)
