// The editor's pure logic (no browser): key paths from YAML text, the schema along a path,
// the line diff. Run: node --test editor/test/  (tests/test_editor_bundle.py runs it, with
// CPPN_SCHEMA naming a file that holds `cppn-anim schema`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { contextAt, findValue, keyAtPos, valueAtPos } from "../src/yamlpath.js";
import { keysAt, valuesAt, describe } from "../src/schema.js";
import { diffChanges } from "../src/diff.js";

const at = (text) => {  // "‸" marks the cursor
  const pos = text.indexOf("‸");
  return contextAt(text.slice(0, pos) + text.slice(pos + 1), pos);
};
const pick = (c) => c && { kind: c.kind, path: c.path, prefix: c.prefix, ...(c.siblings ? { siblings: c.siblings } : {}) };

test("block mappings: the key path from indentation", () => {
  assert.deepEqual(pick(at("‸")), { kind: "key", path: [], prefix: "", siblings: [] });
  assert.deepEqual(pick(at("seed: 1\nnetwork:\n  ‸")), { kind: "key", path: ["network"], prefix: "", siblings: [] });
  assert.deepEqual(pick(at("network:\n  width: 3\n  act‸\n  depth: 2\nseed: 1\n")),
    { kind: "key", path: ["network"], prefix: "act", siblings: ["width", "depth"] });
  assert.deepEqual(pick(at("seed: 1\nnetwork:\n  width: 3\nse‸")), { kind: "key", path: [], prefix: "se", siblings: ["seed", "network"] });
  assert.deepEqual(pick(at("network:\n  activation: ta‸")), { kind: "value", path: ["network", "activation"], prefix: "ta" });
  assert.deepEqual(pick(at("output:\n  format: ‸  # comment")), { kind: "value", path: ["output", "format"], prefix: "" });
  assert.deepEqual(pick(at("network:\n\n  # a comment\n\n  color: ‸")), { kind: "value", path: ["network", "color"], prefix: "" });
  assert.deepEqual(pick(at('"animate":\n  "view.zoom":\n    ea‸')), { kind: "key", path: ["animate", "view.zoom"], prefix: "ea", siblings: [] });
});

test("lists: block items, compact and indented, and scalars", () => {
  const kf = "trajectory:\n  keyframes:\n    - at: 0\n      z: random\n    - at: 1\n      ‸\n";
  assert.deepEqual(pick(at(kf)), { kind: "key", path: ["trajectory", "keyframes", "[]"], prefix: "", siblings: ["at"] });
  assert.deepEqual(pick(at("trajectory:\n  keyframes:\n  - at: 0\n    z: ra‸")), { kind: "value", path: ["trajectory", "keyframes", "[]", "z"], prefix: "ra" });
  assert.deepEqual(pick(at("trajectory:\n  keyframes:\n  - at: 0\n    z: 1\n  - ‸")), { kind: "key", path: ["trajectory", "keyframes", "[]"], prefix: "", siblings: [] });
  assert.equal(at("network:\n  inputs:\n    - x\n    - ‸").item, true);
  assert.deepEqual(at("network:\n  inputs:\n    - x\n    - ‸").path, ["network", "inputs", "[]"]);
});

test("flow collections within a line", () => {
  assert.deepEqual(pick(at("network: {latent_dim: 3, act‸}")), { kind: "key", path: ["network"], prefix: "act", siblings: ["latent_dim"] });
  assert.deepEqual(pick(at("network: {activation: s‸, width: 3}")), { kind: "value", path: ["network", "activation"], prefix: "s" });
  assert.deepEqual(pick(at("trajectory:\n  keyframes:\n    - {at: 0, z: r‸}")), { kind: "value", path: ["trajectory", "keyframes", "[]", "z"], prefix: "r" });
  assert.deepEqual(pick(at("network:\n  activation: [tanh, s‸")), { kind: "value", path: ["network", "activation", "[]"], prefix: "s" });
  assert.deepEqual(pick(at("size: [1‸")), { kind: "value", path: ["size", "[]"], prefix: "1" });
});

test("comments and block scalars have no completions", () => {
  assert.equal(at("seed: 1 # a co‸"), null);
  assert.equal(at("# a co‸"), null);
  assert.equal(at("name: |\n  some text\n  te‸"), null);
});

