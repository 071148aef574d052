"""The generated parts of the docs, made from the code so that they cannot drift from it.

    .venv/bin/python scripts/gen_docs.py           # write them (make docs does)
    .venv/bin/python scripts/gen_docs.py --check   # exit 1 and name each stale part

A generated part sits in a committed page between two markers,

    <!-- generated: NAME (scripts/gen_docs.py; do not edit by hand) -->
    ...
    <!-- end generated: NAME -->

and the prose around it is written by hand. The parts:
- command-line.md: every command's usage and options, from the argument parser (cli.build_parser);
- scenes.md: every key of a scene with its type, default, range and meaning (from
  the scene model's JSON Schema), the easings, the styles' defaults, and the error
  catalogue: bad scenes run through the real parser, with the one line each one gets;
- architecture.md: every module in data-flow order with its concern (tests/test_layout.py's
  ORDER, each module's docstring); look.md: the gallery, one GIF per scene;
- README.md: the first run's figures and the Layout;
- performance.md: the render-speed targets and candidates;
- figures.md: every `make bench` figure as last recorded (benchmarks/figures.json), with
  the date, machine and load it was measured at.
A figure quoted in prose is written `[[bench: NAME]]` (the make bench line [NAME]); this
fills in its recorded value between `<!-- bench: NAME -->` and `<!-- /bench -->`, and
refreshes it on every run, so a committed page is true without building the site.
tests/test_docs.py fails when a committed part differs from what this makes.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DOCS = ROOT / "docs"
FIGURES = ROOT / "benchmarks" / "figures.json"
BEGIN = "<!-- generated: {name} (scripts/gen_docs.py; do not edit by hand) -->"
END = "<!-- end generated: {name} -->"


# ------------------------------------------------------------------ helpers


def cell(text) -> str:
    """Text for a Markdown table cell: pipes escaped, one line."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def code(text) -> str:
    text = str(text)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def yaml_value(value) -> str:
    """A default as it would be written in YAML."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}" if abs(value) < 1e15 else str(value)
    if isinstance(value, list):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    return str(value)


# ------------------------------------------------------------------ the command line


# Help for arguments the parser leaves without one.
FALLBACK_HELP = {
    "scene": "the scene file (YAML)",
    "scenes": "scene files (YAML)",
    "quiet": "no progress bar, no summary",
}


def _option_rows(parser: argparse.ArgumentParser, skip: set[str]) -> list[list[str]]:
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) or action.dest in skip:
            continue
        if action.option_strings:
            names = ", ".join(action.option_strings)
            if action.choices and not isinstance(action.choices, dict):
                names += " {" + ",".join(map(str, action.choices)) + "}"
            elif action.nargs != 0:
                names += " " + (action.metavar or action.dest.upper())
        else:
            names = action.metavar or action.dest.upper()
            names += " ..." if action.nargs in ("+", "*") else ""
        detail = action.help or FALLBACK_HELP.get(action.dest, "")
        if action.required and action.option_strings:
            detail += " (required)"
        if action.nargs == "?":
            detail += " (optional)"
        if isinstance(action, argparse._AppendAction) and "repeatable" not in detail:
            detail += " (repeatable)"
        default = action.default
        if action.option_strings and default not in (None, False, [], argparse.SUPPRESS) and "default" not in detail:
            detail += f" (default {default})"
        rows.append([code(names), detail or "-"])
    return rows


def _groups_required(parser) -> list[str]:
    """Mutually exclusive required groups as `(--a | --b)`."""
    out = []
    for group in parser._mutually_exclusive_groups:
        if group.required:
            out.append("one of " + " or ".join(code(a.option_strings[-1] if a.option_strings[0].startswith("--") else a.option_strings[0]) for a in group._group_actions))
    return out


def cli_reference() -> str:
    from cppn_anim import cli

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in sub._choices_actions}
    overrides = {a.dest for a in cli._overrides_parser()._actions}
    parts = ["Every command and its options, as `cppn-anim COMMAND --help` lists them (generated from the argument parser)."]
    parts.append(table(["command", "what it does"], [[f"[`{name}`](#{name})", helps.get(name, "")] for name in sub.choices]))
    for name, p in sub.choices.items():
        p.prog = f"cppn-anim {name}"
        takes_overrides = overrides - {"help"} <= {a.dest for a in p._actions}
        usage = re.sub(r"\s+", " ", p.format_usage().strip().removeprefix("usage: ")).replace(" [-h]", "")
        if takes_overrides:
            for a in cli._overrides_parser()._actions:
                for flag in a.option_strings:
                    usage = re.sub(r" \[" + re.escape(flag) + r"(?: [^\]]+)?\]", "", usage)
            usage += " [overrides]"
        what = helps.get(name, "")
        section = [f"### {name}", "", what[:1].upper() + what[1:] + ".", "", "```text", usage, "```", ""]
        rows = _option_rows(p, overrides if takes_overrides else set())
        if rows:
            section.append(table(["argument", "meaning"], rows))
            section.append("")
        for line in _groups_required(p):
            section.append(f"Required: {line}.")
            section.append("")
        if takes_overrides:
            section.append("Also takes the [overrides](#overrides).")
            section.append("")
        parts.append("\n".join(section).rstrip())
    common = cli._overrides_parser()
    parts.append("### Overrides\n\nTaken by every command that reads a scene, applied before validation:\n\n" + table(["option", "meaning"], _option_rows(common, set())))
    return "\n\n".join(parts)


# ------------------------------------------------------------------ the scene format


# Meaning of the keys whose model field has no description (the model's own description wins).
MEANING = {
    "version": "the format version this file was written for",
    "seed": "the network's weights and every generated z derive from it",
    "fps": "frames per second; the video has round(duration x fps) frames, frame i at t = i / fps",
    "size": "[width, height] in pixels",
    "network": "the random network: its shape and its look",
    "network.activation": "one activation for every hidden layer, or a list of exactly `depth` names",
    "network.inputs": "the pixel features the network sees; r = sqrt(x² + y²)",
    "view": "how pixels map to the network's coordinates",
    "view.center": "the network's coordinates at the middle of the frame",
    "trajectory": "how z moves",
    "trajectory.interpolation": "how z travels between keyframes",
    "trajectory.ease": "the easing of every segment that names none",
    "trajectory.loop": "true: after the last keyframe z travels back to the first, arriving at `duration`",
    "trajectory.keyframes": "at least one; the first at 0, times strictly increasing",
    "trajectory.keyframes[i]": "one keyframe",
    "trajectory.keyframes[i].z.seed": "z drawn from this seed alone",
    "animate": "view and look parameters over time: one track each (see [Tracks](#tracks))",
    "render": "how frames are computed",
    "render.device": "auto: cuda, else mps, else cpu",
    "render.precision": "bf16 and fp16 are draft modes (see Performance)",
    "output": "what file is written",
    "output.format": "png: a folder of frame_00000.png, frame_00001.png, ...",
    "modulate.KEY": "a modulation of this parameter, or a list of them applied in order",
    "modulate.KEY.mode": "add: value + amount x signal; multiply: value x (1 + amount x signal)",
}
TRACK_MEANING = {
    "interpolation": "how the value travels between keyframes",
    "ease": "the easing of every segment that names none",
    "loop": "true: after the last keyframe the value travels back to the first, arriving at `duration`",
    "keyframes": "at least one; the first at 0, times strictly increasing",
    "keyframes[i].at": "seconds",
    "keyframes[i].value": "the parameter's value at that time",
    "keyframes[i].ease": "how the value travels INTO this keyframe",
}


class Schema:
    def __init__(self, schema: dict):
        self.schema = schema
        self.defs = schema.get("$defs", {})

    def resolve(self, node: dict) -> dict:
        while "$ref" in node:
            node = {**self.defs[node["$ref"].split("/")[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    def ref_name(self, node: dict) -> str | None:
        return node["$ref"].split("/")[-1] if "$ref" in node else None

    def alternatives(self, node: dict) -> list[dict]:
        for key in ("anyOf", "oneOf"):
            if key in node:
                out = []
                for alt in node[key]:
                    out += self.alternatives(alt)
                return out
        return [node]

    def describe(self, node: dict) -> str:
        """A short type: `integer`, `rgb | gray | hsv`, `list of 2 integers`, `an easing`, ..."""
        if "const" in node:
            return yaml_value(node["const"])
        alts = self.alternatives(node)
        kinds: list[str] = []
        for alt in alts:
            name = self.ref_name(alt)
            alt = self.resolve(alt)
            kinds.append(self._one(alt, name, len(alts) > 1))
        seen: list[str] = []
        for k in kinds:
            item = re.sub(r"^list of (>= \d+ |\d+ )?", "", k).strip("()") if k.startswith("list of ") else None
            if item and item in [s.strip("()") for s in seen]:
                k = "a list of those"
            if k not in seen:
                seen.append(k)
        return " | ".join(seen)

    def _one(self, alt: dict, name: str | None, in_union: bool, plural: bool = False) -> str:
        if "enum" in alt:
            values = [yaml_value(v) for v in alt["enum"]]
            if "in_out_cubic" in values:
                return "an easing (see [Easings](#easings))" if not plural else "easings"
            return " | ".join(values)
        if "const" in alt:
            return yaml_value(alt["const"])
        kind = alt.get("type")
        if kind == "array":
            item = alt.get("items") or {}
            items = self._one(self.resolve(item), self.ref_name(item), False, plural=True) if item else "values"
            n = ""
            if alt.get("minItems") is not None and alt.get("minItems") == alt.get("maxItems"):
                n = f"{alt['minItems']} "
            elif alt.get("minItems"):
                n = f">= {alt['minItems']} "
            return f"list of {n}({items})" if " | " in items else f"list of {n}{items}"
        if kind == "object" or "properties" in alt:
            keys = list(alt.get("properties", {}))
            return ("{" + ", ".join(keys) + "}") if name and 0 < len(keys) <= 3 else "mapping"
        if kind == "null":
            return "null"
        if kind == "string":
            pattern = alt.get("pattern", "")
            if pattern.endswith("b$"):
                return "beats ('Nb')"
            if pattern.startswith("^#"):
                return "'#rrggbb' or '#rgb' colours" if plural else "'#rrggbb' or '#rgb' colour"
            choice = re.fullmatch(r"\^\((.*)\)\$", pattern)
            if choice:
                return " | ".join(c.replace("\\d+", "N") for c in choice.group(1).split("|"))
            if in_union and alt.get("description") and not pattern.startswith("^\\s*"):
                return alt["description"]
            if pattern.startswith("^\\s*cubic_bezier"):
                return "cubic_bezier(...)"
            if pattern.startswith("^\\s*steps"):
                return "steps(n)"
            return "strings" if plural else "string"
        if kind in ("integer", "number", "boolean"):
            return {"integer": "integers", "number": "numbers", "boolean": "booleans"}[kind] if plural else kind
        return alt.get("description") or "value"

    def rule(self, node: dict) -> str:
        """Ranges and patterns: `1..1024`, `> 0`, `(0, 240]`."""
        parts = []
        for alt in self.alternatives(node):
            alt = self.resolve(alt)
            if alt.get("type") == "array" and alt.get("items"):
                alt = self.resolve(alt["items"])
            lo, hi = alt.get("minimum"), alt.get("maximum")
            xlo = alt.get("exclusiveMinimum")  # the schema has no exclusiveMaximum
            if hi is not None and hi > 1e15:
                hi = None
            text = ""
            if lo is not None and hi is not None:
                text = f"{yaml_value(lo)}..{yaml_value(hi)}"
            elif xlo is not None and hi is not None:
                text = f"({yaml_value(xlo)}, {yaml_value(hi)}]"
            elif xlo is not None:
                text = f"> {yaml_value(xlo)}"
            elif lo is not None:
                text = f">= {yaml_value(lo)}"
            elif hi is not None:
                text = f"<= {yaml_value(hi)}"
            if text and text not in parts:
                parts.append(text)
        return ", ".join(parts)


def _objects(schema: Schema, node: dict) -> list[tuple[str, dict, str]]:
    """The mappings a value may be written as: (how, the mapping's schema, def name).
    how: '' for a mapping, '[i]' for a list of mappings, '.NAME' for a mapping of names."""
    out = []
    for alt in schema.alternatives(node):
        name = schema.ref_name(alt)
        alt_r = schema.resolve(alt)
        if alt_r.get("type") == "array" and alt_r.get("items"):
            item = alt_r["items"]
            item_name = schema.ref_name(item)
            item_r = schema.resolve(item)
            if "properties" in item_r:
                out.append(("[i]", item_r, item_name))
        elif "properties" in alt_r:
            out.append(("", alt_r, name))
        elif isinstance(alt_r.get("additionalProperties"), dict) and alt_r["additionalProperties"]:
            value = alt_r["additionalProperties"]
            for how, sub, sub_name in _objects(schema, value):
                out.append((".NAME" + how, sub, sub_name))
        elif alt_r.get("patternProperties"):
            for value in alt_r["patternProperties"].values():
                for how, sub, sub_name in _objects(schema, value):
                    out.append((".NAME" + how, sub, sub_name))
    return out


def _is_track(schema: Schema, node: dict) -> bool:
    return any(name and name.endswith("Track") for _, _, name in _objects(schema, node))


def _meaning(path: str) -> str:
    """MEANING for a key path: the path itself, else with its last step generalised (KEY)."""
    path = re.sub(r"\[\d+\]", "[i]", path)
    if path in MEANING:
        return MEANING[path]
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):  # modulate.view.zoom.mode -> modulate.KEY.mode, ...
        for j in range(i, len(parts)):
            candidate = ".".join(parts[:i] + ["KEY"] + parts[j + 1 :])
            if candidate in MEANING:
                return MEANING[candidate]
    return ""


def key_rows(schema: Schema, obj: dict, prefix: str, rows: list, tracks: dict, required_of: list[str]) -> None:
    """One row per key of `obj` (recursing into mappings). Keys of one mapping that share a
    structure (the modulations under `modulate`) get a row each, and the structure's keys
    are listed once, under PARENT.KEY; a mapping that may also be written as a list of
    such mappings is listed once."""
    props = obj.get("properties", {})
    shapes = {key: frozenset(name for _, _, name in _objects(schema, node) if name) for key, node in props.items()}
    shared = {shape for shape in shapes.values() if shape and sum(1 for v in shapes.values() if v == shape) >= 2}
    listed: set = set()
    later: list = []  # a shared structure's keys, listed after all the keys that share it
    for key, node in props.items():
        path = f"{prefix}{key}"
        meaning = (node.get("description") or schema.resolve(node).get("description")) if "$ref" in node else node.get("description")
        meaning = meaning or _meaning(path)
        default = "**required**" if key in required_of else (code(yaml_value(node["default"])) if "default" in node and not isinstance(node["default"], dict) else "")
        if _is_track(schema, node):
            value = next(sub for how, sub, name in _objects(schema, node) if name and name.endswith("Key"))
            value_node = value["properties"]["value"]
            tracks[path] = (schema.describe(value_node), schema.rule(value_node))
            rows.append([code(path), "a track", "", f"value: {schema.describe(value_node)} {schema.rule(value_node)}".strip(), meaning or "an animated parameter (see [Tracks](#tracks))"])
            continue
        subs = _objects(schema, node)
        kind = schema.describe(node)
        if subs and all(how == "" for how, _, _ in subs) and len(subs) == 1 and not [a for a in schema.alternatives(node) if not ("properties" in schema.resolve(a))]:
            kind = "mapping"
        rows.append([code(path), kind, default, schema.rule(node), meaning])
        shape = shapes[key]
        if shape in shared:
            if shape not in listed:
                listed.add(shape)
                later.append((f"{prefix}KEY", subs))
            continue
        _sub_rows(schema, path, subs, rows, tracks)
    for path, subs in later:
        _sub_rows(schema, path, subs, rows, tracks)


def _sub_rows(schema: Schema, path: str, subs: list, rows: list, tracks: dict) -> None:
    seen: set = set()
    for how, sub, name in sorted(subs, key=lambda s: s[0].count("[i]")):  # the mapping form before the list form
        if name in seen and name is not None:
            continue
        seen.add(name)
        if how.startswith(".NAME"):
            sub_prefix = path + ".NAME" + how[len(".NAME"):] + "."
        else:
            sub_prefix = path + how + "."
        key_rows(schema, sub, sub_prefix, rows, tracks, sub.get("required", []))


def scene_keys() -> str:
    from cppn_anim import scene

    schema = Schema(scene.json_schema())
    rows: list = []
    tracks: dict = {}
    key_rows(schema, schema.schema, "", rows, tracks, schema.schema.get("required", []))
    out = [table(["key", "type", "default", "range", "meaning"], rows)]
    if tracks:
        track_def = next(v for k, v in schema.defs.items() if k.endswith("Track"))
        trows = []
        for key, node in track_def["properties"].items():
            default = code(yaml_value(node["default"])) if "default" in node else "**required**"
            trows.append([code(key), schema.describe(node) if key != "keyframes" else "list of {at, value, ease}", default, schema.rule(node), TRACK_MEANING.get(key, node.get("description", ""))])
        key_def = next(v for k, v in schema.defs.items() if k.endswith("Key") and "value" in v.get("properties", {}))
        for key, node in key_def["properties"].items():
            default = code(yaml_value(node["default"])) if "default" in node else "**required**"
            kind = "the parameter's value" if key == "value" else schema.describe(node)
            trows.append([code(f"keyframes[i].{key}"), kind, default, schema.rule(node) if key != "value" else "", TRACK_MEANING.get(f"keyframes[i].{key}", "")])
        out.append("#### Tracks\n\nEach key under `animate` is a track: a list of `{at, value, ease}` keyframes, or a mapping:\n\n"
                   + table(["track key", "type", "default", "range", "meaning"], trows))
        out.append("The animated parameters and their values:\n\n" + table(["parameter", "value", "range"], [[code(k), v, r] for k, (v, r) in tracks.items()]))
    return "\n\n".join(out)


def undescribed_keys() -> list[str]:
    """Scene keys with no meaning in the reference (neither the model's description nor MEANING)."""
    from cppn_anim import scene

    schema = Schema(scene.json_schema())
    rows: list = []
    key_rows(schema, schema.schema, "", rows, {}, [])
    return [row[0].strip("`") for row in rows if not row[4]]



def easings() -> str:
    from cppn_anim import easing

    names = sorted(easing.EASINGS)
    plain = [n for n in names if not n.startswith(("in_", "out_", "in_out_"))]
    families = sorted({n.split("_")[-1] for n in names if n.startswith("in_out_")})
    return (
        "Easings by name: " + ", ".join(code(n) for n in plain)
        + "; and `in_`, `out_`, `in_out_` of each of " + ", ".join(code(f) for f in families)
        + f" ({len(names)} names in all); plus `cubic_bezier(x1, y1, x2, y2)` and `steps(n)`."
    )


def styles_table() -> str:
    from cppn_anim import scene

    keys = ["depth", "width", "activation", "z_scale", "input_scale", "contrast", "output"]
    rows = [[code(style)] + [yaml_value(d[k]) for k in keys] for style, d in scene.STYLE_DEFAULTS.items()]
    return table(["style"] + keys, rows)


def activations() -> str:
    from cppn_anim import activations as acts

    return "Activations: " + ", ".join(code(n) for n in acts.NAMES) + "."


# Bad scenes and what each one gets: the catalogue of errors. Each is run through the real
# parser; the page shows the line it prints (FILE is `scene.yaml`).
GOOD = "trajectory:\n  keyframes:\n    - {at: 0, z: random}\n"
BAD_SCENES = [
    ("an unknown key (a typo)", "netwrok: {depth: 4}\n" + GOOD),
    ("a duplicate key", "seed: 1\nseed: 2\n" + GOOD),
    ("a wrong type", "seed: one\n" + GOOD),
    ("a number out of range", "network: {depth: 99}\n" + GOOD),
    ("an unknown name", "network: {activation: sine}\n" + GOOD),
    ("an unknown easing", "trajectory:\n  keyframes:\n    - {at: 0, z: random}\n    - {at: 2, z: random, ease: in_out_cubc}\n"),
    ("activations of the wrong length", "network: {depth: 3, activation: [tanh, sin]}\n" + GOOD),
    ("a z of the wrong length", "trajectory:\n  keyframes:\n    - {at: 0, z: [1, 2]}\n"),
    ("keyframes out of order", "trajectory:\n  keyframes:\n    - {at: 0, z: random}\n    - {at: 3, z: random}\n    - {at: 2, z: random}\n"),
    ("a first keyframe not at 0", "trajectory:\n  keyframes:\n    - {at: 1, z: random}\n"),
    ("a keyframe past the end", "duration: 4\ntrajectory:\n  keyframes:\n    - {at: 0, z: random}\n    - {at: 5, z: random}\n"),
    ("a keyframe at the end of a loop", "duration: 4\ntrajectory:\n  loop: true\n  keyframes:\n    - {at: 0, z: random}\n    - {at: 4, z: random}\n"),
    ("no keyframes", "seed: 1\n"),
    ("an empty file", ""),
    ("not a mapping", "- just\n- a list\n"),
    ("YAML that does not parse", "seed: [1, 2\n" + GOOD),
    ("a misindented line", "network:\n  depth: 4\n    width: 8\n" + GOOD),
    ("a Python tag", "seed: !!python/object:os.system 1\n" + GOOD),
    ("a palette with rgb colour", "network: {palette: magma, color: rgb}\n" + GOOD),
    ("an unknown palette", "network: {palette: magmaa}\n" + GOOD),
    ("a zoom track that overshoots to 0", "animate:\n  view.zoom:\n    - {at: 0, value: 0.2}\n    - {at: 2, value: 3, ease: in_back}\n" + GOOD),
    ("an output path outside the folder", "output: {path: '../elsewhere/{name}.{ext}'}\n" + GOOD),
    ("an output path with the wrong extension", "output: {path: 'out/{name}.avi'}\n" + GOOD),
    ("a crf out of the codec's range", "output: {format: mp4, crf: 60}\n" + GOOD),
    ("a GIF too fast", "fps: 60\noutput: {format: gif}\n" + GOOD),
]
BAD_OVERRIDES = [
    ("a --set that breaks a rule", GOOD, [("network.depth", 0, "--set network.depth=0")]),
    ("a --set path that is not there", GOOD, [("trajectory.keyframes[5].at", 1, "--set trajectory.keyframes[5].at=1")]),
]


def error_catalogue() -> str:
    from cppn_anim import scene
    from cppn_anim.errors import SceneError

    rows = []
    for what, text, *overrides in [(w, t) for w, t in BAD_SCENES] + BAD_OVERRIDES:
        try:
            scene.parse(text, "scene.yaml", overrides[0] if overrides else ())
        except SceneError as e:
            rows.append([what, code(str(e))])
        else:  # a catalogue entry that no longer fails is itself a stale page
            rows.append([what, "**accepted** (this example no longer fails: fix scripts/gen_docs.py)"])
    return table(["the mistake", "what `cppn-anim validate scene.yaml` prints"], rows)


# ------------------------------------------------------------------ figures


def slug(name: str) -> str:
    return "fig-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def figures_page() -> str:
    data = json.loads(FIGURES.read_text(encoding="utf-8")) if FIGURES.exists() else {}
    if not data:
        return "No figures recorded yet: run `make bench`."
    by_source: dict[str, list] = {}
    for name, f in data.items():
        by_source.setdefault(f.get("source") or "?", []).append((name, f))
    parts = []
    for source in sorted(by_source):
        rows = []
        for name, f in by_source[source]:
            load = " ".join(map(str, f.get("load") or [])) or "?"
            rows.append([f'<a id="{slug(name)}"></a>' + code(f"[{name}]"), f["value"], f.get("want") or "", f["verdict"], f"{f['date']}, load {load}"])
        machines = sorted({f["machine"] for _, f in by_source[source]})
        parts.append(f"### {source}\n\nMeasured on: {'; '.join(machines)}.\n\n" + table(["line", "value", "want", "verdict", "measured (load: 1, 5, 15 min)"], rows))
    return "\n\n".join(parts)


def first_run() -> str:
    """The README's first-run sentence, from the record of benchmarks/first_run.sh."""
    data = json.loads(FIGURES.read_text(encoding="utf-8")) if FIGURES.exists() else {}
    setup, render = data.get("first run: set-up"), data.get("first run: render")
    if not setup or not render:
        return "(`make bench` measures the first run: lines `[first run: set-up]` and `[first run: render]`.)"
    seconds = lambda f: f"{f['measured']:.0f} s" if f.get("measured") is not None else f["value"]  # noqa: E731
    load = " ".join(map(str, (render.get("load") or [])[:1])) or "?"
    return (
        f"On the shared 2-core development machine the first run took {seconds(setup)} to set up and"
        f" {seconds(render)} to render (`[first run: set-up]` and `[first run: render]` of `make bench`,"
        f" {render['date'][:10]}, load {load}; yours will differ: [Figures](docs/figures.md))."
    )


def render_speed() -> str:
    """performance.md's render-speed figures (the targets and the candidates), from the record
    of benchmarks/kernels.py: so the page says what the last `make bench` measured."""
    data = json.loads(FIGURES.read_text(encoding="utf-8")) if FIGURES.exists() else {}
    need = ["render speed setup", "render speed took", "720p ours", "target 720p vs peer"]
    if any(n not in data for n in need):
        return "(`make bench` has not recorded the render-speed lines yet: run it.)"
    start, end = data["render speed setup"], data["render speed took"]
    load = lambda f: " ".join(f"{v:g}" for v in (f.get("load") or [])[:1]) or "?"  # noqa: E731
    head = (f"Run of {start['date']}, on {start['machine']}: load average {load(start)} at the start,"
            f" {load(end)} at the end; {start['value'].split(';')[0]}. On a shared machine absolute"
            " speeds fall with the load; the ratios are what to compare.")
    targets = [n for n in ("target 720p vs peer", "target 720p share of peak", "target 720p quiet vs ACTIVE",
                           "target small busy vs one") if n in data]
    rows = [[code(f"[{n}]"), data[n]["value"], data[n].get("want") or "", data[n]["verdict"]] for n in targets]
    out = [head, "", table(["target (`make bench` line)", "figure", "want", "verdict"], rows), ""]
    sides = [("ours", "**ours: the fused CPU kernel in band workers**"),
             ("torch bands", "torch's chunks in band workers, one OpenMP thread each"),
             ("bf16", "torch's path in bf16"),
             ("numba", "a plain numba kernel, `@njit(parallel=True, fastmath=True)`"),
             ("today PASSIVE", "the torch renderer layer by layer, `OMP_WAIT_POLICY=PASSIVE`"),
             ("today ACTIVE", "the same, `OMP_WAIT_POLICY=ACTIVE`"),
             ("peer", "the peer: whole frame, `nn.Linear` + `torch.tanh` (`benchmarks/baseline.py`)")]
    rows, speed = [], {}
    for key, label in sides:
        f = (data.get(f"720p {key}") or {}).get("figures") or {}
        if f.get(f"mps_{key}") is None:
            continue
        speed[key] = f[f"mps_{key}"]
        said = re.search(r"= (\d+)% of the GEMM peak", data[f"720p {key}"]["value"])  # as the line printed it (the record rounds)
        share = f"{said.group(1)}%" if said else f"{100 * f[f'share_{key}']:.0f}%"
        rows.append([f"{label} ({code(f'[720p {key}]')})", f"{f[f'mps_{key}']:.2f}", share,
                     f"{f[f'vs_ours_{key}']:.2f}×", f"{f[f'err255_{key}']}/255"])
    if "720p torch.compile" in data:
        rows.append([f"torch.compile ({code('[720p torch.compile]')})", data["720p torch.compile"]["value"].split(": ", 1)[-1], "", "", ""])
    out += ["**The candidates** (720p, the same interleaved rounds):", "",
            table(["side", "MP/s", "share of the GEMM peak", "vs ours", "largest difference from float64"], rows), ""]
    fp32 = {k: v for k, v in speed.items() if k not in ("ours", "bf16")}
    if "ours" in speed and fp32:
        best = max(fp32, key=fp32.get)
        label = {"torch bands": "torch's chunks in band workers", "numba": "numba", "today PASSIVE": "the torch renderer, PASSIVE",
                 "today ACTIVE": "the torch renderer, ACTIVE", "peer": "the peer"}.get(best, best)
        out.append(f"**Which won**: the fused CPU kernel in band workers, {speed['ours'] / fp32[best]:.1f}× the next"
                   f" best fp32 candidate ({label}) in this run.")
    return "\n".join(out).rstrip()


# ------------------------------------------------------------------ the code's layout


def modules() -> str:
    """Every module in data-flow order (tests/test_layout.py's ORDER) with its docstring's first line."""
    import ast

    tree = ast.parse((ROOT / "tests" / "test_layout.py").read_text(encoding="utf-8"))
    order = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "ORDER")
    entry = {"cli", "entry", "studio_server", "dask_worker", "__main__"}
    rows = []
    for name in order:
        path = ROOT / "cppn_anim" / f"{name}.py"
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        first = re.split(r"(?<=\.)\s", doc.strip().split("\n\n")[0].replace("\n", " "), maxsplit=1)[0].rstrip(".:")
        first = re.sub(r"^Entry point:\s*", "", first)
        first = re.sub(r"\s*\([^)]*contract[^)]*\)|,? as the contract says", "", first)  # the repository's words only
        first = first[:1].upper() + first[1:]
        rows.append([code(f"{name}.py"), "entry point" if name in entry else "", first])
    return table(["module", "", "its concern"], rows)


def layout() -> str:
    """The README's Layout: the package's modules in data-flow order (names only; their
    concerns are in docs/architecture.md), then the repository's folders."""
    import ast

    tree = ast.parse((ROOT / "tests" / "test_layout.py").read_text(encoding="utf-8"))
    order = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "ORDER")
    entry = {"cli", "entry", "studio_server", "dask_worker", "__main__"}
    stages = " → ".join(f"`{n}`" for n in order if n not in entry and n != "__init__")
    points = ", ".join(f"`{n}`" for n in order if n in entry)
    return (
        f"- `cppn_anim/`: one module per concern, in the order data flows: {stages}; "
        f"the entry points, the only code that changes process-wide state: {points}. "
        "Each module's concern: [Architecture](docs/architecture.md#modules-in-the-order-data-flows).\n"
        "- `scenes/`: the example scenes and the demo soundtrack; `tests/`: `make test`, `make check`; "
        "`benchmarks/`: `make bench`; `docs/`: `make docs`; `scripts/`, `editor/` (the studio's editor sources); "
        "`.ci/run`: what CI runs."
    )


