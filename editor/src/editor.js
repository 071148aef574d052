// cppn-anim studio: the scene editor (CodeMirror 6), built into one IIFE bundle,
// cppn_anim/studio_assets/editor.bundle.js, that defines window.CppnEditor.
// API and rules: editor/README.md.

import { EditorState, Compartment, StateField, StateEffect, Annotation, Prec, RangeSet, MapMode, ChangeSet, Transaction } from "@codemirror/state";
import {
  EditorView, keymap, lineNumbers, highlightActiveLineGutter, highlightSpecialChars, drawSelection,
  dropCursor, highlightActiveLine, hoverTooltip, gutterLineClass, GutterMarker, Decoration, ViewPlugin,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab, insertNewline, undo, redo, undoDepth, redoDepth } from "@codemirror/commands";
import { syntaxHighlighting, HighlightStyle, bracketMatching, indentUnit, indentOnInput } from "@codemirror/language";
import { autocompletion, completionKeymap, startCompletion } from "@codemirror/autocomplete";
import { setDiagnostics, lintGutter, lintKeymap } from "@codemirror/lint";
import { search, searchKeymap, highlightSelectionMatches } from "@codemirror/search";
import { yaml } from "@codemirror/lang-yaml";
import { tags as t } from "@lezer/highlight";

import { diffChanges } from "./diff.js";
import { contextAt, findValue, keyAtPos, valueAtPos, outline } from "./yamlpath.js";
import { keysAt, valuesAt, describe, propertyAt, schemasAt } from "./schema.js";

const VERSION = "1";
const LOG_LIMIT = 500;        // revisions kept for mapping replaceRange({revision}) from older texts
const GROUP_DELAY_MS = 1000;  // replaceRange calls of one group this close together are one undo step
const RENDER_ALL_LINES = 3000; // documents up to this many lines are drawn whole (see renderAll)

// ------------------------------------------------------------------ state

const origin = Annotation.define();   // "setText" | "replaceRange" on our own transactions
const group = Annotation.define();    // replaceRange's undo group

// The revision: +1 for every transaction that changes the document, whatever its source.
const revisionField = StateField.define({
  create: () => 0,
  update: (value, tr) => (tr.docChanged ? value + 1 : value),
});

// The undo group of the last document change (null when it was not a grouped replaceRange).
const lastGroupField = StateField.define({
  create: () => ({ group: null, time: 0 }),
  update: (value, tr) => (tr.docChanged ? { group: tr.annotation(group) ?? null, time: Date.now() } : value),
});

// The error mark: {from, to, message} mapped through edits, or null.
const setError = StateEffect.define();
class ErrorLineMarker extends GutterMarker {
  constructor() { super(); this.elementClass = "cppn-error-line"; }
}
const errorLineMarker = new ErrorLineMarker();
const errorLineDeco = Decoration.line({ class: "cppn-error-line" });
const errorField = StateField.define({
  create: () => null,
  update(value, tr) {
    for (const e of tr.effects) if (e.is(setError)) return e.value;
    if (value && tr.docChanged) {
      const from = tr.changes.mapPos(value.from, 1);
      const to = Math.max(from, tr.changes.mapPos(value.to, -1));
      return { ...value, from, to };
    }
    return value;
  },
  provide: (f) => [
    gutterLineClass.compute([f], (state) => {
      const e = state.field(f);
      return e ? RangeSet.of([errorLineMarker.range(state.doc.lineAt(e.from).from)]) : RangeSet.empty;
    }),
    EditorView.decorations.compute([f], (state) => {
      const e = state.field(f);
      return e ? Decoration.set([errorLineDeco.range(state.doc.lineAt(e.from).from)]) : Decoration.none;
    }),
  ],
});

