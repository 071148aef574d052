import json

import jsonschema
import pytest
import yaml

from cppn_anim import core, scene
from cppn_anim.cli import main

from conftest import ROOT, cli_main, shipped_scenes

KEYS = "trajectory:\n  keyframes:\n    - {at: 0, z: random}\n"


def refuse(text: str, overrides=()) -> scene.SceneError:
    with pytest.raises(scene.SceneError) as info:
        scene.parse(text, "s.yaml", overrides)
    return info.value


def test_three_lines_render_with_every_default():
    s = scene.parse(KEYS, default_name="three")
    assert s.name == "three" and s.seed == 0 and s.duration == 4 and s.fps == 30 and s.size == [1280, 720]
    assert (s.network.latent_dim, s.network.width, s.network.depth, s.network.activation) == (8, 32, 8, "tanh")
    assert s.network.color == "rgb" and s.network.weight_scale == 1 and s.network.inputs == ["x", "y", "r"]
    assert (s.view.zoom, s.view.center, s.view.rotation) == (1, [0, 0], 0)
    assert (s.trajectory.interpolation, s.trajectory.ease, s.trajectory.loop) == ("slerp", "linear", False)
    assert (s.render.device, s.render.precision, s.render.supersample) == ("auto", "fp32", 1)
    assert (s.output.format, s.output.path, s.output.crf) == ("mp4", "out/{name}.{ext}", None)


@pytest.mark.parametrize(
    "text, where, path, words",
    [
        ("netwrok: {width: 16}\n" + KEYS, "1:1", "netwrok", "did you mean 'network'"),
        ("network:\n  depth: deep\n" + KEYS, "2:10", "network.depth", "whole number"),
        ("network:\n  depth: 2.5\n" + KEYS, "2:10", "network.depth", "whole number"),
        ("network: {depth: 0}\n" + KEYS, "1:18", "network.depth", ">= 1"),
        ("network: {depth: 65}\n" + KEYS, "1:18", "network.depth", "<= 64"),
        ("network: {activation: tanhh}\n" + KEYS, "1:23", "network.activation", "did you mean 'tanh'"),
        ("network: {depth: 3, activation: [tanh, sin, sine]}\n" + KEYS, "1:45", "network.activation[2]", "did you mean 'sin'"),
        ("network: {depth: 3, activation: [tanh, sin]}\n" + KEYS, "1:33", "network.activation", "exactly 3"),
        ("network: {color: hvs}\n" + KEYS, "1:18", "network.color", "did you mean 'hsv'"),
        ("network: {inputs: [x, q]}\n" + KEYS, "1:23", "network.inputs[1]", "unknown"),
        ("view: {zoom: 0}\n" + KEYS, "1:14", "view.zoom", "> 0"),
        ("view: {zoom: -2}\n" + KEYS, "1:14", "view.zoom", "> 0"),
        ("view: {center: [1]}\n" + KEYS, "1:16", "view.center", "exactly 2"),
        ("size: [640]\n" + KEYS, "1:7", "size", "exactly 2"),
        ("size: [640, 0]\n" + KEYS, "1:13", "size[1]", ">= 1"),
        ("size: [20000, 10]\n" + KEYS, "1:8", "size[0]", "<= 16384"),
        ("fps: 0\n" + KEYS, "1:6", "fps", "> 0"),
        ("fps: 241\n" + KEYS, "1:6", "fps", "<= 240"),
        ("duration: .inf\n" + KEYS, "1:11", "duration", "finite"),
        ("seed: -1\n" + KEYS, "1:7", "seed", ">= 0"),
        ("seed: true\n" + KEYS, "1:7", "seed", "whole number"),
        ("version: 2\n" + KEYS, "1:10", "version", "unsupported version"),
        ("render: {device: gpu}\n" + KEYS, "1:18", "render.device", "unknown device"),
        ("render: {supersample: 5}\n" + KEYS, "1:23", "render.supersample", "<= 4"),
        ("output: {format: mov}\n" + KEYS, "1:18", "output.format", "unknown format"),
        ("trajectory: {keyframes: []}\n", "1:25", "trajectory.keyframes", "at least 1"),
        ("seed: 1\n", "1:1", "trajectory", "required"),
        ("trajectory: {loop: true}\n", "1:13", "trajectory.keyframes", "required"),
        ("trajectory: {interpolation: spline, keyframes: [{at: 0, z: random}]}\n", "1:29", "trajectory.interpolation", "unknown interpolation"),
        ("trajectory: {keyframes: [{at: 0, z: 7}]}\n", "1:37", "trajectory.keyframes[0].z", "random, {seed: N}"),
        ("trajectory: {keyframes: [{at: 0, z: randm}]}\n", "1:37", "trajectory.keyframes[0].z", "did you mean 'random'"),
        ("trajectory: {keyframes: [{at: 0, z: {sed: 1}}]}\n", "1:38", "trajectory.keyframes[0].z.sed", "did you mean 'seed'"),
        ("trajectory: {keyframes: [{at: 0, z: [1, 2, x]}]}\n", "1:44", "trajectory.keyframes[0].z[2]", "a number"),
        ("trajectory: {keyframes: [{at: 0, z: random, eas: linear}]}\n", "1:45", "trajectory.keyframes[0].eas", "did you mean 'ease'"),
        ("trajectory: {keyframes: [{at: 1, z: random}]}\n", "1:31", "trajectory.keyframes[0].at", "first keyframe must be at 0"),
        ("duration: 2\ntrajectory: {loop: true, keyframes: [{at: 0, z: random}, {at: 2, z: random}]}\n", "2:63", "trajectory.keyframes[1].at", "before duration"),
        ("trajectory: {keyframes: [{at: 0, z: random}, {at: -1, z: random}]}\n", "1:51", "trajectory.keyframes[1].at", ">= 0"),
        ("animate: {view.zom: [{at: 0, value: 1}]}\n" + KEYS, "1:11", "animate.view.zom", "did you mean 'view.zoom'"),
        ("animate: {view.zoom: [{at: 0, value: 0}]}\n" + KEYS, "1:38", "animate.view.zoom[0].value", "> 0"),
        ("animate: {view.center: [{at: 0, value: 3}]}\n" + KEYS, "1:40", "animate.view.center[0].value", "a list"),
        ("animate: {view.zoom: {keyframes: [{at: 0, value: 1}, {at: 9, value: 2}]}}\n" + KEYS, "1:59", "animate.view.zoom.keyframes[1].at", "past the end"),
        ("animate: {view.rotation: [{at: 0, value: 1, ease: bonce}]}\n" + KEYS, "1:51", "animate.view.rotation[0].ease", "unknown easing"),
        ("animate: {view.rotation: 5}\n" + KEYS, "1:26", "animate.view.rotation", "a track is"),
        ("a: 1\na: 2\n" + KEYS, "2:1", "a", "duplicate key 'a'"),
        ("seed: 1\nseed: 2\n" + KEYS, "2:1", "seed", "duplicate key 'seed' (first at line 1)"),
        ("seed: !!python/object/apply:os.system ['true']\n" + KEYS, "1:7", "seed", "tag"),
        ("seed: !custom 1\n" + KEYS, "1:7", "seed", "tag"),
        ("- 1\n- 2\n", "1:1", "", "must be a mapping"),
        ("", "1:1", "", "empty"),
        ("# only a comment\n", "1:1", "", "empty"),
        ("trajectory: {keyframes: [\n", "2:1", "", "YAML syntax"),
        ("seed: 1\n  bad indent: 2\n", "2:3", "", "indentation"),
    ],
)
def test_refusals_point_at_the_node(text, where, path, words):
    err = refuse(text)
    line, col = where.split(":")
    assert err.line == int(line), str(err)
    if col != "0":
        assert err.col == int(col), str(err)
    assert err.path == path, str(err)
    assert words in err.message, str(err)
    assert str(err).startswith(f"s.yaml:{err.line}:{err.col}: ")