def shipped_scenes() -> list[Path]:
    """The example scenes the repository ships (tracked by git), not a user's own scenes in
    scenes/; every scenes/*.yaml outside a git checkout."""
    r = subprocess.run(["git", "ls-files", "-z", "scenes/*.yaml"], cwd=ROOT, capture_output=True)
    names = [n for n in r.stdout.decode().split("\0") if n] if r.returncode == 0 else []
    return sorted(ROOT / n for n in names) if names else sorted((ROOT / "scenes").glob("*.yaml"))


def gallery() -> str:
    """The gallery: one GIF per scene in scenes/, three to a row."""
    names = sorted(p.stem for p in shipped_scenes())
    rows = []
    for i in range(0, len(names), 3):
        chunk = names[i : i + 3]
        rows.append("| " + " | ".join(f"![{n}](gallery/{n}.gif)" for n in chunk) + " |")
        rows.append("| " + " | ".join(code(n) for n in chunk) + " |")
    return "| | | |\n|---|---|---|\n" + "\n".join(rows)


# ------------------------------------------------------------------ the pages


def parts() -> dict[tuple[str, str], str]:
    """{(page, part name): the generated text}."""
    return {
        ("command-line.md", "commands"): cli_reference(),
        ("scenes.md", "keys"): scene_keys(),
        ("scenes.md", "easings"): easings(),
        ("scenes.md", "styles"): styles_table(),
        ("scenes.md", "activations"): activations(),
        ("scenes.md", "errors"): error_catalogue(),
        ("figures.md", "figures"): figures_page(),
        ("architecture.md", "modules"): modules(),
        ("performance.md", "render-speed"): render_speed(),
        ("look.md", "gallery"): gallery(),
        ("../README.md", "first-run"): first_run(),
        ("../README.md", "layout"): layout(),
    }


