"""Bad input is one line, exit 2, never a traceback: files, nesting, overrides, addresses, YAML 1.2, indentation."""
import os
import random
import re

import pytest

from cppn_anim import distribute, scene, yamlread
from cppn_anim.cli import main

from conftest import ROOT, run_cli

KEYS = "trajectory:\n  keyframes:\n    - {at: 0, z: random}\n"
ONE_LINE = re.compile(r"^s\.yaml(:\d+:\d+)?: \S[^\n]*$")


def refuse(text: str, overrides=()) -> scene.SceneError:
    with pytest.raises(scene.SceneError) as info:
        scene.parse(text, "s.yaml", overrides)
    assert ONE_LINE.match(str(info.value)), str(info.value)
    return info.value


def one_error_line(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err.strip()


# ---------------------------------------------------------------- item 7: --set, nesting, size, special files, --scheduler


def test_set_past_the_end_of_a_list_says_there_is_no_such_keyframe(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("duration: 2\n" + KEYS)
    err = one_error_line(capsys, ["validate", str(path), "--set", "trajectory.keyframes[5].at=1"])
    assert "there is no keyframe 5" in err and "has 1 item" in err
    err = one_error_line(capsys, ["validate", str(path), "--set", "trajectory.keyframes[0][1]=1"])
    assert "is a mapping, not a list" in err
    err = one_error_line(capsys, ["validate", str(path), "--set", "animate.view.zoom[0].at=1"])
    assert "animate.view.zoom is not in the scene" in err


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 600 + "]" * 600 + "\n",
        "a: " + "{b: " * 600 + "1" + "}" * 600 + "\n",
        "".join("  " * i + "a:\n" for i in range(600)),
        "- " * 600 + "x\n",
    ],
    ids=["flow lists", "flow mappings", "block mappings", "compact lists"],
)
def test_a_scene_nested_600_deep_is_refused_with_a_depth_limit(text):
    err = refuse(text)
    assert err.line is not None and f"nested more than {yamlread.MAX_DEPTH} levels" in err.message


