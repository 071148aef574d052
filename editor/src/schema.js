// Reading a JSON Schema (draft 2020-12, as pydantic writes it) along a YAML key path:
// which keys a mapping may hold, which values a key takes, and what to say about a key.
// Only local references ("#/$defs/Name") are followed.

export function resolve(root, s, seen = 0) {
  while (s && typeof s === "object" && typeof s.$ref === "string" && seen < 32) {
    const ref = s.$ref;
    if (!ref.startsWith("#/")) return s;
    let node = root;
    for (const part of ref.slice(2).split("/")) node = node && node[part.replace(/~1/g, "/").replace(/~0/g, "~")];
    if (!node) return {};
    // sibling keywords of $ref (default, description) stay on the outer schema
    s = node;
    seen++;
  }
  return s && typeof s === "object" ? s : {};
}

// The concrete alternatives of a schema: anyOf/oneOf/allOf flattened, $refs followed.
export function alternatives(root, s, depth = 0) {
  s = resolve(root, s);
  const out = [];
  const subs = [].concat(s.anyOf || [], s.oneOf || [], s.allOf || []);
  if (subs.length && depth < 16) {
    const own = { ...s };
    delete own.anyOf; delete own.oneOf; delete own.allOf;
    if (own.type || own.properties || own.enum || own.items || own.const !== undefined) out.push(own);
    for (const sub of subs) out.push(...alternatives(root, sub, depth + 1));
  } else out.push(s);
  return out;
}

// The schemas a path may lead to (each a concrete alternative).
export function schemasAt(root, path) {
  let current = root ? alternatives(root, root) : [];
  for (const step of path) {
    const next = [];
    for (const s of current) {
      if (step === "[]") {
        if (s.items && typeof s.items === "object") next.push(...alternatives(root, s.items));
        if (Array.isArray(s.prefixItems)) for (const p of s.prefixItems) next.push(...alternatives(root, p));
      } else if (s.properties && Object.prototype.hasOwnProperty.call(s.properties, step)) {
        next.push(...alternatives(root, s.properties[step]));
      }
    }
    current = next;
    if (!current.length) break;
  }
  return current;
}

// The property schema (unresolved, with its own description/default) of the last step.
export function propertyAt(root, path) {
  if (!root || !path.length) return null;
  const parents = schemasAt(root, path.slice(0, -1));
  const key = path[path.length - 1];
  for (const s of parents) {
    if (key === "[]" && s.items) return s.items;
    if (s.properties && Object.prototype.hasOwnProperty.call(s.properties, key)) return s.properties[key];
  }
  return null;
}

// {name: propertySchema} of the mappings a path may hold.
export function keysAt(root, path) {
  const keys = new Map();
  for (const s of schemasAt(root, path)) {
    if (!s.properties) continue;
    for (const [name, prop] of Object.entries(s.properties)) if (!keys.has(name)) keys.set(name, prop);
  }
  return keys;
}

// The values a path may take from a fixed list: enum, const, booleans, null. [{label, type}]
export function valuesAt(root, path) {
  const values = [];
  const seen = new Set();
  const add = (v) => {
    const label = v === null ? "null" : typeof v === "string" ? v : JSON.stringify(v);
    if (!seen.has(label)) { seen.add(label); values.push(label); }
  };
  for (const s of schemasAt(root, path)) {
    if (Array.isArray(s.enum)) s.enum.forEach(add);
    if (s.const !== undefined) add(s.const);
    if (s.type === "boolean") { add(true); add(false); }
  }
  for (const s of schemasAt(root, path)) if (s.type === "null") add(null);
  return values;
}

const compact = (v) => {
  const text = JSON.stringify(v);
  return text === undefined ? String(v) : text.length > 60 ? text.slice(0, 57) + "..." : text;
};

// What the schema says about the key at `path`: {title, description, default?, type, values}
export function describe(root, path) {
  const prop = propertyAt(root, path);
  if (!prop) return null;
  const alts = alternatives(root, prop);
  const outer = resolve(root, prop);
  let description = prop.description || outer.description || "";
  if (!description) for (const a of alts) if (a.description) { description = a.description; break; }
  const types = [];
  for (const a of alts) {
    let t = a.type;
    if (t === "array" && a.items) {
      const inner = alternatives(root, a.items).map((i) => i.type || (i.properties ? "object" : i.enum ? "string" : "")).filter(Boolean);
      t = `list of ${inner[0] || "values"}`;
    } else if (!t && a.properties) t = "mapping";
    else if (t === "object") t = "mapping";
    else if (!t && a.enum) t = "string";
    if (t && !types.includes(t)) types.push(t);
  }
  const info = {
    key: path[path.length - 1],
    path: path.filter((s) => s !== "[]").join("."),
    title: prop.title || outer.title || "",
    description,
    type: types.join(" | "),
    values: valuesAt(root, path).filter((v) => v !== "true" && v !== "false" && v !== "null"),
    required: false,
  };
  if (Object.prototype.hasOwnProperty.call(prop, "default")) info.default = compact(prop.default);
  else if (Object.prototype.hasOwnProperty.call(outer, "default")) info.default = compact(outer.default);
  for (const s of schemasAt(root, path.slice(0, -1))) if (Array.isArray(s.required) && s.required.includes(info.key)) info.required = true;
  const bounds = [];
  for (const a of alts) {
    if (a.minimum !== undefined) bounds.push(`>= ${a.minimum}`);
    if (a.exclusiveMinimum !== undefined) bounds.push(`> ${a.exclusiveMinimum}`);
    if (a.maximum !== undefined && a.maximum < 1e15) bounds.push(`<= ${a.maximum}`);
    if (a.exclusiveMaximum !== undefined) bounds.push(`< ${a.exclusiveMaximum}`);
  }
  info.bounds = bounds.join(", ");
  return info;
}