def replace(text: str, name: str, body: str) -> str:
    begin, end = BEGIN.format(name=name), END.format(name=name)
    if begin not in text or end not in text:
        raise SystemExit(f"the markers of part '{name}' are missing")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


BENCH = re.compile(r"<!-- bench: (.+?) -->.*?<!-- /bench -->|\[\[bench:\s*([^\]]+?)\s*\]\]", re.S)


def fill_figures(text: str, path: Path, data: dict) -> str:
    """Each figure quoted in a page, `[[bench: NAME]]` when first written, becomes the value of
    the make bench line [NAME] as last recorded, linked to its row on the Figures page, between
    markers that the next run refreshes: the committed page reads true without a build. An
    unknown NAME stops the run (a page can never quote a figure no bench line gives)."""
    link = os.path.relpath(DOCS / "figures.md", path.parent).replace(os.sep, "/")

    def one(m: re.Match) -> str:
        name = (m.group(1) or m.group(2)).strip()
        if name not in data:
            raise SystemExit(f"{path.name}: the figure [{name}] is no line of benchmarks/figures.json (run make bench)")
        f = data[name]
        verdict = f" (want {f['want']}: {f['verdict']})" if f.get("want") else ""
        return f"<!-- bench: {name} -->{f['value']}{verdict} ([`[{name}]`]({link}#{slug(name)}))<!-- /bench -->"

    return BENCH.sub(one, text)


