// Where am I in the YAML? Key paths from the text's indentation structure (block style) and
// from brackets within a line (flow style). Best effort on purpose: it must answer while the
// text is half typed and not valid YAML, which a real parser cannot. Not handled: flow
// collections and plain scalars spanning several lines, anchors/aliases, tags, documents
// after `---`. A path is an array of steps: a key name, or "[]" for an item of a list.

const KEY_QUOTED = /^(?:"((?:[^"\\]|\\.)*)"|'((?:[^']|'')*)')\s*:(?=\s|$)/;
const KEY_PLAIN = /^([^\s#'"{}[\],&*!|>%@`-]|-(?=[^\s]))[^#]*?\s*:(?=\s|$)/;

function keyAt(text, pos) {
  const rest = text.slice(pos);
  let m = KEY_QUOTED.exec(rest);
  if (m) {
    const name = m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2].replace(/''/g, "'");
    return { name, end: pos + m[0].length, nameEnd: pos + m[0].length - 1 };
  }
  m = KEY_PLAIN.exec(rest);
  if (m) {
    const raw = m[0].slice(0, -1).replace(/\s+$/, "");
    return { name: raw, end: pos + m[0].length, nameEnd: pos + raw.length };
  }
  return null;
}

function skipSpaces(text, pos) {
  while (pos < text.length && (text[pos] === " " || text[pos] === "\t")) pos++;
  return pos;
}

// The end of a scalar that starts at `pos` (quoted or plain), before a comment.
function scalarEnd(text, pos, flow) {
  const q = text[pos];
  if (q === '"' || q === "'") {
    let i = pos + 1;
    while (i < text.length) {
      if (q === '"' && text[i] === "\\") { i += 2; continue; }
      if (text[i] === q) {
        if (q === "'" && text[i + 1] === "'") { i += 2; continue; }
        return i + 1;
      }
      i++;
    }
    return text.length;
  }
  let i = pos;
  while (i < text.length) {
    const c = text[i];
    if (c === "#" && i > pos && (text[i - 1] === " " || text[i - 1] === "\t")) break;
    if (flow && (c === "," || c === "}" || c === "]" || c === "{" || c === "[")) break;
    if (flow && c === ":" && (i + 1 >= text.length || /[\s,}\]]/.test(text[i + 1]))) break;
    i++;
  }
  while (i > pos && (text[i - 1] === " " || text[i - 1] === "\t")) i--;
  return i;
}

// A flow collection ({...} or [...]) starting at `start`, read up to `stop` (default: the
// line's end). Calls visit(entry) for each key and scalar found; returns the innermost
// open collection at `stop` (null when all were closed). `path` uses "[]" for a list item,
// `at` the item's index.
function scanFlow(text, start, basePath, baseAt, stop, visit) {
  const end = stop === undefined ? text.length : stop;
  const stack = [];
  const valuePath = (top) =>
    top.type === "seq" ? [top.path.concat("[]"), top.at.concat(top.index)]
      : top.state === "value" ? [top.path.concat(top.key), top.at.concat(top.key)]
      : [top.path.concat("?"), top.at.concat("?")];
  let i = start;
  while (i < end) {
    const c = text[i];
    if (c === " " || c === "\t") { i++; continue; }
    if (c === "#" && i > 0 && /\s/.test(text[i - 1])) break;
    if (c === "{" || c === "[") {
      const [path, at] = stack.length ? valuePath(stack[stack.length - 1]) : [basePath, baseAt];
      stack.push({ type: c === "{" ? "map" : "seq", path, at, state: "key", key: null, keys: [], index: 0, tokenStart: i + 1 });
      i++;
      continue;
    }
    if (!stack.length) break;
    const top = stack[stack.length - 1];
    if (c === "}" || c === "]") {
      stack.pop();
      if (!stack.length) return null;
      i++;
      continue;
    }
    if (c === ",") {
      top.state = "key";
      top.key = null;
      top.index++;
      top.tokenStart = i + 1;
      i++;
      continue;
    }
    if (c === ":" && top.type === "map") {  // "{: x}" or a key already read
      top.state = "value";
      top.tokenStart = i + 1;
      i++;
      continue;
    }
    // a scalar
    const sEnd = Math.min(scalarEnd(text, i, true), end);
    if (sEnd >= end && end < text.length) {  // the token the cursor is in: leave it open
      top.tokenStart = i;
      return top;
    }
    const raw = text.slice(i, sEnd);
    if (top.type === "map" && top.state === "key") {
      const after = skipSpaces(text, sEnd);
      const name = unquote(raw);
      if (after < end && text[after] === ":") {
        top.key = name;
        top.keys.push(name);
        visit && visit({ kind: "key", path: top.path.concat(name), at: top.at.concat(name), from: i, to: sEnd });
        top.state = "value";
        i = after + 1;
        top.tokenStart = i;
        continue;
      }
      if (after >= end) { top.tokenStart = i; return top; }
      i = sEnd === i ? i + 1 : sEnd;
      continue;
    }
    const [path, at] = valuePath(top);
    visit && visit({ kind: "value", path, at, from: i, to: sEnd, text: raw });
    i = sEnd === i ? i + 1 : sEnd;
  }
  return stack.length ? stack[stack.length - 1] : null;
}

