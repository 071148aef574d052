import numpy as np
import pytest

from cppn_anim import easing

U = np.linspace(0, 1, 2001)
ALL = sorted(easing.EASINGS)
OVERSHOOT = {"in_back", "out_back", "in_out_back", "in_elastic", "out_elastic", "in_out_elastic"}


@pytest.mark.parametrize("name", ALL + ["cubic_bezier(0.25, 0.1, 0.25, 1.0)", "cubic_bezier(0.3, -0.5, 0.7, 1.6)", "steps(4)"])
def test_ends_are_exact(name):
    f = easing.parse(name)
    assert f(0.0) == 0.0 or name == "step_start"
    assert f(1.0) == 1.0


def _public_easings():
    """Every public easing of the module: its functions, its EASINGS and what its factories return."""
    import inspect

    found = {name: f for name, f in easing.EASINGS.items()}
    for name, f in vars(easing).items():
        if name.startswith("_") or not callable(f) or getattr(f, "__module__", None) != easing.__name__:
            continue
        if name in ("parse", "cubic_bezier", "steps"):  # a parser and two factories, tried below
            continue
        if name in ("reach", "Reach"):  # what an easing reaches (tests/test_promises.py), not an easing
            continue
        assert len(inspect.signature(f).parameters) == 1, name  # anything else public must be an easing
        found[f"easing.{name}"] = f
    for n in (1, 3, 7):
        found[f"easing.steps({n})"] = easing.steps(n)
    for args in ((0.25, 0.1, 0.25, 1.0), (0.3, -0.5, 0.7, 1.6), (0, 0, 1, 1), (1, -2, 0, 3)):
        found[f"easing.cubic_bezier{args}"] = easing.cubic_bezier(*args)
    return found


def test_every_public_easing_maps_0_to_0_and_1_to_1():
    """The docstring's promise, for each function a user can reach, on floats and on arrays."""
    found = _public_easings()
    assert len(found) >= len(easing.EASINGS) + 20 + 7  # the names, the module's 21 functions (not the power family: private), the factories
    for name, f in found.items():
        if not name.endswith("step_start"):  # the contract: it jumps to 1 as soon as u > 0
            assert f(0.0) == 0.0, name
        assert f(1.0) == 1.0, name
        np.testing.assert_array_equal(f(np.array([0.0, 1.0]))[1:], [1.0], err_msg=name)
        if not name.endswith("step_start"):
            np.testing.assert_array_equal(f(np.array([0.0, 1.0])), [0.0, 1.0], err_msg=name)


def test_step_start_jumps_at_once_and_step_end_at_the_end():
    assert easing.parse("step_start")(0.0) == 0 and easing.parse("step_start")(1e-9) == 1
    assert easing.parse("step_end")(0.999) == 0 and easing.parse("step_end")(1.0) == 1


BOUNCE = {"in_bounce", "out_bounce", "in_out_bounce"}


@pytest.mark.parametrize("name", [n for n in ALL if n not in OVERSHOOT | BOUNCE])
def test_monotone_and_inside_unit_range(name):
    y = easing.parse(name)(U)
    assert np.all(np.diff(y) >= -1e-12), name
    assert y.min() >= 0 and y.max() <= 1


@pytest.mark.parametrize("name", sorted(BOUNCE))
def test_bounce_goes_back_and_forth_without_leaving_the_unit_range(name):
    y = easing.parse(name)(U)
    assert np.any(np.diff(y) < -1e-6)
    assert y.min() >= 0 and y.max() <= 1 + 1e-12


@pytest.mark.parametrize("name", sorted(OVERSHOOT))
def test_back_and_elastic_overshoot(name):
    y = easing.parse(name)(U)
    assert y.min() < -0.01 or y.max() > 1.01


def test_in_out_are_symmetric():
    for family in ["sine", "quad", "cubic", "quart", "quint", "expo", "circ", "back", "elastic", "bounce"]:
        f = easing.parse(f"in_out_{family}")
        np.testing.assert_allclose(f(U) + f(1 - U), 1, atol=1e-9, err_msg=family)


def test_known_values():
    assert easing.parse("in_quad")(0.5) == pytest.approx(0.25)
    assert easing.parse("out_cubic")(0.5) == pytest.approx(0.875)
    assert easing.parse("in_out_sine")(0.25) == pytest.approx((1 - np.cos(np.pi / 4)) / 2)
    assert easing.parse("out_bounce")(0.5) == pytest.approx(0.765625)


def test_cubic_bezier_matches_css():
    # CSS `ease` = cubic-bezier(0.25, 0.1, 0.25, 1); at x = 0.5 browsers give y ~ 0.8024
    assert easing.parse("cubic_bezier(0.25, 0.1, 0.25, 1)")(0.5) == pytest.approx(0.8024, abs=1e-3)
    # the diagonal control points are the identity
    np.testing.assert_allclose(easing.parse("cubic_bezier(0.3, 0.3, 0.7, 0.7)")(U), U, atol=1e-9)
    # y may leave [0, 1]
    assert easing.parse("cubic_bezier(0.3, -0.8, 0.7, 1.8)")(U).min() < 0


def test_steps_jump_at_the_end_of_each_step():
    f = easing.parse("steps(4)")
    assert [float(f(u)) for u in (0, 0.24, 0.25, 0.5, 0.99, 1)] == [0, 0, 0.25, 0.5, 0.75, 1]


@pytest.mark.parametrize(
    "name, hint",
    [("in_out_cubc", "in_out_cubic"), ("easeInOutCubic", "in_out_cubic"), ("ease-in-out", "in_out_sine"), ("linaer", "linear")],
)
def test_unknown_names_get_a_suggestion(name, hint):
    with pytest.raises(ValueError, match=f"did you mean '{hint}'"):
        easing.parse(name)


@pytest.mark.parametrize("name", ["cubic_bezier(1.5, 0, 0.5, 1)", "cubic_bezier(0.1, 0.2)", "steps(0)", "steps(x)"])
def test_malformed_parameters_are_refused(name):
    with pytest.raises(ValueError):
        easing.parse(name)
