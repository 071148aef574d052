"""How a refused scene is said: one SceneError, one line, at the node that is wrong.

    FILE:LINE:COL: key.path: what is wrong (a suggestion)

scene.py validates; this module turns what failed (pydantic's errors, or a rule across
keys) into that line: where in the file (or which --set override), which key path, and
the message in our words, with "did you mean" from the format's own keys (KeyTable, read
from the model's JSON Schema). Values are shown short, never whole; the line they end up
in escapes control characters (SceneError's str(): errors.one_line).
"""
from __future__ import annotations

import difflib
import re
from typing import Any, Mapping

from pydantic import ValidationError

from .errors import SceneError


class KeyTable:
    """The keys of every mapping of the format, read from the model's JSON Schema: what may
    be written at a key path (`known`), and where a key belongs (`homes`)."""

    def __init__(self, schema: dict):
        self.schema, self.defs = schema, schema.get("$defs", {})

    def _alternatives(self, node: dict) -> list[dict]:
        """node with $ref followed and anyOf / oneOf / allOf spread out, in order."""
        if "$ref" in node:
            return self._alternatives(self.defs[node["$ref"].rsplit("/", 1)[-1]])
        parts = [alt for key in ("anyOf", "oneOf", "allOf") for alt in node.get(key, [])]
        if not parts:
            return [node]
        return [found for part in parts for found in self._alternatives(part)]

    def _objects(self, node: dict, into_lists: bool = True) -> list[dict]:
        """The mappings a node may be: its object alternatives, else (into_lists) those of its items."""
        alts = self._alternatives(node)
        objects = [alt for alt in alts if "properties" in alt]
        if objects or not into_lists:
            return objects
        return [found for alt in alts if isinstance(alt.get("items"), dict) for found in self._objects(alt["items"])]

    def _first_object(self, node: dict) -> dict | None:
        """The first mapping found inside a node (through unions and lists), depth first."""
        for alt in self._alternatives(node):
            if "properties" in alt:
                return alt
            if isinstance(alt.get("items"), dict):
                found = self._first_object(alt["items"])
                if found is not None:
                    return found
        return None

    def known(self, parent: tuple) -> list[str]:
        """The keys allowed in the mapping at `parent` (a key path), for 'did you mean'."""
        node = self.schema
        for step in parent:
            if isinstance(step, int):  # an item: of the list alternative, if there is one
                items = [alt["items"] for alt in self._alternatives(node) if isinstance(alt.get("items"), dict)]
                node = items[0] if items else node
                continue
            objects = self._objects(node)
            fields = next((o["properties"][step] for o in objects if step in o.get("properties", {})), None)
            if fields is None:  # a mapping of names (audio.signals): any key, each value alike
                named = [a["additionalProperties"] for a in self._alternatives(node) if isinstance(a.get("additionalProperties"), dict)]
                fields = named[0] if named else None
            if fields is None:
                return []
            named = any(isinstance(a.get("additionalProperties"), dict) for a in self._alternatives(fields))
            if named or self._first_object(fields) is not None:  # a value that is no mapping anywhere: stay (as the path is)
                node = fields
        objects = self._objects(node)
        return list(objects[0]["properties"]) if objects else []

    def homes(self, key: str) -> list[str]:
        """The mappings where `key` is a key ('network', 'trajectory.keyframes', "the scene's top level")."""
        found: list[str] = []

        def walk(obj: dict, where: str) -> None:
            for name, node in obj.get("properties", {}).items():
                if name == key:
                    found.append(where or "the scene's top level")
                inner = self._first_object(node)
                if inner is not None and inner is not obj:
                    walk(inner, f"{where}.{name}" if where else name)

        walk(self.schema, "")
        return found