// CodeMirror draws only the lines in and near the visible part. A scene is short, so we draw
// all of it: the element's text (Playwright's inner_text, find in page, screen readers) is
// the whole document. This uses the mode CodeMirror itself uses for printing
// (viewState.printing), an internal of @codemirror/view 6.x, pinned in package-lock.json;
// the browser test checks that it still works after an upgrade.
function renderAll(limit) {
  const apply = (view) => {
    const on = view.state.doc.lines <= limit;
    const vs = view.viewState;
    if (vs && vs.printing !== on && typeof vs.printing === "boolean") {
      vs.printing = on;
      view.requestMeasure();
    }
  };
  return ViewPlugin.define((view) => {
    apply(view);
    return { update: (u) => apply(u.view) };
  });
}

// ------------------------------------------------------------------ look

const theme = EditorView.theme({
  "&": { height: "100%", color: "var(--fg, #e6e6e6)", backgroundColor: "var(--bg, #15161a)", fontSize: "13px" },
  ".cm-scroller": { fontFamily: "ui-monospace, Menlo, Consolas, monospace", lineHeight: "var(--line, 18px)", overflow: "auto" },
  ".cm-content": { caretColor: "var(--fg, #e6e6e6)", padding: "8px 0" },
  ".cm-cursor, .cm-dropCursor": { borderLeftColor: "var(--fg, #e6e6e6)" },
  "&.cm-focused .cm-selectionBackground, .cm-selectionBackground, .cm-content ::selection": { backgroundColor: "#33415e" },
  ".cm-activeLine": { backgroundColor: "#ffffff08" },
  ".cm-gutters": { backgroundColor: "var(--panel, #1d1f25)", color: "var(--muted, #8a8f98)", border: "none" },
  ".cm-activeLineGutter": { backgroundColor: "#ffffff10" },
  ".cm-lineNumbers .cm-gutterElement": { padding: "0 8px 0 6px", minWidth: "3ch" },
  ".cm-lineNumbers .cm-gutterElement.cppn-error-line": { color: "#fff", backgroundColor: "var(--err, #ff6b6b)", borderRadius: "3px" },
  ".cm-line.cppn-error-line": { backgroundColor: "rgba(255, 107, 107, .14)" },
  ".cm-matchingBracket, &.cm-focused .cm-matchingBracket": { backgroundColor: "#7aa2f740", outline: "1px solid #7aa2f780" },
  ".cm-nonmatchingBracket": { color: "var(--err, #ff6b6b)" },
  ".cm-searchMatch": { backgroundColor: "#e0af6840", outline: "1px solid #e0af6880" },
  ".cm-searchMatch.cm-searchMatch-selected": { backgroundColor: "#e0af6890" },
  ".cm-selectionMatch": { backgroundColor: "#ffffff18" },
  ".cm-tooltip": { backgroundColor: "var(--panel, #1d1f25)", color: "var(--fg, #e6e6e6)", border: "1px solid #3a3e48", borderRadius: "4px" },
  ".cm-tooltip-autocomplete > ul > li[aria-selected]": { backgroundColor: "#33415e", color: "var(--fg, #e6e6e6)" },
  ".cm-completionDetail": { color: "var(--muted, #8a8f98)", marginLeft: "1em" },
  ".cm-panels": { backgroundColor: "var(--panel, #1d1f25)", color: "var(--fg, #e6e6e6)" },
  ".cm-panel input, .cm-panel button": { color: "inherit" },
  ".cm-textfield": { backgroundColor: "#2a2d35", border: "1px solid #3a3e48" },
  ".cm-button": { backgroundImage: "none", backgroundColor: "#2a2d35", border: "1px solid #3a3e48" },
  ".cppn-hover": { padding: "6px 10px", maxWidth: "42em", fontFamily: "system-ui, sans-serif", fontSize: "13px", lineHeight: "1.4" },
  ".cppn-hover .cppn-hover-key": { fontFamily: "ui-monospace, monospace", fontWeight: "bold" },
  ".cppn-hover .cppn-hover-meta": { color: "var(--muted, #8a8f98)", fontFamily: "ui-monospace, monospace", fontSize: "12px" },
  ".cm-diagnostic-error": { borderLeftColor: "var(--err, #ff6b6b)" },
}, { dark: true });