def test_yaml_1_2_reading():
    s = scene.parse("duration: 1e1\nname: yes\n" + KEYS)
    assert s.duration == 10 and s.name == "yes"
    assert refuse("trajectory: {loop: yes, keyframes: [{at: 0, z: random}]}\n").path == "trajectory.loop"


def test_alias_bomb_is_refused_quickly(monkeypatch):
    """10^9 values once expanded: refused after at most MAX_NODES of them are built (counted, not timed)."""
    from cppn_anim import yamlread

    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    built, real = [0], yamlread._build

    def counted(*args):
        built[0] += 1
        assert built[0] <= yamlread.MAX_NODES + 1, "the expansion went on past the limit"  # fails at once, never hangs
        return real(*args)

    monkeypatch.setattr(yamlread, "_build", counted)
    err = refuse("\n".join(lines) + "\n" + KEYS)
    assert "alias" in err.message and len(str(err)) < 300
    assert yamlread.MAX_NODES < built[0] <= yamlread.MAX_NODES + 1


def test_long_values_are_never_printed_whole():
    err = refuse("network: {activation: " + "x" * 5000 + "}\n" + KEYS)
    assert len(str(err)) < 300


def test_overrides_apply_before_validation_and_are_blamed():
    s = scene.parse(KEYS, "s.yaml", [("network.activation", "sin"), ("view.zoom", 2), ("trajectory.keyframes[0].z", {"seed": 4})])
    assert s.network.activation == "sin" and s.view.zoom == 2 and s.trajectory.keyframes[0].z.seed == 4
    err = refuse(KEYS, [("network.depth", "deep")])
    assert str(err).startswith("s.yaml: --set network.depth=deep: network.depth:")
    s = scene.parse(KEYS, "s.yaml", [("animate.view.zoom", [{"at": 0, "value": 2}])])
    assert s.animate.tracks()["view.zoom"].keyframes[0].value == 2