class Explainer:
    """pydantic's ValidationError -> SceneErrors in our words: all of them, or the one that comes first in the file.

    keys: the scene model's KeyTable (for "did you mean" and "is a key of ..."); union_errors:
    key -> what its union accepts (for a text that fits no alternative); version: the format
    version this cppn-anim reads.
    """

    def __init__(self, keys: "KeyTable", union_errors: Mapping[str, str], version: int):
        self.keys, self.union_errors, self.version = keys, union_errors, version

    def first(self, e: ValidationError, source: str, doc, overrides: dict, data: Any) -> SceneError:
        """The error that comes first in the file, as one SceneError."""
        return min((error for _, _, error in self.all(e, source, doc, overrides, data)), key=lambda x: (x.line or 0, x.col or 0))

    def all(self, e: ValidationError, source: str, doc, overrides: dict, data: Any) -> list[tuple[tuple, tuple, SceneError]]:
        """Every error pydantic found, in our words: (the node to leave out so that the rest can
        be checked, the key path the error is about, the SceneError). A typo'd key is not also
        reported as the key it was meant to be "missing"."""
        errors = []
        raw = e.errors(include_url=False)
        # a misspelt key also makes the key it was meant to be "missing": report the typo
        typo_parents = {_clean_loc(tuple(err["loc"]), data)[0][:-1] for err in raw if err["type"] == "extra_forbidden"}
        # ... and a key written at the wrong indentation is "missing" where it belongs: report where it is
        extra_keys = {_clean_loc(tuple(err["loc"]), data)[0][-1:] for err in raw if err["type"] == "extra_forbidden"}
        raw = [
            err
            for err in raw
            if not (err["type"] == "missing" and (_clean_loc(tuple(err["loc"]), data)[0] in typo_parents or tuple(err["loc"][-1:]) in extra_keys))
        ]
        for err in raw:
            path, last = _clean_loc(tuple(err["loc"]), data)
            at_key = err["type"] == "extra_forbidden"
            if err["type"] == "missing":
                message = f"required key '{last}' is missing" + _missing_hint(path, last)
                error = locate(source, doc, overrides, path, message)
                error.path = dotted(path + (last,))
                errors.append((path, path + (last,), error))  # the mapping that lacks it is left out
            else:
                error = locate(source, doc, overrides, path, self._message(err, path, data), at_key)
                errors.append((path, path, error))
        return errors

    def _message(self, err: dict, path: tuple, data: Any) -> str:
        kind, ctx, value = err["type"], err.get("ctx", {}), err.get("input")
        key = str(path[-1]) if path and isinstance(path[-1], str) else (str(path[-2]) if len(path) > 1 else "value")
        if kind == "extra_forbidden":
            known = self.keys.known(path[:-1])
            close = difflib.get_close_matches(str(path[-1]), known, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else "known keys: " + ", ".join(known)
            homes = [] if close else self.keys.homes(str(path[-1]))
            homes = [h for h in homes if h.split(".")[0] == str(path[0])] or homes  # the nearest: under the same top-level key
            if homes:  # a known key at the wrong level: a misindented line, most likely
                hint = f"'{path[-1]}' is a key of {' and '.join(homes[:2])}: check the indentation"
            return f"unknown key '{short(str(path[-1]))}' ({hint})"
        if kind == "literal_error":
            allowed = re.findall(r"'([^']*)'|(\d+)", ctx.get("expected", ""))
            allowed = [a or b for a, b in allowed]
            if key == "version":
                return f"unsupported version {show(value)} (this cppn-anim reads version {self.version})"
            if isinstance(value, str):
                close = difflib.get_close_matches(value, allowed, n=1, cutoff=0.5)
                union = self.union_errors.get(key) if "text" in err["loc"] and key not in err["loc"][-1:] else None
                if union and not close and len(allowed) == 1:  # "one of random" would hide the other forms
                    return f"{union}, got {show(value)}"
                if union and not close:  # name the names, and the other forms
                    return f"unknown {_singular(path)} '{short(value)}' (one of {', '.join(allowed)}); {union}"
                hint = f"did you mean '{close[0]}'?" if close else "one of " + ", ".join(allowed)
                return f"unknown {_singular(path)} '{short(value)}' ({hint})"
            return f"expected one of {', '.join(allowed)}, got {show(value)}"
        if kind in ("wrong_form",):
            return f"{err['msg']}, got {show(value)}"
        if kind == "value_error":
            return str(ctx.get("error", err["msg"]))
        if kind == "string_pattern_mismatch":
            if key == "device":
                return f"unknown device '{short(str(value))}' (auto, cpu, cuda, cuda:N or mps)"
            if key == "name":
                return "the name is empty (leave name out for the file's stem)" if value == "" else "a name is plain text without slashes"
            if key in ("at", "duration"):
                return f"not a time: {show(value)} (seconds, or beats written as '8b' or '2.5b')"
            if key == "sha256":
                return f"{show(value)} is not a sha256 (64 hex digits, lowercase)"
            if "palette" in path:
                return f"{show(value)} is not a colour (write '#rrggbb' or '#rgb')"
        if kind.endswith("_type") or kind in ("int_from_float", "bool_parsing", "int_parsing", "float_parsing"):
            want = {
                "int": "a whole number",
                "float": "a number",
                "bool": "true or false",
                "string": "text",
                "list": "a list",
                "model": "a mapping",
                "dict": "a mapping",
            }
            base = kind.split("_")[0]
            return f"expected {want.get(base, base)}, got {show(value)}"
        if kind == "finite_number":
            return f"must be a finite number, got {show(value)}"
        bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
        if kind in bounds:
            limit = ctx.get(kind.replace("greater_than_equal", "ge").replace("greater_than", "gt").replace("less_than_equal", "le").replace("less_than", "lt"))
            if limit is None:
                return err["msg"]
            return f"must be {bounds[kind]} {limit if isinstance(limit, int) else format(limit, 'g')}, got {show(value)}"
        if kind in ("too_short", "too_long"):
            lo, hi = _length_bounds(path)
            want = f"exactly {lo}" if lo == hi else (f"at least {lo}" if kind == "too_short" else f"at most {hi}")
            return f"needs {want} item{'s' if (lo or hi) != 1 else ''}, got {ctx.get('actual_length')}"
        return err["msg"]


def locate(source: str, doc, overrides: dict, path: tuple, message: str, at_key: bool = False) -> SceneError:
    key_path = dotted(path)
    for steps, text in overrides.items():  # the override made this node, or a key on the way to it
        if path[: len(steps)] == steps or (path and steps[: len(path)] == path):
            return SceneError(f"{source}: {text}", message, key_path)
    probe = path
    while probe:
        if at_key and probe == path and probe in doc.keys:
            return SceneError(source, message, key_path, *doc.keys[probe])
        if probe in doc.values:
            return SceneError(source, message, key_path, *doc.values[probe])
        probe = probe[:-1]
    line, col = doc.values.get((), (1, 1))
    return SceneError(source, message, key_path, line, col)


def _clean_loc(loc: tuple, data: Any) -> tuple:
    """pydantic's loc also names union branches ('list', 'mapping'); keep only real keys and items."""
    path, node = [], data
    for step in loc:
        if isinstance(node, dict) and step in node:
            node = node[step]
            path.append(step)
        elif isinstance(node, list) and isinstance(step, int) and step < len(node):
            node = node[step]
            path.append(step)
        elif step == "keyframes" and isinstance(node, list):
            continue  # a track written as a plain list
    return tuple(path), loc[-1] if loc else None


def _missing_hint(path: tuple, key) -> str:
    if key == "trajectory":
        return " (add: trajectory: {keyframes: [{at: 0, z: random}]})"
    if key == "keyframes":
        return " (add: keyframes: [{at: 0, z: random}])"
    return ""


def _length_bounds(path: tuple) -> tuple:
    key = path[-1] if path else ""
    if key in ("size", "center", "value", "band", "amount"):
        return 2, 2
    if key == "inputs":
        return 0, 3
    if key == "palette":
        return 2, None
    return 1, None


def _singular(path: tuple) -> str:
    names = {"activation": "activation", "color": "color mode", "interpolation": "interpolation", "format": "format", "precision": "precision", "inputs": "input", "preset": "preset", "z": "z"}
    for step in reversed(path):
        if isinstance(step, str):
            return names.get(step, step)
    return "value"


def dotted(path: tuple) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def show(value: Any) -> str:
    """A short description of a value: never the whole thing (an alias can make it enormous)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing (null)"
    if isinstance(value, str):
        return f"'{short(value)}'"
    if isinstance(value, (int, float)):
        return short(repr(value))
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def short(text: str, limit: int = 40) -> str:
    """At most `limit` characters (control characters are escaped once, where the error
    becomes text: errors.one_line)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


