"""Property tests: valid scenes validate; any mutation validates or is refused cleanly.

Through the full validation, as `validate` and every command run it (core.parse: the
schema, every rule across keys, every error of a file in file order)."""
import contextlib
import io
import re

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cppn_anim import activations, core, easing, scene
from cppn_anim.cli import main

EASES = sorted(easing.EASINGS) + ["cubic_bezier(0.2, -0.3, 0.8, 1.4)", "steps(3)"]
finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False)


@st.composite
def scenes(draw) -> dict:
    dim = draw(st.integers(1, 6))
    depth = draw(st.integers(1, 5))
    duration = draw(st.floats(0.5, 10))
    loop = draw(st.booleans())
    count = draw(st.integers(1, 4))
    limit = duration * (0.99 if loop else 1.0)
    times = sorted(set([0.0] + [round(draw(st.floats(0.01, limit)), 3) for _ in range(count - 1)]))
    times = [t for t in times if t == 0 or (t < duration if loop else t <= duration)]
    z = st.one_of(st.just("random"), st.builds(lambda n: {"seed": n}, st.integers(0, 1000)), st.lists(finite, min_size=dim, max_size=dim))
    keyframes = []
    for t in times:
        key = {"at": t, "z": draw(z)}
        if draw(st.booleans()):
            key["ease"] = draw(st.sampled_from(EASES))
        keyframes.append(key)
    activation = draw(st.one_of(st.sampled_from(activations.NAMES), st.lists(st.sampled_from(activations.NAMES), min_size=depth, max_size=depth)))
    data = {
        "seed": draw(st.integers(0, 2**64 - 1)),
        "duration": duration,
        "fps": draw(st.sampled_from([1, 12, 24, 30, 60, 29.97])),
        "size": [draw(st.integers(1, 4000)), draw(st.integers(1, 4000))],
        "network": {"latent_dim": dim, "depth": depth, "width": draw(st.integers(1, 64)), "activation": activation, "color": draw(st.sampled_from(["rgb", "gray", "hsv"]))},
        "view": {"zoom": draw(st.floats(0.1, 5)), "rotation": draw(finite), "center": [draw(finite), draw(finite)]},
        "trajectory": {"interpolation": draw(st.sampled_from(["step", "linear", "slerp", "cubic"])), "loop": loop, "keyframes": keyframes},
    }
    if draw(st.booleans()):
        data["animate"] = {"view.zoom": [{"at": 0, "value": 1.0}, {"at": round(duration * 0.5, 3), "value": 2.0, "ease": draw(st.sampled_from(EASES))}]}
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_generated_valid_scenes_validate(data):
    core.parse(yaml.safe_dump(data, sort_keys=False))


JUNK = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12), st.lists(st.integers(), max_size=3), st.just({"x": 1}))


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _replace(node, path, value):
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {k: (_replace(v, rest, value) if k == head else v) for k, v in node.items()}
    return [(_replace(v, rest, value) if i == head else v) for i, v in enumerate(node)]


@st.composite
def mutated_texts(draw) -> str:
    data = draw(scenes())
    kind = draw(st.sampled_from(["value", "key", "text"]))
    if kind == "value":
        paths = list(_paths(data))
        data = _replace(data, draw(st.sampled_from(paths)), draw(JUNK))
        return yaml.safe_dump(data, sort_keys=False)
    if kind == "key":
        paths = [p for p in _paths(data) if p and isinstance(p[-1], str)]
        path = draw(st.sampled_from(paths))
        parent = _get(data, path[:-1])
        parent[path[-1] + draw(st.sampled_from(["x", "_", "s"]))] = parent.pop(path[-1])
        return yaml.safe_dump(data, sort_keys=False)
    text = yaml.safe_dump(data, sort_keys=False)
    pos = draw(st.integers(0, max(0, len(text) - 1)))
    return text[:pos] + draw(st.sampled_from(["", ":", "[", "{", "- ", "\t", "&a ", "*b", "!!python/name:os.system ", "'"])) + text[pos + 1 :]


def _get(node, path):
    for step in path:
        node = node[step]
    return node


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_texts())
def test_mutations_validate_or_are_refused_with_a_location(text):
    try:
        core.parse(text, "m.yaml")
    except scene.SceneError as e:
        assert e.errors[0] is e and len(e.errors) >= 1
        for error in e.errors:  # every one: located, one line, in file order
            assert re.match(r"m\.yaml:\d+:\d+: ", str(error)), str(error)
            assert str(error).isprintable(), str(error)
        assert [(x.line, x.col) for x in e.errors] == sorted((x.line, x.col) for x in e.errors)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(mutated_texts())
def test_mutations_through_the_command_exit_0_or_2(tmp_path, text):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["validate", str(path)])
    assert code in (0, 2)
    if code == 2:  # one line per error, each located, in file order
        lines = err.getvalue().splitlines()
        assert lines and err.getvalue().count("\n") == len(lines)
        where = [re.match(re.escape(str(path)) + r":(\d+):(\d+): ", line) for line in lines]
        assert all(where), lines
        assert [(int(m[1]), int(m[2])) for m in where] == sorted((int(m[1]), int(m[2])) for m in where)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_the_resolved_scene_reads_back_as_the_same_scene(data):
    """Workers of a segmented render get the resolved YAML: it must mean exactly the same scene."""
    original = core.parse(yaml.safe_dump(data, sort_keys=False), default_name="gen")
    again = core.parse(original.resolved_yaml())
    assert again.model_dump() == original.model_dump()
