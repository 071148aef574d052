"""Read YAML as YAML 1.2 reads it, keeping where every node starts.

ruamel.yaml scans and composes the node tree; we build plain Python values from it
ourselves so that we can refuse what a scene never needs: duplicate keys, tags that
construct objects, and aliases that expand into huge documents. Positions are
1-based (line, column).

Two things differ from ruamel's defaults, so that a file reads as editors and the
YAML 1.2.2 spec read it:
- plain scalars resolve by the core schema (spec 10.3.2) and nothing else: `1_000`,
  `0b101`, `+0o17`, `yes`, `on` and dates are text; `017` is 17, `0o17` is 15,
  `1e3` and `.5` are numbers, only true/True/TRUE and false/False/FALSE are booleans;
- a tab separates tokens on a line (`fps: 10<TAB># note`, `fps:<TAB>10`), as in
  YAML 1.2; only indentation must be spaces, and a tab there is called that.
A file that does not parse gets, where its lines show one, the indentation mistake
(a key deeper or shallower than its siblings) instead of the parser's words.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, MaxDepthExceededError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scanner import Scanner, ScannerError
from ruamel.yaml.tag import Tag

Path = tuple  # of str keys and int indices

MAX_NODES = 100_000  # far above any real scene, far below an alias bomb
MAX_DEPTH = 64  # a scene nests 7 levels; a deeper file is a mistake or an attack, and
# ruamel's composer recurses once per level (Python's stack ends near 1000)
_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")}

# YAML 1.2.2, 10.3.2 "Tag Resolution" of the core schema, in the spec's order.
_CORE_SCHEMA = [
    ("null", re.compile(r"null|Null|NULL|~|")),
    ("bool", re.compile(r"true|True|TRUE|false|False|FALSE")),
    ("int", re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")),
    ("float", re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")),
]
_CORE_PATTERN = dict(_CORE_SCHEMA)
_LINE_END = "\0\r\n\x85\u2028\u2029"


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
    # what a scene may not contain but the rest of the file can be read around (a duplicate
    # key, a tag): each a YamlProblem; the node is left out of `data` (`dropped`: its path)
    problems: list = field(default_factory=list)
    dropped: list = field(default_factory=list)


class _CoreResolver(VersionedResolver):
    """Plain scalars resolve by the core schema alone, whatever a %YAML directive says."""

    def resolve(self, kind, value, implicit):
        if kind is ScalarNode and implicit[0]:
            for name, pattern in _CORE_SCHEMA:
                if pattern.fullmatch(value):
                    return Tag(suffix=_CORE + name)
            return self.DEFAULT_SCALAR_TAG
        return super().resolve(kind, value, implicit)


class _Scanner(Scanner):
    """ruamel's scanner with YAML 1.2's tabs: white space between tokens on a line may be tabs."""

    def scan_to_next_token(self):
        peek, forward = self.reader.peek, self.reader.forward
        if self.reader.index == 0 and peek() == "\ufeff":
            forward()
        while True:
            indenting = self.flow_level == 0 and self.reader.column == 0
            while peek() == " " or (peek() == "\t" and not indenting):
                forward()
            if peek() == "\t":  # among the indentation: fine on a blank or comment-only line
                ahead = 0
                while peek(ahead) in " \t":
                    ahead += 1
                if peek(ahead) not in "#" + _LINE_END:
                    raise ScannerError(None, None, "a tab in the indentation: indent with spaces (check the indentation)", self.reader.get_mark())
                forward(ahead)
            if peek() == "#":
                while peek() not in _LINE_END:
                    forward()
            if self.scan_line_break():
                if not self.flow_level:
                    self.allow_simple_key = True
            else:
                return None


class _Composer(Composer):
    """ruamel's composer, stopping at MAX_NODES nodes as written (aliases are counted in _build).

    An anchor may be defined again (YAML 1.2, 3.2.2.2: an alias refers to the most recent
    node with its anchor), so ruamel's warning about it (8 lines on standard error) is off.
    """

    def __init__(self, loader=None):
        super().__init__(loader)
        self.warn_double_anchors = False

    def compose_node(self, parent, index):
        self.count = getattr(self, "count", 0) + 1
        if self.count > MAX_NODES:
            mark = self.parser.peek_event().start_mark
            raise YamlProblem(mark.line + 1, mark.column + 1, f"more than {MAX_NODES} values in one file (a scene needs a few dozen)")
        return super().compose_node(parent, index)


def _pos(node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def read(text: str, keep_going: bool = False) -> Document:
    """Parse one YAML document; raise YamlProblem for anything a scene may not contain.

    keep_going: a duplicate key or a refused tag does not stop the reading: it goes to
    doc.problems (in file order) and the node is left out (doc.dropped), so that the rest
    of the file can still be checked; YAML that does not parse still raises."""
    yaml = YAML(typ="safe", pure=True)
    yaml.version = (1, 2)
    yaml.Scanner, yaml.Resolver, yaml.Composer = _Scanner, _CoreResolver, _Composer
    yaml.max_depth = MAX_DEPTH + 1  # the root is level 1 to ruamel, 0 to _build
    try:
        root = yaml.compose(text)
    except MaxDepthExceededError as e:
        mark = e.problem_mark
        raise YamlProblem(mark.line + 1, mark.column + 1, f"nested more than {MAX_DEPTH} levels deep (a scene needs a handful)") from None
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        misindent = indentation_problem(text)
        if misindent and misindent[0] <= line:
            raise YamlProblem(*misindent) from None
        what = (e.problem or e.context or "cannot parse").strip()
        if what == "but found another document":
            raise YamlProblem(line, col, "a second YAML document ('---'): a scene file holds one document") from None
        if what.startswith("but ") and e.context:  # ruamel's sentence is context + problem
            what = f"{e.context.strip()}, {what}"
        raise YamlProblem(line, col, what if "indentation" in what else f"YAML syntax: {what}") from None
    except YAMLError as e:
        raise YamlProblem(1, 1, f"YAML syntax: {str(e).splitlines()[0]}") from None
    except RecursionError:  # a limit above guards this; never a traceback if one is missed
        raise YamlProblem(1, 1, f"nested too deep (a scene needs a handful of levels, at most {MAX_DEPTH})") from None
    doc = Document(data=None)
    if root is None:
        return doc
    budget = [MAX_NODES]
    doc.data = _build(root, (), doc, budget, 0)
    if doc.problems and not keep_going:
        raise doc.problems[0]
    return doc


_DROP = object()  # a node left out of the data (a refused tag): its parent skips it


def _build(node, path: Path, doc: Document, budget: list, depth: int):
    budget[0] -= 1
    if budget[0] < 0:
        raise YamlProblem(*_pos(node), f"more than {MAX_NODES} values once aliases are expanded (an alias bomb?)", path)
    if depth > MAX_DEPTH:
        raise YamlProblem(*_pos(node), f"nested more than {MAX_DEPTH} levels deep (a recursive alias?)", path)
    tag = node.tag if isinstance(node.tag, str) else getattr(node.tag, "value", str(node.tag))
    doc.values.setdefault(path, _pos(node))
    if tag not in _ALLOWED_TAGS:
        return _drop(doc, path, YamlProblem(*_pos(node), f"tag '{tag.replace(_CORE, '!!')}' is not allowed: a scene holds only plain values", path))
    if isinstance(node, ScalarNode):
        try:
            return _scalar(node, tag, path)
        except YamlProblem as problem:
            return _drop(doc, path, problem)
    if isinstance(node, SequenceNode):
        items = [_build(item, path + (i,), doc, budget, depth + 1) for i, item in enumerate(node.value)]
        if any(item is _DROP for item in items):  # without it, the items after it would move up
            return _drop(doc, path)
        return items
    if isinstance(node, MappingNode):
        out: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise YamlProblem(*_pos(key_node), "a key must be plain text", path)
            key = key_node.value
            if path + (key,) in doc.keys:
                first = doc.keys[path + (key,)]
                doc.problems.append(YamlProblem(*_pos(key_node), f"duplicate key '{key}' (first at line {first[0]})", path + (key,)))
                doc.dropped.append(path + (key,))  # which one was meant? neither is checked further
                out.pop(key, None)
                continue
            doc.keys[path + (key,)] = _pos(key_node)
            if isinstance(value_node, ScalarNode) and value_node.value == "" and value_node.style is None:
                # an empty value (`seed:`) has no text of its own: the parser marks it at the next
                # token, often the next line; the place to point at is its key
                doc.values.setdefault(path + (key,), _pos(key_node))
            value = _build(value_node, path + (key,), doc, budget, depth + 1)
            if value is not _DROP and path + (key,) not in doc.dropped:
                out[key] = value
        return out
    raise YamlProblem(*_pos(node), "unsupported YAML node", path)


def _drop(doc: Document, path: Path, problem: YamlProblem | None = None):
    """Leave the node at `path` out of the data (with the problem that says why, if any)."""
    if problem is not None:
        doc.problems.append(problem)
    doc.dropped.append(path)
    return _DROP


def _scalar(node: ScalarNode, tag: str, path: Path):
    """A scalar's value; an explicit tag (`!!int 1_000`) must fit the core schema too."""
    text = node.value
    kind = tag[len(_CORE):]
    pattern = _CORE_PATTERN.get(kind)
    try:
        if pattern is not None and not pattern.fullmatch(text):
            raise ValueError
        if kind == "null":
            return None
        if kind == "bool":
            return text.lower() == "true"
        if kind == "int":
            if text[:2] in ("0o", "0x"):
                return int(text[2:], 8 if text[1] == "o" else 16)
            return int(text, 10)
        if kind == "float":
            low = text.lower()
            if low.lstrip("+-") == ".inf":
                return float("-inf") if low.startswith("-") else float("inf")
            return float("nan") if low == ".nan" else float(text)
    except ValueError:
        raise YamlProblem(*_pos(node), f"cannot read '{text[:40]}' as {kind} (YAML 1.2 core schema)", path) from None
    return text  # str, and timestamps: a scene has no dates, so they stay text