function unquote(raw) {
  if (raw.length >= 2 && raw[0] === '"' && raw[raw.length - 1] === '"') return raw.slice(1, -1).replace(/\\(.)/g, "$1");
  if (raw.length >= 2 && raw[0] === "'" && raw[raw.length - 1] === "'") return raw.slice(1, -1).replace(/''/g, "'");
  return raw;
}

// One line's block structure: the dashes and keys that open it, and what follows.
// items: [{kind: "dash"|"key", col, name?, nameEnd?}], rest: where the value (or an
// unfinished key) starts, valueKind: "none"|"flow"|"block"|"scalar".
export function lineItems(text, stop) {
  const end = stop === undefined ? text.length : stop;
  const items = [];
  let pos = skipSpaces(text, 0);
  if (pos >= end || text[pos] === "#") return { items, rest: pos, valueKind: "none", blank: pos >= text.length || text[pos] === "#" };
  for (;;) {
    if (text[pos] === "-" && (pos + 1 >= text.length || text[pos + 1] === " " || text[pos + 1] === "\t") && pos < end) {
      items.push({ kind: "dash", col: pos });
      pos = skipSpaces(text, pos + 1);
      continue;
    }
    const key = pos < end ? keyAt(text, pos) : null;
    if (key && key.end <= end) {
      items.push({ kind: "key", col: pos, name: key.name, nameEnd: key.nameEnd });
      pos = skipSpaces(text, key.end);
      break;
    }
    break;
  }
  let valueKind = "none";
  const c = text[pos];
  if (pos < text.length && c !== "#") {
    if (c === "{" || c === "[") valueKind = "flow";
    else if ((c === "|" || c === ">") && /^[|>][-+0-9]*\s*(#.*)?$/.test(text.slice(pos))) valueKind = "block";
    else valueKind = "scalar";
  }
  return { items, rest: pos, valueKind, blank: false };
}

// The block-structure stack after a line: entries {kind, col, name, index (of a list item)}.
function pushLine(stack, items, firstCol) {
  let index = 0;
  if (items.length) {
    const first = items[0];
    while (stack.length) {
      const top = stack[stack.length - 1];
      if (top.col < first.col) break;
      // "key:\n- item": a list may sit at its key's own column
      if (first.kind === "dash" && top.kind === "key" && top.col === first.col && top.open) break;
      const popped = stack.pop();
      if (first.kind === "dash" && popped.kind === "dash" && popped.col === first.col) index = popped.index + 1;
    }
  } else if (firstCol !== undefined) {
    while (stack.length && stack[stack.length - 1].col >= firstCol) stack.pop();
  }
  items.forEach((it, k) => stack.push({ kind: it.kind, col: it.col, name: it.name, open: false, index: k === 0 ? index : 0 }));
}

const pathOf = (stack) => stack.map((e) => (e.kind === "dash" ? "[]" : e.name));
const atOf = (stack) => stack.map((e) => (e.kind === "dash" ? e.index : e.name));

// Walk the whole text: calls visit({kind: "key"|"value", path, from, to, text?, line})
// with offsets into `text`. Lines are split on "\n" (the editor's documents use "\n").
export function outline(text, visit, untilLine) {
  const lines = text.split("\n");
  const stack = [];
  let offset = 0;
  let blockIndent = -1;  // inside a block scalar (| or >) of a key at this column
  const last = untilLine === undefined ? lines.length : untilLine;
  for (let n = 0; n < last; n++) {
    const line = lines[n];
    const lineStart = offset;
    offset += line.length + 1;
    if (blockIndent >= 0) {
      const ind = skipSpaces(line, 0);
      if (ind >= line.length || ind > blockIndent) continue;
      blockIndent = -1;
    }
    const li = lineItems(line);
    if (li.blank) continue;
    pushLine(stack, li.items, li.rest);
    const top = stack[stack.length - 1];
    if (visit) {
      for (let k = 0; k < li.items.length; k++) {
        const it = li.items[k];
        if (it.kind === "key") {
          const depth = stack.length - li.items.length + k + 1;
          visit({ kind: "key", path: pathOf(stack.slice(0, depth)), at: atOf(stack.slice(0, depth)), from: lineStart + it.col, to: lineStart + it.nameEnd, line: n + 1 });
        }
      }
    }
    if (li.valueKind === "none" && top) top.open = true;
    if (li.valueKind === "block") blockIndent = top ? top.col : 0;
    if (li.valueKind === "scalar" && visit) {
      const end = scalarEnd(line, li.rest, false);
      // a value is only a value after a key or a dash ("a: 1", "- 1"); a bare word alone on its line is an unfinished key
      if (li.items.length) visit({ kind: "value", path: pathOf(stack), at: atOf(stack), from: lineStart + li.rest, to: lineStart + end, text: line.slice(li.rest, end), line: n + 1 });
    }
    if (li.valueKind === "flow" && visit) {
      scanFlow(line, li.rest, pathOf(stack), atOf(stack), undefined, (e) =>
        visit({ ...e, from: lineStart + e.from, to: lineStart + e.to, line: n + 1 }));
    }
  }
  return stack;
}

// What is at offset `pos`: {kind: "key", path (of the mapping), prefix, from, siblings}
// or {kind: "value", path (of the value), prefix, from} or null (in a comment, a block scalar).
export function contextAt(text, pos) {
  const lineStart = text.lastIndexOf("\n", pos - 1) + 1;
  let lineEnd = text.indexOf("\n", pos);
  if (lineEnd < 0) lineEnd = text.length;
  const line = text.slice(lineStart, lineEnd);
  const col = pos - lineStart;
  const lineNo = text.slice(0, lineStart).split("\n").length;  // 1-based
  const stack = outline(text, null, lineNo - 1);
  // inside a block scalar of an earlier key?
  const before = line.slice(0, col);
  const hash = commentStart(before);
  if (hash >= 0) return null;
  const li = lineItems(line, col);
  const items = li.items;
  const restCol = li.rest;
  pushLine(stack, items, items.length ? undefined : restCol);
  if (blockScalarAbove(text, lineStart, items.length ? items[0].col : restCol)) return null;
  const lastItem = items[items.length - 1];
  if (li.valueKind === "flow" && col > restCol) {
    const top = scanFlow(line, restCol, pathOf(stack), atOf(stack), col, null);
    if (!top) return null;
    const prefix = line.slice(skipSpaces(line, top.tokenStart), col);
    if (top.type === "map" && top.state === "key")
      return { kind: "key", path: top.path, prefix, from: pos - prefix.length, siblings: top.keys, flow: true };
    const path = top.type === "seq" ? top.path.concat("[]") : top.path.concat(top.key);
    return { kind: "value", path, prefix, from: pos - prefix.length, flow: true };
  }
  const prefix = line.slice(restCol, col);
  if (lastItem && lastItem.kind === "key") return { kind: "value", path: pathOf(stack), prefix, from: pos - prefix.length };
  // an unfinished key, or a list item's value after "- "
  const path = pathOf(stack);
  const siblings = siblingKeys(text, lineStart, lineEnd, restCol, items.length > 0);
  if (lastItem && lastItem.kind === "dash") return { kind: "key", path: path, item: true, prefix, from: pos - prefix.length, siblings };
  return { kind: "key", path, prefix, from: pos - prefix.length, siblings };
}

function commentStart(text) {
  let q = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) { if (c === q) q = null; continue; }
    if (c === '"' || c === "'") { if (i === 0 || /[\s:[{,]/.test(text[i - 1])) q = c; continue; }
    if (c === "#" && (i === 0 || /\s/.test(text[i - 1]))) return i;
  }
  return -1;
}

function blockScalarAbove(text, lineStart, col) {
  // walk up: the first line less indented than `col` that is not blank decides
  let end = lineStart - 1;
  while (end > 0) {
    const start = text.lastIndexOf("\n", end - 1) + 1;
    const line = text.slice(start, end);
    end = start - 1;
    const ind = skipSpaces(line, 0);
    if (ind >= line.length) continue;
    if (ind >= col) continue;
    const li = lineItems(line);
    return li.valueKind === "block";
  }
  return false;
}

// The keys already present in the block mapping whose keys sit at column `col`, around
// the line being typed (which itself does not count).
function siblingKeys(text, lineStart, lineEnd, col, opensHere) {
  let keys = [];
  const take = (li) => { for (const it of li.items) if (it.kind === "key" && it.col === col) keys.push(it.name); };
  const firstCol = (li) => (li.items.length ? li.items[0].col : li.rest);
  if (!opensHere) {  // upward, to the line that opens the mapping
    let end = lineStart - 1;
    while (end >= 0) {
      const start = end > 0 ? text.lastIndexOf("\n", end - 1) + 1 : 0;
      const li = lineItems(text.slice(start, end));
      end = start - 1;
      if (li.blank) continue;
      take(li);
      if (firstCol(li) < col) break;
    }
    keys = keys.reverse();  // in the order of the text
  }
  let start = lineEnd + 1;
  while (start <= text.length) {  // downward, to the first line outside it
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    const li = lineItems(text.slice(start, end));
    start = end + 1;
    if (li.blank) continue;
    if (firstCol(li) < col) break;
    take(li);
  }
  return keys;
}

// The scalar value at a key path: {from, to, text, line} (offsets into text) or null when
// the path is missing or holds a mapping or list. A number step is a list index
// (["size", 0]); "[]" matches any item (the first one found).
export function findValue(text, path) {
  let found = null;
  outline(text, (e) => {
    if (found || e.kind !== "value" || e.path.length !== path.length) return;
    for (let i = 0; i < path.length; i++) {
      const want = path[i];
      if (typeof want === "number" ? e.at[i] !== want : e.path[i] !== want) return;
    }
    found = { from: e.from, to: e.to, text: e.text, line: e.line };
  });
  return found;
}

// The key under offset `pos` (for hover): {path, from, to} or null.
export function keyAtPos(text, pos) {
  let hit = null;
  outline(text, (e) => {
    if (!hit && e.kind === "key" && e.from <= pos && pos <= e.to) hit = { path: e.path, from: e.from, to: e.to };
  });
  return hit;
}

// The value under offset `pos`: {path, from, to, text} or null.
export function valueAtPos(text, pos) {
  let hit = null;
  outline(text, (e) => {
    if (!hit && e.kind === "value" && e.from <= pos && pos <= e.to) hit = { path: e.path, from: e.from, to: e.to, text: e.text };
  });
  return hit;
}
