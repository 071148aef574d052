"""Read YAML as YAML 1.2 reads it, keeping where every node starts.

ruamel.yaml composes the node tree (YAML 1.2 resolution: `1e3` is a number, `yes`
is text); we build plain Python values from it ourselves so that we can refuse
what a scene never needs: duplicate keys, tags that construct objects, and
aliases that expand into huge documents. Positions are 1-based (line, column).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

Path = tuple  # of str keys and int indices

MAX_NODES = 100_000  # far above any real scene, far below an alias bomb
MAX_DEPTH = 64
_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")}


class YamlProblem(Exception):
    """Bad YAML at (line, col); `path` is the key path of the node, where known."""

    def __init__(self, line: int, col: int, message: str, path: Path = ()):
        super().__init__(message)
        self.line, self.col, self.message, self.path = line, col, message, path


@dataclass
class Document:
    data: object
    values: dict = field(default_factory=dict)  # path -> (line, col) of the value node
    keys: dict = field(default_factory=dict)  # path -> (line, col) of its key in the parent mapping


def _pos(node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def read(text: str) -> Document:
    """Parse one YAML document; raise YamlProblem for anything a scene may not contain."""
    yaml = YAML(typ="rt")
    yaml.version = (1, 2)
    try:
        root = yaml.compose(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        what = (e.problem or e.context or "cannot parse").strip()
        if mark is None:
            raise YamlProblem(1, 1, f"YAML syntax: {what}") from None
        raise YamlProblem(mark.line + 1, mark.column + 1, f"YAML syntax: {what}") from None
    except YAMLError as e:
        raise YamlProblem(1, 1, f"YAML syntax: {str(e).splitlines()[0]}") from None
    doc = Document(data=None)
    if root is None:
        return doc
    budget = [MAX_NODES]
    doc.data = _build(root, (), doc, budget, 0)
    return doc


def _build(node, path: Path, doc: Document, budget: list, depth: int):
    budget[0] -= 1
    if budget[0] < 0:
        raise YamlProblem(*_pos(node), f"more than {MAX_NODES} values once aliases are expanded (an alias bomb?)", path)
    if depth > MAX_DEPTH:
        raise YamlProblem(*_pos(node), f"nested more than {MAX_DEPTH} levels deep (a recursive alias?)", path)
    tag = node.tag if isinstance(node.tag, str) else getattr(node.tag, "value", str(node.tag))
    if tag not in _ALLOWED_TAGS:
        raise YamlProblem(*_pos(node), f"tag '{tag.replace(_CORE, '!!')}' is not allowed: a scene holds only plain values", path)
    doc.values.setdefault(path, _pos(node))
    if isinstance(node, ScalarNode):
        return _scalar(node, tag, path)
    if isinstance(node, SequenceNode):
        return [_build(item, path + (i,), doc, budget, depth + 1) for i, item in enumerate(node.value)]
    if isinstance(node, MappingNode):
        out: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise YamlProblem(*_pos(key_node), "a key must be plain text", path)
            key = key_node.value
            if key in out:
                first = doc.keys[path + (key,)]
                raise YamlProblem(*_pos(key_node), f"duplicate key '{key}' (first at line {first[0]})", path + (key,))
            doc.keys[path + (key,)] = _pos(key_node)
            out[key] = _build(value_node, path + (key,), doc, budget, depth + 1)
        return out
    raise YamlProblem(*_pos(node), "unsupported YAML node", path)


def _scalar(node: ScalarNode, tag: str, path: Path):
    text = node.value
    kind = tag[len(_CORE):]
    try:
        if kind == "null":
            return None
        if kind == "bool":
            return text.lower() == "true"
        if kind == "int":
            digits = text.replace("_", "")
            sign = -1 if digits.startswith("-") else 1
            body = digits.lstrip("+-")
            if body[:2] in ("0o", "0x"):
                return sign * int(body[2:], 8 if body[1] == "o" else 16)
            return int(digits, 10)
        if kind == "float":
            low = text.lower().replace("_", "")
            if low.lstrip("+-") == ".inf":
                return float("-inf") if low.startswith("-") else float("inf")
            if low == ".nan":
                return float("nan")
            return float(low)
    except ValueError:
        raise YamlProblem(*_pos(node), f"cannot read '{text[:40]}' as {kind}", path) from None
    return text  # str, and timestamps: a scene has no dates, so they stay text
