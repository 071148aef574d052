#!/usr/bin/env bash
# Rebuilds the studio's editor bundle from editor/ (CodeMirror 6, versions pinned in
# editor/package-lock.json): cppn_anim/studio_assets/editor.bundle.js and
# editor.bundle.LICENSE.txt. Needs node >= 18 and npm, and the npm registry (or its cache).
# The same lock file gives byte-identical output; commit both files after a rebuild.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/editor"
command -v npm >/dev/null || { echo "build_editor.sh: npm not found (install Node.js)" >&2; exit 1; }
# exactly the lock file's packages; no install scripts (esbuild's binary comes as its own package)
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
node build.mjs