def test_a_scene_file_over_the_size_limit_is_refused_by_size(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(KEYS + "# padding\n" * (scene.MAX_FILE_BYTES // 10 + 1))  # valid YAML, just too big
    err = one_error_line(capsys, ["validate", str(path)])
    assert err.startswith(f"{path}: ") and "too large for a scene file" in err and "alias" not in err


def test_a_scene_with_too_many_values_is_refused_as_such_not_as_an_alias_bomb(monkeypatch):
    monkeypatch.setattr(yamlread, "MAX_NODES", 1000)  # the same path as 100 000, fast
    err = refuse("a:\n" + "- 1\n" * 1010)
    assert "values in one file" in err.message and "alias" not in err.message


def test_special_files_are_refused_at_once(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    result = run_cli("validate", "/dev/zero", fifo, folder, timeout=60)  # a read of any of them would hang or fail
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "/dev/zero: not a scene file but a character device (give a .yaml file)",
        f"{fifo}: not a scene file but a FIFO (named pipe) (give a .yaml file)",
        f"{folder}: not a scene file but a directory (give a .yaml file)",
    ]


@pytest.mark.parametrize("address", ["notaurl", "tcp://10.0.0.5", "tcp://host:99999", "foo://host:8786", "tcp://a b:1", ""])
def test_scheduler_address_is_checked_up_front(tmp_path, capsys, address):
    path = tmp_path / "s.yaml"
    path.write_text(KEYS)
    out = tmp_path / "new" / "x.mp4"
    err = one_error_line(capsys, ["render", str(path), "--scheduler", address, "-o", str(out)])
    assert "--scheduler" in err and "tcp://" in err
    assert not out.parent.exists()


@pytest.mark.parametrize("address", ["tcp://10.0.0.5:8786", "10.0.0.5:8786", "tls://sched.example.org:8786", "tcp://[::1]:8786", "localhost:1"])
def test_scheduler_addresses_dask_reads_are_accepted(address):
    assert distribute.scheduler_address(address) == address


# ---------------------------------------------------------------- item 12: YAML 1.2 core schema


@pytest.mark.parametrize(
    "written, value",
    [
        ("1_000", "1_000"), ("0b101", "0b101"), ("6000_5000", "6000_5000"), ("+0o17", "+0o17"), ("-0x1F", "-0x1F"),
        ("0o17", 15), ("017", 17), ("0x1F", 31), ("+12", 12), ("-0", 0),
        ("1e3", 1000.0), ("1.", 1.0), (".5", 0.5), ("-.5", -0.5), (".1e1", 1.0), ("1E+3", 1000.0),
        ("~", None), ("null", None), ("Null", None), ("NULL", None), ("", None),
        ("true", True), ("True", True), ("TRUE", True), ("false", False), ("FALSE", False), ("tRUE", "tRUE"),
        ("yes", "yes"), ("no", "no"), ("on", "on"), ("off", "off"), ("y", "y"), ("2001-12-14", "2001-12-14"), ("<<", "<<"),
        ("'12'", "12"), ("!!str 12", "12"), ("!!float 3", 3.0),
    ],
)  # fmt: skip
def test_plain_scalars_resolve_by_the_yaml_1_2_core_schema(written, value):
    assert yamlread.read(f"v: {written}\n").data["v"] == value
    assert type(yamlread.read(f"v: {written}\n").data["v"]) is type(value)


@pytest.mark.parametrize("written, kind", [(".inf", 1), ("+.Inf", 1), ("-.INF", -1), (".nan", 0), (".NaN", 0), (".NAN", 0)])
def test_infinity_and_nan_spellings_of_the_core_schema(written, kind):
    v = yamlread.read(f"v: {written}\n").data["v"]
    assert (v != v) if kind == 0 else v == kind * float("inf")


@pytest.mark.parametrize("written", ["-.nan", ".iNf", "1__0", "0x", "1e"])
def test_near_misses_of_numbers_are_text(written):
    assert yamlread.read(f"v: {written}\n").data["v"] == written


@pytest.mark.parametrize("written", ["!!int 1_000", "!!int 0b101", "!!bool yes", "!!float infinity", "!!null x"])
def test_an_explicit_tag_must_fit_the_core_schema_too(written):
    with pytest.raises(yamlread.YamlProblem, match="YAML 1.2 core schema"):
        yamlread.read(f"v: {written}\n")


def test_underscored_numbers_are_text_so_name_6000_5000_is_valid_and_seed_1_000_is_not():
    assert scene.parse("name: 6000_5000\n" + KEYS).name == "6000_5000"
    err = refuse("seed: 1_000\n" + KEYS)
    assert (err.line, err.col, err.path) == (1, 7, "seed") and "expected a whole number, got '1_000'" in err.message


@pytest.mark.parametrize(
    "text",
    ["fps: 10\t# note\n", "fps:\t10\n", "fps: 10\t\n", "fps: 10\n\t# a comment line\n", "fps: 10\n\t\n", "size:\n  -\t64\n  - 48\n", "size: [64,\t48]\n"],
)
def test_tabs_as_separation_load_as_in_yaml_1_2(text):
    data = yamlread.read(text).data
    assert data.get("fps", 10) == 10 and data.get("size", [64, 48]) == [64, 48]


# ---------------------------------------------------------------- item 11: misindented lines


@pytest.mark.parametrize(
    "text, line",
    [
        ("network:\n  width: 8\n    depth: 3\n", 3),  # a key deeper than its siblings
        ("network:\n    width: 8\n  depth: 3\n", 3),  # shallower than its siblings, deeper than the parent
        ("seed: 1\n  fps: 10\n", 2),
        ("  seed: 1\nfps: 10\n", 2),
        ("trajectory:\n  keyframes:\n    - at: 0\n      z: random\n     - at: 1\n       z: random\n", 5),  # a list item misaligned
        ("trajectory:\n  keyframes:\n    - at: 0\n      z: random\n   - at: 1\n     z: random\n", 5),
        ("trajectory:\n  keyframes:\n    - at: 0\n       z: random\n", 4),  # an item's key misaligned
        ("trajectory:\n  keyframes:\n    - at: 0\n     z: random\n", 4),
        ("trajectory:\n  keyframes:\n    - at: 0\n    z: random\n", 4),  # a key under the '-' instead of the item's keys
        ("network:\n  inputs:\n  - x\n - y\n", 4),
        ("network:\n\twidth: 8\n", 2),  # tabs used for indentation
        ("network:\n  width: 8\n\tdepth: 3\n", 3),
    ],
)
def test_a_misindented_line_gets_an_error_that_says_indentation(text, line):
    err = refuse(text + KEYS)
    assert err.line == line and "indentation" in err.message, str(err)
    assert "mapping values are not allowed" not in err.message and "block end" not in err.message


@pytest.mark.parametrize(
    "text, line, path, home",
    [
        ("network:\n  width: 8\ndepth: 3\n" + KEYS, 3, "depth", "network"),
        ("view:\n  zoom: 2\n  fps: 10\n" + KEYS, 3, "view.fps", "the scene's top level"),
        ("trajectory:\n  keyframes:\n    - at: 0\n  z: random\n", 4, "trajectory.z", "trajectory.keyframes"),
    ],
)
def test_a_key_indented_into_the_wrong_mapping_says_where_it_belongs(text, line, path, home):
    err = refuse(text)
    assert (err.line, err.path) == (line, path) and f"is a key of {home}: check the indentation" in err.message, str(err)


def test_a_well_indented_multiline_text_is_not_taken_for_a_misindent():
    assert scene.parse("name: a long\n  name\n" + KEYS).name == "a long name"


# ---------------------------------------------------------------- issue 14: the first wrong keyframe, whole unions


def test_the_first_wrong_keyframe_is_reported_past_the_end_before_a_later_out_of_order_one():
    text = "duration: 2\ntrajectory:\n  keyframes:\n    - {at: 0, z: random}\n    - {at: 3, z: random}\n    - {at: 1, z: random}\n"
    err = refuse(text)
    assert (err.line, err.path) == (5, "trajectory.keyframes[1].at") and "at 3 is past the end (duration 2)" in err.message
    err = refuse(text.replace("trajectory:\n", "trajectory:\n  loop: true\n"))
    assert err.path == "trajectory.keyframes[1].at" and "not before duration 2" in err.message
    track = "animate:\n  view.zoom:\n    - {at: 0, value: 1}\n    - {at: 3, value: 2}\n    - {at: 1, value: 1}\n"
    err = refuse("duration: 2\n" + KEYS + track)
    assert (err.line, err.path) == (8, "animate.view.zoom[1].at") and "past the end" in err.message


@pytest.mark.parametrize("z", ["'1,2,3'", "'[1, 2]'", "seed 3", "'{seed: 3}'"])
def test_z_as_text_says_every_form_z_can_take(z):
    err = refuse(f"trajectory:\n  keyframes:\n    - at: 0\n      z: {z}\n")
    assert err.path == "trajectory.keyframes[0].z"
    assert "z must be random, {seed: N} or a list of latent_dim numbers" in err.message, str(err)


def test_a_near_miss_of_random_still_gets_did_you_mean():
    assert "did you mean 'random'" in refuse("trajectory:\n  keyframes:\n    - {at: 0, z: randon}\n").message


# ---------------------------------------------------------------- every refusal: FILE:LINE:COL or FILE:, one line


def test_mangled_scenes_are_refused_in_one_line_or_load():
    """A little fuzzing: random edits of a real scene either load or give one FILE:LINE:COL line."""
    base = (ROOT / "scenes" / "spiral.yaml").read_text()
    rng = random.Random(10)
    pieces = [" ", "  ", "\t", ":", "- ", "[", "]", "{", "}", ",", "#", "'", '"', "&a ", "*a", "!!", "\n", "1_000", ".inf",
              "yes", "~", "? ", "|", ">", "%", "\x00", "\ufeff", "\r", "---\n", "<<: *a\n", "!!python/object:os.system "]  # fmt: skip
    for _ in range(150):
        text = base
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(text) + 1)
            roll = rng.random()
            if roll < 0.4:
                text = text[:i] + rng.choice(pieces) + text[i:]
            elif roll < 0.7:
                text = text[:i] + text[i + rng.randint(1, 5) :]
            else:
                lines = text.split("\n")
                k = rng.randrange(len(lines))
                lines[k] = " " * rng.randint(0, 6) + lines[k].lstrip()
                text = "\n".join(lines)
        try:
            scene.parse(text, "s.yaml")
        except scene.SceneError as e:
            assert ONE_LINE.match(str(e)), repr(str(e))


def test_an_unknown_activation_names_the_names_and_the_list_form():
    err = refuse("network: {activation: foo}\n" + KEYS)
    assert "one of tanh, sin" in err.message and "or a list of `depth` names" in err.message, str(err)


@pytest.mark.parametrize("text, where", [
    ("seed:\nduration: 8\n" + KEYS, "1:1: seed:"),                                   # block, at the end of its line
    ("network:\n  depth:\n  width: 8\n" + KEYS, "2:3: network.depth:"),              # nested block
    ("network: {depth: , width: 8}\n" + KEYS, "1:11: network.depth:"),              # flow
    (KEYS + "seed:", "4:1: seed:"),                                                  # the last line of the file
])  # fmt: skip
def test_an_empty_value_is_blamed_at_its_key_not_on_the_next_line(text, where):
    """An empty value has no text of its own (YAML marks it at the next token, often the next
    line): the error points at its key."""
    err = str(refuse(text))
    assert err.startswith(f"s.yaml:{where}") and "got nothing" in err, err


@pytest.mark.parametrize("written, says", [('""', "the name is empty"), ('"a/b"', "a name is plain text without slashes")])
def test_an_empty_name_is_called_empty(written, says):
    with pytest.raises(scene.SceneError) as e:
        scene.parse(f"name: {written}\ntrajectory: {{keyframes: [{{at: 0, z: random}}]}}\n", "s.yaml")
    assert str(e.value).startswith(f"s.yaml:1:7: name: {says}")
