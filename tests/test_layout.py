"""The package's layout, read from its code with `ast`: every import (function-level and
type-only ones included) forms no cycle and follows the pipeline one way, and no module but
an entry point changes process-wide state (threads, environment, signals, warning filters,
logging). Each module's docstring says what it owns."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cppn_anim"
MODULES = {p.stem: ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.glob("*.py"))}
ENTRY_SUFFIXES = ("cli", "__main__", "main", "studio", "server", "worker", "workers", "entry")

# The stages, in the order data flows: a module imports only modules before it.
ORDER = [
    "version", "errors", "report", "activations", "yamlread", "easing", "tracks", "seeding", "palettes",
    "fonts", "scene_errors", "scene", "targets", "signals", "signals_plot", "trajectory", "network", "cpu_fused",
    "render", "bands", "fused", "resources",
    "ffmpeg", "gif", "encode", "distribute", "core", "sheet", "gallery",
    "explore", "previews", "watch", "bench", "api", "yamledit", "studio_session",
    "entry", "dask_worker", "studio_server", "cli", "__main__", "__init__",
]  # fmt: skip


def is_entry(name: str) -> bool:
    return name.endswith(ENTRY_SUFFIXES)


def imports(name: str) -> set[str]:
    """The package's modules that `name` imports anywhere: at the top, in a function, under TYPE_CHECKING."""
    found = set()
    for node in ast.walk(MODULES[name]):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and not (node.module or "").startswith("cppn_anim"):
                continue
            base = (node.module or "") if node.level else node.module.removeprefix("cppn_anim").lstrip(".")
            if base:
                found.add(base.split(".")[0])
            else:  # from . import a, b: modules, or names of the package itself
                found |= {a.name if a.name in MODULES else "__init__" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("cppn_anim.")}
    return found - {name}