const highlight = HighlightStyle.define([
  { tag: [t.propertyName, t.definition(t.propertyName)], color: "#7aa2f7" },
  { tag: [t.string, t.special(t.string), t.content], color: "#9ece6a" },
  { tag: [t.number, t.bool, t.null, t.atom], color: "#ff9e64" },
  { tag: [t.comment, t.lineComment], color: "#8a8f98", fontStyle: "italic" },
  { tag: [t.keyword, t.typeName, t.labelName, t.meta, t.processingInstruction], color: "#bb9af7" },
  { tag: [t.separator, t.punctuation, t.squareBracket, t.brace], color: "#c0caf5" },
  { tag: t.invalid, color: "#ff6b6b" },
]);

// ------------------------------------------------------------------ helpers

// 1-based line and column (columns in code points, as Python counts them) -> offset.
function offsetOf(doc, line, col) {
  const n = Math.min(Math.max(1, Math.floor(line) || 1), doc.lines);
  const l = doc.line(n);
  let c = Math.max(1, Math.floor(col) || 1) - 1;
  let i = 0;
  while (c > 0 && i < l.length) {
    const code = l.text.codePointAt(i);
    i += code > 0xffff ? 2 : 1;
    c--;
  }
  return l.from + i;
}

function tokenEnd(doc, pos) {
  const l = doc.lineAt(pos);
  const m = /^[^\s:,{}[\]#]*/.exec(l.text.slice(pos - l.from));
  return pos + (m ? m[0].length : 0);
}

function splitPath(path) {
  if (Array.isArray(path)) return path;
  return String(path).split(".").filter((s) => s.length).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// ------------------------------------------------------------------ completion and hover

function completionSource(getSchema) {
  return (context) => {
    const schema = getSchema();
    if (!schema) return null;
    const word = context.matchBefore(/[\w.\-]*/);
    if (!context.explicit && (!word || word.from === word.to)) return null;
    const text = context.state.doc.toString();
    const where = contextAt(text, context.pos);
    if (!where) return null;
    const options = [];
    if (where.kind === "key") {
      const siblings = new Set(where.siblings || []);
      for (const [name, prop] of keysAt(schema, where.path)) {
        if (siblings.has(name)) continue;
        const info = describe(schema, where.path.concat(name));
        options.push({
          label: name,
          apply: `${name}: `,
          type: "property",
          detail: info && info.type ? info.type : undefined,
          info: info ? () => hoverBody(info) : undefined,
          boost: info && info.required ? 1 : 0,
        });
      }
      if (where.item) for (const v of valuesAt(schema, where.path)) options.push({ label: v, type: "enum" });
    } else {
      for (const v of valuesAt(schema, where.path)) options.push({ label: v, type: "enum" });
    }
    // a word typed out in full is not offered again: Enter after it makes a new line
    const typed = word ? context.state.sliceDoc(word.from, word.to) : "";
    const offered = options.filter((o) => o.label !== typed);
    if (!offered.length) return null;
    const labels = new Set(options.map((o) => o.label));
    // typing on keeps this list, until the word is one of its labels in full (then ask again)
    return { from: word ? word.from : context.pos, options: offered, validFor: (w) => /^[\w.\-]*$/.test(w) && !labels.has(w) };
  };
}

function hoverBody(info) {
  const box = el("div", "cppn-hover");
  box.setAttribute("data-testid", "editor-hover");
  const head = el("div");
  head.append(el("span", "cppn-hover-key", info.path || info.key));
  if (info.type) head.append(el("span", "cppn-hover-meta", `  ${info.type}${info.required ? ", required" : ""}`));
  box.append(head);
  if (info.description) box.append(el("div", "cppn-hover-description", info.description));
  const meta = [];
  if (info.default !== undefined) meta.push(`default: ${info.default}`);
  if (info.bounds) meta.push(info.bounds);
  if (info.values.length) meta.push(`one of: ${info.values.slice(0, 40).join(", ")}${info.values.length > 40 ? ", ..." : ""}`);
  for (const m of meta) box.append(el("div", "cppn-hover-meta", m));
  return box;
}

function hoverSource(getSchema) {
  return (view, pos) => {
    const schema = getSchema();
    if (!schema) return null;
    const text = view.state.doc.toString();
    let hit = keyAtPos(text, pos);
    let from, to, path;
    if (hit) ({ from, to, path } = hit);
    else {
      hit = valueAtPos(text, pos);
      if (!hit) return null;
      ({ from, to, path } = hit);
      // a list item: describe the list's key
      while (path.length && path[path.length - 1] === "[]") path = path.slice(0, -1);
    }
    const info = path.length ? describe(schema, path) : null;
    if (!info) return null;
    return { pos: from, end: to, above: true, create: () => ({ dom: hoverBody(info) }) };
  };
}

// ------------------------------------------------------------------ the editor

function create(parent, options = {}) {
  if (!parent || !parent.appendChild) throw new TypeError("CppnEditor.create(parent, options): parent must be an element");
  let schema = options.schema || null;
  const onChange = options.onChange || null;
  const onSave = options.onSave || null;
  const log = [];  // [{revision (after), changes}], oldest first
  const readOnly = new Compartment();
  const newline = new Compartment();

  const saveKeys = [{ key: "Mod-s", preventDefault: true, run: (view) => { if (onSave) onSave(view.state.doc.toString(), view.state.field(revisionField)); return true; } }];
  const extraKeys = (options.keymap || []).map((b) => ({
    key: b.key, preventDefault: true,
    run: (view) => { const r = b.run(api); return r === undefined ? true : !!r; },
  }));

  const extensions = [
    revisionField, lastGroupField, errorField,
    lineNumbers(), highlightActiveLineGutter(), highlightSpecialChars(),
    history({
      joinToEvent: (tr, adjacent) => {  // typing as usual; successive slider moves: one undo step
        if (adjacent) return true;
        const g = tr.annotation(group);
        const last = tr.startState.field(lastGroupField);
        return g != null && g === last.group && Date.now() - last.time < GROUP_DELAY_MS;
      },
    }),
    drawSelection(), dropCursor(), EditorState.allowMultipleSelections.of(true),
    indentOnInput(), indentUnit.of("  "), EditorState.tabSize.of(2),
    yaml(), syntaxHighlighting(highlight), bracketMatching(),
    // prefix matches only: "sin" does not offer "gaussian", so Enter after a typed-out value is a new line
    autocompletion({ override: [completionSource(() => schema)], icons: false, filterStrict: true }),
    hoverTooltip(hoverSource(() => schema), { hoverTime: 250 }),
    lintGutter(), search({ top: true }), highlightSelectionMatches(), highlightActiveLine(),
    renderAll(options.renderAllLines ?? RENDER_ALL_LINES),
    Prec.highest(keymap.of(saveKeys.concat(extraKeys))),
    newline.of(options.autoIndent === false ? Prec.high(keymap.of([{ key: "Enter", run: insertNewline }])) : []),
    keymap.of([...completionKeymap, ...defaultKeymap, ...searchKeymap, ...historyKeymap, ...lintKeymap, indentWithTab]),
    readOnly.of(readOnlyExt(!!options.readOnly)),
    EditorView.contentAttributes.of({
      "data-testid": options.testid || "editor",
      "aria-label": options.label || "scene YAML",
      spellcheck: "false", autocorrect: "off", autocapitalize: "off",
    }),
    theme,
    EditorView.updateListener.of((update) => {
      if (!update.docChanged) return;
      let rev = update.startState.field(revisionField);
      for (const tr of update.transactions) {
        if (!tr.docChanged) continue;
        rev += 1;
        log.push({ revision: rev, changes: tr.changes });
      }
      if (log.length > LOG_LIMIT) log.splice(0, log.length - LOG_LIMIT);
      if (!onChange) return;
      const last = update.transactions[update.transactions.length - 1];
      const source = update.transactions.map((tr) => tr.annotation(origin)).find((o) => o) || null;
      const info = {
        user: !source,
        origin: source || (last.isUserEvent("undo") ? "undo" : last.isUserEvent("redo") ? "redo" : "input"),
      };
      try { onChange(update.state.doc.toString(), update.state.field(revisionField), info); }
      catch (e) { setTimeout(() => { throw e; }); }  // the editor's own update must finish
    }),
  ];
  if (Array.isArray(options.extensions)) extensions.push(...options.extensions);
  // (options.extensions: more CodeMirror extensions, for whoever needs them; not part of the contract)

  const view = new EditorView({
    parent,
    state: EditorState.create({ doc: normalize(options.text ?? ""), extensions }),
  });

  if (options.autofocus) view.focus();

  // Scripts (and Playwright's evaluate / to_have_js_property) read the exact document from
  // the element: `value`, as on a textarea. Setting it is setText.
  const content = view.contentDOM;
  Object.defineProperty(content, "value", {
    configurable: true,
    get: () => view.state.doc.toString(),
    set: (text) => { api.setText(String(text)); },
  });

  function rev() { return view.state.field(revisionField); }

  function changesSince(revision) {
    if (revision === rev()) return ChangeSet.empty(view.state.doc.length);
    const start = log.findIndex((e) => e.revision === revision + 1);
    if (start < 0) return null;  // too old (or from the future)
    let set = log[start].changes;
    for (let i = start + 1; i < log.length; i++) set = set.compose(log[i].changes);
    return set;
  }

  const api = {
    version: VERSION,
    view,
    element: content,

    getText: () => view.state.doc.toString(),
    revision: rev,

    // Replace the whole text (loading from disk, a server's text). Only the part that
    // differs is changed, so the cursor, the selection and the scroll stay where they were
    // when outside it. Returns the new revision (the same when nothing changed).
    setText(text, opts = {}) {
      text = normalize(String(text ?? ""));
      const changes = diffChanges(view.state.doc.toString(), text);
      if (!changes.length) return rev();
      view.dispatch({
        changes,
        userEvent: "set",  // not joined with typing into one undo step
        annotations: [origin.of("setText"), ...(opts.history === false ? historyOff() : [])],
        effects: opts.clearError ? setError.of(null) : [],
      });
      return rev();
    },

    // Replace [from, to) with `insert`; offsets index getText() (JS string offsets). With
    // opts.revision, the offsets refer to the text of that revision and are mapped through
    // the changes made since; null (nothing changed) when that range was edited since, or the
    // revision is unknown. opts.group: calls with the same group within a second make one
    // undo step (a slider drag); opts.history === false: not undoable. Returns the new revision.
    replaceRange(from, to, insert, opts = {}) {
      let a = from, b = to;
      const len = view.state.doc.length;
      if (opts.revision !== undefined && opts.revision !== null && opts.revision !== rev()) {
        const changes = changesSince(opts.revision);
        if (!changes || b > changes.length || a < 0) return null;
        if (changes.touchesRange(a, b)) return null;
        a = changes.mapPos(a, 1, MapMode.TrackDel);
        b = changes.mapPos(b, -1, MapMode.TrackDel);
        if (a === null || b === null) return null;
        if (b < a) b = a;
      }
      if (!(Number.isInteger(a) && Number.isInteger(b) && a >= 0 && b >= a && b <= len)) {
        throw new RangeError(`replaceRange: ${from}..${to} is outside the text (0..${len})`);
      }
      const annotations = [origin.of("replaceRange")];
      if (opts.group != null) annotations.push(group.of(String(opts.group)));
      if (opts.history === false) annotations.push(...historyOff());
      view.dispatch({ changes: { from: a, to: b, insert: normalize(String(insert)) }, annotations });
      return rev();
    },

    // The scalar at a key path ("network.contrast", or ["animate", "view.zoom"]; a number
    // step is a list index): {from, to, text, line} or null (missing, or not one value).
    findValue(path) {
      return findValue(view.state.doc.toString(), splitPath(path));
    },

    // Set the scalar at a key path to `literal` (YAML text, e.g. "1.5"), keeping the rest of
    // the line (comments) and the cursor. null when there is no such scalar in the text (the
    // caller may then ask the server to add the key). Returns the new revision.
    setValue(path, literal, opts = {}) {
      const found = api.findValue(path);
      if (!found) return null;
      if (found.text === String(literal)) return rev();
      return api.replaceRange(found.from, found.to, String(literal), { group: opts.group ?? "value:" + splitPath(path).join("."), history: opts.history });
    },

    // The error at 1-based line/column (columns in code points, as in FILE:LINE:COL): the line
    // number and the line are marked, the token at the column underlined, the message shown
    // on hover. Past the end: clamped. line null: clears. Moves with later edits.
    markError(line, col, message) {
      if (line === null || line === undefined) return api.clearError();
      const doc = view.state.doc;
      const from = offsetOf(doc, line, col || 1);
      const to = tokenEnd(doc, from);
      const msg = String(message ?? "");
      const lint = setDiagnostics(view.state, [{ from, to, severity: "error", message: msg }]);
      view.dispatch({ effects: [].concat(lint.effects || [], setError.of({ from, to, message: msg })) });
      return true;
    },
    clearError() {
      const lint = setDiagnostics(view.state, []);
      view.dispatch({ effects: [].concat(lint.effects || [], setError.of(null)) });
      return true;
    },
    // {line, col, message} of the marked error where it is now (after edits), or null.
    error() {
      const e = view.state.field(errorField);
      if (!e) return null;
      const l = view.state.doc.lineAt(e.from);
      return { line: l.number, col: [...l.text.slice(0, e.from - l.from)].length + 1, message: e.message };
    },

    focus() { view.focus(); },
    hasFocus: () => view.hasFocus,
    blur() { view.contentDOM.blur(); },

    setSchema(s) { schema = s || null; },
    schema: () => schema,
    setReadOnly(on) { view.dispatch({ effects: readOnly.reconfigure(readOnlyExt(!!on)) }); },
    setAutoIndent(on) {
      view.dispatch({ effects: newline.reconfigure(on ? [] : Prec.high(keymap.of([{ key: "Enter", run: insertNewline }]))) });
    },

    // Cursor/selection as offsets into getText().
    getSelection() { const r = view.state.selection.main; return { anchor: r.anchor, head: r.head, from: r.from, to: r.to }; },
    setSelection(anchor, head = anchor) {
      const len = view.state.doc.length;
      view.dispatch({ selection: { anchor: clamp(anchor, len), head: clamp(head, len) }, scrollIntoView: true });
    },
    // offset of 1-based line/column (code points)
    offsetOf: (line, col) => offsetOf(view.state.doc, line, col),

    undo: () => undo(view),
    redo: () => redo(view),
    canUndo: () => undoDepth(view.state) > 0,
    canRedo: () => redoDepth(view.state) > 0,
    startCompletion: () => startCompletion(view),

    destroy() { view.destroy(); },

    // For tests and tools: the key path and kind at an offset, and what the schema says.
    contextAt: (pos) => contextAt(view.state.doc.toString(), pos ?? view.state.selection.main.head),
    describe: (path) => (schema ? describe(schema, splitPath(path)) : null),
  };
  content.cppnEditor = api;
  return api;
}

function readOnlyExt(on) { return [EditorState.readOnly.of(on), EditorView.editable.of(!on)]; }
function historyOff() { return [Transaction.addToHistory.of(false)]; }
function normalize(text) { return text.replace(/\r\n?/g, "\n"); }
function clamp(n, len) { return Math.max(0, Math.min(len, Math.floor(Number(n)) || 0)); }

// EOL of a text: "\r\n" when every line break in it is CRLF, else "\n".
function eolOf(text) {
  const crlf = (text.match(/\r\n/g) || []).length;
  const lf = (text.match(/\n/g) || []).length;
  return crlf && crlf === lf ? "\r\n" : "\n";
}

window.CppnEditor = Object.freeze({ version: VERSION, create, eolOf, _internal: { contextAt, findValue, outline, keysAt, valuesAt, describe, propertyAt, schemasAt } });