def test_scene_files_carry_the_schema_line_and_validate(deaf_audio):
    schema = jsonschema.Draft202012Validator(json.loads((ROOT / "scenes" / "scene.schema.json").read_text()))  # checked once, not per file
    scenes = shipped_scenes()  # a user's own scene (the tutorial's) need not carry the schema line
    assert len(scenes) >= 3
    for path in scenes:
        assert path.read_text().startswith("# yaml-language-server: $schema=./scene.schema.json\n"), path
        core.load(path)  # a scene with audio (pulse) is heard: analysed here without librosa (deaf_audio)
        schema.validate(yaml.safe_load(path.read_text()))


def test_checked_in_schema_equals_the_command(capsys):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads((ROOT / "scenes" / "scene.schema.json").read_text())


def test_schema_rejects_what_the_validator_rejects():
    schema = scene.json_schema()
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"netwrok": {}, "trajectory": {"keyframes": [{"at": 0, "z": "random"}]}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"trajectory": {"keyframes": [{"at": 0, "z": "random", "ease": "in_out_cubc"}]}}, schema)
    jsonschema.validate({"trajectory": {"keyframes": [{"at": 0, "z": "random", "ease": "steps(3)"}]}}, schema)


def test_validate_many_files(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(KEYS)
    bad = tmp_path / "bad.yaml"
    bad.write_text("netwrok: {}\n" + KEYS)
    missing = tmp_path / "missing.yaml"
    r = cli_main("validate", good, bad, missing)
    assert r.returncode == 2
    assert r.stdout.strip() == f"{good}: ok"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{bad}:1:1: netwrok:") and lines[1].startswith(str(missing))
    assert "Traceback" not in r.stderr
    assert cli_main("validate", good).returncode == 0


@pytest.mark.parametrize(
    "text, where, path, words",
    [
        # keyframe times out of order, in the trajectory and in an animate track
        ("trajectory: {keyframes: [{at: 0, z: random}, {at: 2, z: random}, {at: 1, z: random}]}\n", "1:71", "trajectory.keyframes[2].at", "not after"),
        ("trajectory: {keyframes: [{at: 0, z: random}, {at: 0, z: random}]}\n", "1:51", "trajectory.keyframes[1].at", "not after"),
        ("animate: {view.zoom: [{at: 0, value: 1}, {at: 3, value: 2}, {at: 2, value: 1}]}\n" + KEYS, "1:66", "animate.view.zoom[2].at", "not after"),
        # a z list of the wrong length, too short and too long
        ("network: {latent_dim: 2}\ntrajectory: {keyframes: [{at: 0, z: [1, 2, 3]}]}\n", "2:37", "trajectory.keyframes[0].z", "latent_dim is 2"),
        ("network: {latent_dim: 4}\ntrajectory: {keyframes: [{at: 0, z: random}, {at: 1, z: [0.5]}]}\n", "2:57", "trajectory.keyframes[1].z", "latent_dim is 4"),
        # an input listed twice
        ("network: {inputs: [x, r, x]}\n" + KEYS, "1:26", "network.inputs[2]", "listed twice"),
        # a duration that makes no frame
        ("duration: 0.01\nfps: 10\n" + KEYS, "1:11", "duration", "no frame"),
        # YAML 1.2: `on` (like yes) is a string, not a boolean
        ("trajectory: {loop: on, keyframes: [{at: 0, z: random}]}\n", "1:20", "trajectory.loop", "'on'"),
    ],
)
def test_more_refusals_point_at_the_node(text, where, path, words):
    err = refuse(text)
    assert f"{err.line}:{err.col}" == where, str(err)
    assert err.path == path and words in err.message, str(err)


def test_on_is_read_as_a_string():
    """YAML 1.2 core schema: on/off/yes/no are plain strings (YAML 1.1 made them booleans)."""
    s = scene.parse("name: on\n" + KEYS)
    assert s.name == "on"
    s = scene.parse("name: off\nnetwork: {inputs: [x]}\n" + KEYS)
    assert s.name == "off"


def test_a_track_written_as_a_list_is_blamed_at_its_keyframe():
    """Found while adding the out-of-order cases: a list-form track's time error pointed at
    the whole list (1:22) with a key path that is not in the file (.keyframes)."""
    err = refuse("animate: {view.rotation: [{at: 0, value: 0}, {at: 9, value: 1}]}\n" + KEYS)
    assert (err.path, err.line, err.col) == ("animate.view.rotation[1].at", 1, 51) and "past the end" in err.message
    err = refuse("animate: {view.rotation: {keyframes: [{at: 0, value: 0}, {at: 9, value: 1}]}}\n" + KEYS)
    assert (err.path, err.line, err.col) == ("animate.view.rotation.keyframes[1].at", 1, 63)


def test_a_value_with_newlines_is_shown_on_one_line():
    """Found by the mutation property test: a quoted string with line breaks made a two-line error."""
    cases = {
        "seed: '\n\n  '\ntrajectory: {keyframes: [{at: 0, z: random}]}\n": "got '\\n'",  # YAML folds it to one newline
        "\"\\r\\tx\"\n": "not '\\r\\tx'",
    }
    for text, shown in cases.items():
        with pytest.raises(scene.SceneError) as caught:
            scene.parse(text, "m.yaml")
        message = str(caught.value)
        assert "\n" not in message and "\r" not in message and shown in message, message