def test_every_module_is_placed_in_the_data_flow():
    assert sorted(MODULES) == sorted(ORDER)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph (its nodes in order, the first again at the end), or None."""
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = "open"
        for other in sorted(graph.get(name, ())):
            if state.get(other) == "open":
                return path[path.index(other):] + [name, other] if other in path else [name, other]
            if other not in state:
                found = visit(other, path + [name])
                if found:
                    return found
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state:
            found = visit(name, [])
            if found:
                return found
    return None


def test_imports_form_no_cycle_lazy_and_type_only_ones_included():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the check itself
    assert find_cycle({name: imports(name) for name in MODULES}) is None


def test_data_flows_one_way():
    """A stage never imports a later one (the pipeline's order: ORDER)."""
    late = {name: [other for other in imports(name) if ORDER.index(other) > ORDER.index(name)] for name in MODULES}
    assert {name: later for name, later in late.items() if later} == {}


def test_distribute_receives_what_it_runs():
    assert "core" not in imports("distribute")


# ------------------------------------------------------------------ process-wide state


def _dotted(node) -> str:
    """`a.b.c` for an attribute chain or a name; '' otherwise."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    if isinstance(node, ast.Call):  # logging.getLogger(x).setLevel: the call's own name, then the rest
        return ".".join([_dotted(node.func) + "()"] + list(reversed(parts)))
    return ""


CALLS = {  # what changes process-wide state, by the last part(s) of its name
    "set_num_threads": "torch's threads", "set_num_interop_threads": "torch's threads",
    "signal.signal": "a signal handler", "signal.pthread_sigmask": "the signal mask", "signal.siginterrupt": "a signal",
    "signal.set_wakeup_fd": "a signal",
    "warnings.simplefilter": "a warning filter", "warnings.filterwarnings": "a warning filter", "warnings.resetwarnings": "warning filters",
    "warnings.catch_warnings": "warning filters, for a while (not thread-safe)",
    "logging.basicConfig": "logging", "logging.disable": "logging", "setLevel": "a logger's level",
    "addHandler": "a logger's handlers", "removeHandler": "a logger's handlers",
    "os.putenv": "the environment", "os.unsetenv": "the environment", "os.chdir": "the working folder", "os.umask": "the umask",
    "environ.setdefault": "the environment", "environ.update": "the environment", "environ.pop": "the environment",
    "environ.popitem": "the environment", "environ.clear": "the environment", "environ.__setitem__": "the environment",
    "sys.setrecursionlimit": "the interpreter", "sys.setswitchinterval": "the interpreter", "resource.setrlimit": "a resource limit",
    "threadpool_limits": "BLAS threads", "limit": "BLAS threads (threadpoolctl)", "torch.set_default_dtype": "torch's defaults",
}  # fmt: skip
ATTRIBUTES = {"warnings.showwarning", "warnings.formatwarning", "handlers", "propagate", "os.environ", "environ"}  # assigned
IMPORTS = {"threadpoolctl": "BLAS thread limits"}


def changes_to_the_process(name: str) -> list[str]:
    found = []
    for node in ast.walk(MODULES[name]):
        where = f"{name}.py:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Call):
            called = _dotted(node.func)
            for key, what in CALLS.items():
                if called == key or called.endswith("." + key):
                    found.append(f"{where}: {called}(): {what}")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, ast.Subscript) and _dotted(part.value).endswith("environ"):
                        found.append(f"{where}: os.environ[...] changed")
                    elif isinstance(part, ast.Attribute):
                        full = _dotted(part)
                        if full in ATTRIBUTES or part.attr in ("handlers", "propagate") or full.endswith(("warnings.showwarning", "os.environ")):
                            found.append(f"{where}: {full} assigned")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"{where}: imports {m} ({IMPORTS[m.split('.')[0]]})" for m in modules if m.split(".")[0] in IMPORTS]
    return found


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not is_entry(n)))
def test_only_entry_points_change_the_process(name):
    """Threads (torch, BLAS), environment variables, signal handlers, warning filters and
    logging are set by the entry points only (cli, studio_server, dask_worker, entry)."""
    assert changes_to_the_process(name) == []


def test_the_checks_see_what_they_look_for():
    """The entry points do change the process: the checks above would see it elsewhere."""
    seen = "\n".join(line for name in ("entry", "studio_server", "dask_worker") for line in changes_to_the_process(name))
    for what in ("set_num_threads", "signal.signal", "setLevel", "filterwarnings", "catch_warnings", "os.environ", "threadpoolctl", "handlers assigned"):
        assert what in seen, what


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_says_what_it_owns(name):
    doc = ast.get_docstring(MODULES[name])
    assert doc and len(doc.split()) >= 5, name
    if is_entry(name) and name not in ("__main__", "entry"):
        assert doc.startswith("Entry point"), name


# ------------------------------------------------------------------ the activation table

ACTIVATION_OWNERS = {"activations"}  # the table itself
# the scene format's defaults name activations as values: the style defaults' table, the
# `activation` and `output` keys' defaults (scene.Network)
FORMAT_DEFAULTS = {("scene", "STYLE_DEFAULTS"), ("scene", "activation"), ("scene", "output")}


def named_activations(name: str) -> list[str]:
    """Where module `name` names an activation or an output activation as a string ('tanh', 'sin', ...),
    outside the assignments FORMAT_DEFAULTS allows."""
    from cppn_anim import activations

    names = set(activations.NAMES) | set(activations.OUTPUT_NAMES)
    allowed: set[int] = set()
    for node in ast.walk(MODULES[name]):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and (name, t.id) in FORMAT_DEFAULTS for t in targets):
            allowed |= {id(n) for n in ast.walk(node)}
    return [f"{name}.py:{node.lineno}: {node.value!r}" for node in ast.walk(MODULES[name])
            if isinstance(node, ast.Constant) and node.value in names and id(node) not in allowed]  # fmt: skip


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n not in ACTIVATION_OWNERS))
def test_no_module_but_the_table_names_an_activation(name):
    """Every activation's functions (numpy reference, torch, the fused kernels' llvm and triton
    bodies, its fold and period) are in activations.py: the renderers and kernels look them up
    by the names the network carries, so adding an activation touches no other module."""
    assert named_activations(name) == []


def test_the_activation_check_sees_what_it_looks_for():
    assert len(named_activations("activations")) >= 9


def test_every_activation_has_a_body_for_every_backend():
    from cppn_anim import activations

    for a in activations.TABLE.values():
        assert callable(a.numpy) and callable(a.torch) and callable(a.llvm) and callable(a.triton), a.name
        assert a.fold is None or a.fold.via in activations.TABLE
    for o in activations.OUTPUTS.values():
        assert callable(o.numpy) and callable(o.torch) and callable(o.llvm) and callable(o.triton), o.name
    assert {a.name for a in activations.TABLE.values() if a.period} == {"sin", "cos"}
