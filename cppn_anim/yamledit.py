"""YAML text editing: set one value at a key path in a scene's text, leaving comments and layout as they are.

The studio's sliders write here (`set_key`): an existing plain value is replaced where it
stands; a missing key is added as the first key of its mapping (block or flow style),
with missing parents made around it.
"""
from __future__ import annotations

from typing import Any


def set_key(text: str, key: str, value: Any) -> str:
    """The YAML text with one value set at a dotted key path; comments and layout untouched.

    An existing plain value is replaced where it stands; a missing key is added as the
    first key of its mapping (block or flow style), with missing parents made around it.
    ValueError when the text is not YAML or the path runs through a non-mapping.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.nodes import MappingNode, ScalarNode

    steps = key.split(".")
    literal = _literal(value)
    yaml = YAML(typ="rt")
    yaml.version = (1, 2)
    try:
        node = yaml.compose(text)
    except YAMLError:
        raise ValueError("fix the YAML first") from None
    if node is None:
        return text + ("\n" if text and not text.endswith("\n") else "") + _block(steps, literal, 0)
    for depth, step in enumerate(steps):
        if not isinstance(node, MappingNode):
            raise ValueError(f"{'.'.join(steps[:depth]) or 'the scene'} is not a mapping")
        child = next((v for k, v in node.value if isinstance(k, ScalarNode) and k.value == step), None)
        if child is None:
            return _insert(text, node, steps[depth:], literal)
        node = child
    if not isinstance(node, ScalarNode):
        raise ValueError(f"{key} holds a {'list' if node.id == 'sequence' else 'mapping'}, not one value")
    a, b = node.start_mark.index, node.end_mark.index
    return text[:a] + literal + text[b:]


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = f"{float(value):.6g}"
    return text if any(c in text for c in ".en") else text + ".0"  # stays a float when read back


def _block(steps: list, literal: str, indent: int) -> str:
    lines = [" " * (indent + 2 * i) + f"{step}:" for i, step in enumerate(steps[:-1])]
    lines.append(" " * (indent + 2 * (len(steps) - 1)) + f"{steps[-1]}: {literal}")
    return "\n".join(lines) + "\n"


def _insert(text: str, mapping, steps: list, literal: str) -> str:
    if mapping.flow_style:
        inner = literal
        for step in reversed(steps[1:]):
            inner = f"{{{step}: {inner}}}"
        at = mapping.start_mark.index + 1  # just after '{'
        return text[:at] + f"{steps[0]}: {inner}" + (", " if mapping.value else "") + text[at:]
    first = mapping.value[0][0].start_mark
    line_start = first.index - first.column
    if text[line_start : first.index].strip():  # the mapping starts after '- ' on its line
        raise ValueError(f"cannot add {'.'.join(steps)} here; write it in the editor")
    return text[:line_start] + _block(steps, literal, first.column) + text[line_start:]
