// Builds cppn_anim/studio_assets/editor.bundle.js (one minified IIFE) and its license
// notices, editor.bundle.LICENSE.txt, from the packages npm ci installed. Run through
// scripts/build_editor.sh. Deterministic: the same lock file gives the same bytes.
import { build } from "esbuild";
import { readFileSync, writeFileSync, readdirSync, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const assets = resolve(here, "..", "cppn_anim", "studio_assets");
const outfile = join(assets, "editor.bundle.js");

const result = await build({
  absWorkingDir: here,
  entryPoints: ["src/editor.js"],
  bundle: true,
  format: "iife",
  minify: true,
  target: ["es2020"],
  legalComments: "none",
  charset: "ascii",
  banner: { js: "/*! cppn-anim studio editor: CodeMirror 6 and friends (MIT), bundled; notices in editor.bundle.LICENSE.txt; source in editor/ */" },
  metafile: true,
  write: false,
  logLevel: "warning",
});
const js = result.outputFiles[0].contents;
writeFileSync(outfile, js);

// Every package with code in the bundle, with its license text.
const packages = new Map();
const output = Object.values(result.metafile.outputs)[0];
for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
  if (!bytesInOutput) continue;  // imported, but nothing of it is used
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (m) packages.set(m[1], join(here, "node_modules", m[1]));
}
const parts = [
  "Third-party software in editor.bundle.js (built from editor/ by scripts/build_editor.sh).",
  "Each is distributed under the license below; the copyright notices are theirs.",
  "",
];
for (const name of [...packages.keys()].sort()) {
  const dir = packages.get(name);
  const meta = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const file = readdirSync(dir).sort().find((f) => /^(licen[sc]e|copying)(\.(md|txt))?$/i.test(f));
  if (!file) throw new Error(`${name}: no license file found; add its notice by hand`);
  parts.push("=".repeat(78), `${name} ${meta.version} (${meta.license})`, meta.homepage || (meta.repository && (meta.repository.url || meta.repository)) || "", "-".repeat(78));
  parts.push(readFileSync(join(dir, file), "utf8").replace(/\r\n/g, "\n").trimEnd(), "");
}
writeFileSync(join(assets, "editor.bundle.LICENSE.txt"), parts.join("\n") + "\n");
console.log(`${outfile}: ${js.length} bytes; ${packages.size} packages: ${[...packages.keys()].sort().join(", ")}`);
if (!existsSync(outfile)) process.exit(1);