# ---------------------------------------------------------------- indentation

_KEY = re.compile(r"""("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"\[\]{},|>][^#]*?)\s*:(?=\s|$)""")


def indentation_problem(text: str):
    """(line, col, message) for the first line whose indentation breaks the block structure, or None.

    Follows the block collections line by line (a key ending in ':' or a '- ' item opens
    one); it only answers for plain block YAML and gives up (None) on what it does not
    follow (flow collections or quoted text over several lines, document markers).
    """
    stack: list = []  # open block collections: [column, last line at that column, "map" | "seq"]
    pending = None  # column of a key or '-' that ended its line: a deeper block may follow
    block_scalar = None  # inside a | or > scalar: lines deeper than this column belong to it
    prev = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.lstrip(" ")
        col = len(raw) - len(stripped)
        if block_scalar is not None and (not stripped.strip() or col > block_scalar):
            continue
        block_scalar = None
        line = _strip_comment(stripped).rstrip()
        if not line:
            continue
        if line[0] == "\t" or line.startswith(("---", "...", "%")):
            return None  # tabs: the scanner names them; several documents: not a scene
        dashes, body, c = [], line, col
        while body == "-" or body.startswith(("- ", "-\t")):
            dashes.append(c)
            rest = body[1:]
            body = rest.lstrip(" \t")
            c += 1 + len(rest) - len(body)
        opened = pending is not None and (col > pending or (col == pending and dashes))
        pending = None
        if opened or not stack:
            stack.append([col, number, "seq" if dashes else "map"])
        else:
            popped = None
            while stack and stack[-1][0] > col:
                entry = stack.pop()
                if popped is None or entry[0] < popped[0]:
                    popped = entry
                elif entry[0] == popped[0]:
                    popped = max(popped, entry, key=lambda e: e[1])
            top = stack[-1] if stack else None
            spaces = f"indented {col} space{'s' if col != 1 else ''}"
            if popped and (top is None or top[0] < col):
                between = f"between the {popped[0]} of line {popped[1]} and the {top[0]} of line {top[1]}" if top else f"less than the {popped[0]} of line {popped[1]}"
                return number, col + 1, f"{spaces}, {between} (check the indentation)"
            if top[0] < col:
                if not dashes and not _KEY.match(body):
                    continue  # a plain scalar going on over several lines
                return number, col + 1, f"{spaces}, more than the {top[0]} of line {prev} above, which opens no nested block (check the indentation)"
            if top[2] == "seq" and not dashes:  # a list may sit at its parent key's column
                stack.pop()
                if not stack or stack[-1][0] != col:
                    return number, col + 1, f"a key lined up with the '- ' of line {top[1]}, not with the keys of its item (check the indentation)"
            elif top[2] == "map" and dashes:
                return number, col + 1, f"a '- ' item lined up with the keys of line {top[1]} (check the indentation)"
            stack[-1][1] = number
        for d in dashes[1:]:  # "- - x": a list inside a list item
            stack.append([d, number, "seq"])
        key = _KEY.match(body)
        value = body[key.end():].strip() if key else body
        if key and dashes:
            stack.append([c, number, "map"])  # the item's next keys line up with this one
        if not value:
            pending = c if key else (dashes[-1] if dashes else None)
        elif value[0] in "|>":
            block_scalar = c if key else col
        elif value[0] in "[{\"'" and not _closed(value):
            return None
        prev = number
    return None


def _strip_comment(line: str) -> str:
    """The line without its comment ('#' after white space, outside quotes)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"" and (i == 0 or line[i - 1] in " \t[{,:-"):
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def _closed(value: str) -> bool:
    """Whether a flow collection or quoted text that starts a value also ends on its line."""
    if value[0] in "\"'":
        return len(value) > 1 and value.rstrip().endswith(value[0])
    return value.count("[") + value.count("{") == value.count("]") + value.count("}")