test("findValue: the scalar at a path, comments and layout kept out", () => {
  const text = 'name: "螺旋"  # a name\nseed: 4  # the seed\nsize: [160, 90]\nnetwork: {latent_dim: 3, width: 8}\n' +
    "view:\n  zoom: 1.5\nanimate:\n  view.zoom:\n    keyframes:\n      - {at: 0, value: 1}\n      - at: 2\n        value: 3\n" +
    "trajectory:\n  keyframes:\n  - at: 0\n    z: random\n  - at: 1.5\n    z: {seed: 7}\n";
  const v = (path) => { const f = findValue(text, path); return f && text.slice(f.from, f.to); };
  assert.equal(v(["name"]), '"螺旋"');
  assert.equal(v(["seed"]), "4");
  assert.equal(v(["size", 1]), "90");
  assert.equal(v(["network", "width"]), "8");
  assert.equal(v(["view", "zoom"]), "1.5");
  assert.equal(v(["animate", "view.zoom", "keyframes", 0, "value"]), "1");
  assert.equal(v(["animate", "view.zoom", "keyframes", 1, "value"]), "3");
  assert.equal(v(["trajectory", "keyframes", 1, "at"]), "1.5");
  assert.equal(v(["trajectory", "keyframes", 1, "z", "seed"]), "7");
  assert.equal(v(["trajectory", "keyframes", 0, "z"]), "random");
  assert.equal(v(["network"]), null);   // a mapping, not one value
  assert.equal(v(["network", "depth"]), null);  // missing
  assert.equal(findValue(text, ["seed"]).line, 2);
});

test("keyAtPos and valueAtPos", () => {
  const text = "network:\n  latent_dim: 3\noutput: {format: gif}\n";
  assert.deepEqual(keyAtPos(text, text.indexOf("tent")).path, ["network", "latent_dim"]);
  assert.deepEqual(keyAtPos(text, text.indexOf("rmat")).path, ["output", "format"]);
  assert.equal(keyAtPos(text, text.indexOf("gif")), null);
  assert.deepEqual(valueAtPos(text, text.indexOf("gif")).path, ["output", "format"]);
});

test("diffChanges: applied, gives the new text; unchanged lines are not touched", () => {
  const apply = (a, ch) => { let out = "", pos = 0; for (const c of ch) { out += a.slice(pos, c.from) + c.insert; pos = c.to; } return out + a.slice(pos); };
  let seed = 7;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  const parts = ["a", "b", "\n", "🌀", "x: 1\n", ""];
  for (let k = 0; k < 5000; k++) {
    const mk = () => Array.from({ length: rnd(12) }, () => parts[rnd(parts.length)]).join("");
    const a = mk(), b = mk();
    const ch = diffChanges(a, b);
    assert.equal(apply(a, ch), b, JSON.stringify([a, b, ch]));
    for (let i = 1; i < ch.length; i++) assert.ok(ch[i].from >= ch[i - 1].to);
  }
  assert.deepEqual(diffChanges("# a\nseed: 4\nformat: gif\n", "# the\nseed: 4\nformat: mp4\n"),
    [{ from: 2, to: 3, insert: "the" }, { from: 20, to: 23, insert: "mp4" }]);
});

const schemaFile = process.env.CPPN_SCHEMA;
test("the scene's schema along a path", { skip: !schemaFile && "CPPN_SCHEMA not set" }, () => {
  const schema = JSON.parse(readFileSync(schemaFile, "utf8"));
  assert.ok(keysAt(schema, []).has("network") && keysAt(schema, []).has("trajectory"));
  assert.ok(keysAt(schema, ["network"]).has("activation"));
  assert.deepEqual([...keysAt(schema, ["trajectory", "keyframes", "[]"]).keys()].sort(), ["at", "ease", "z"]);
  assert.ok(keysAt(schema, ["trajectory", "keyframes", "[]", "z"]).has("seed"));
  assert.ok(keysAt(schema, ["animate", "view.zoom"]).has("keyframes"));
  assert.ok(keysAt(schema, ["animate", "view.zoom", "[]"]).has("value"));
  assert.ok(valuesAt(schema, ["network", "activation"]).includes("sin"));
  assert.ok(valuesAt(schema, ["network", "activation", "[]"]).includes("gaussian"));
  assert.deepEqual(valuesAt(schema, ["output", "format"]), ["mp4", "gif", "webm", "png"]);
  assert.ok(valuesAt(schema, ["trajectory", "ease"]).includes("in_out_sine"));
  assert.ok(valuesAt(schema, ["trajectory", "keyframes", "[]", "ease"]).includes("null"));
  assert.deepEqual(valuesAt(schema, ["trajectory", "loop"]), ["true", "false"]);
  assert.ok(valuesAt(schema, ["trajectory", "keyframes", "[]", "z"]).includes("random"));
  const d = describe(schema, ["network", "latent_dim"]);
  assert.equal(d.description, "length of z");
  assert.equal(d.default, "8");
  assert.equal(d.type, "integer");
  assert.equal(describe(schema, ["trajectory", "keyframes", "[]", "at"]).required, true);
  assert.equal(describe(schema, ["nope"]), null);
});
