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