def pages() -> dict[Path, str]:
    """Every page with a generated part or a quoted figure, as it should be."""
    out: dict[Path, str] = {}
    for (page, name), body in parts().items():
        path = DOCS / page
        text = out.get(path) or path.read_text(encoding="utf-8")
        out[path] = replace(text, name, body)
    data = json.loads(FIGURES.read_text(encoding="utf-8")) if FIGURES.exists() else {}
    for path in sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]:
        key = next((p for p in out if p.resolve() == path.resolve()), path)
        text = out.get(key) or path.read_text(encoding="utf-8")
        filled = fill_figures(text, path, data)
        if key in out or filled != text:
            out[key] = filled
    return out


def stale() -> list[str]:
    return [str(p.resolve().relative_to(ROOT)) for p, text in pages().items() if p.read_text(encoding="utf-8") != text]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only say which pages are stale (exit 1 if any)")
    args = ap.parse_args()
    if args.check:
        bad = stale()
        for page in bad:
            print(f"{page}: stale; run `make docs` (or scripts/gen_docs.py)", file=sys.stderr)
        return 1 if bad else 0
    for path, text in pages().items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.resolve().relative_to(ROOT)}")
    missing = undescribed_keys()
    if missing:
        print("keys without a meaning (give the model field a description, or add it to MEANING): " + ", ".join(missing), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
