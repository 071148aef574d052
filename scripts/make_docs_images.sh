#!/usr/bin/env bash
# Every picture in docs/ that the docs show, made again from the scenes (`make docs` runs it first).
# Sheets with `cppn-anim explore`; the gallery GIFs small (long side 192 px, 10 fps,
# 64 colours, at most the first 8 s: pulse's music video runs 20 s) so that the repository
# stays light. A GIF carries no sound: a scene with audio is its picture only.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${CLI:-.venv/bin/cppn-anim}
PY=${PY:-.venv/bin/python}
mkdir -p docs/gallery

# the blog post's figures (activations x depth, width, sizes) and seeds
$CLI explore scenes/spiral.yaml --vary network.activation=tanh,sin,gaussian,abs,softplus --vary network.depth=1,2,4,8 -o docs/activation-x-depth.png --quiet
$CLI explore scenes/spiral.yaml --vary network.width=2,4,8,16,32,64 -o docs/width.png --quiet
$CLI explore scenes/spiral.yaml --vary size=16x9,32x18,64x36,128x72,256x144,512x288 -o docs/sizes.png --quiet
$CLI explore scenes/lava.yaml --seeds 0-7 -o docs/seeds.png --quiet
# the look: styles side by side, palettes, contrast
$CLI explore scenes/hardmaru.yaml --seeds 0-3 --vary network.style=cppn-anim,hardmaru,guibas --cell 160 -o docs/styles.png --quiet
$CLI explore scenes/hardmaru.yaml --seeds 0-3 --vary network.style=cppn-anim,hardmaru,guibas --set network.color=rgb --cell 160 -o docs/styles-rgb.png --quiet
$CLI explore scenes/twilight.yaml --vary "network.palette=magma,twilight,viridis,cividis,berlin,['#0b0b2b', '#f0c000']" -o docs/palettes.png --quiet
$CLI explore scenes/breath.yaml --vary network.contrast=0.3,0.6,1,2,4 --cell 160 -o docs/contrast.png --quiet

# the gallery: one small looping GIF per scene
# (the scenes the repository ships: a scene of your own in scenes/ stays out of the docs)
shipped=$(git ls-files 'scenes/*.yaml' 2>/dev/null); [ -n "$shipped" ] || shipped=$(ls scenes/*.yaml)
for path in $shipped; do
  "$PY" - "$path" <<'PY'
import sys
from cppn_anim import core, scene

s = core.load(sys.argv[1])
small = scene.changed(s, size=core.fit(s.size, 192), fps=min(s.fps, 10))
core.render(small, f"docs/gallery/{s.name}.gif", "gif", colors=64, stop=min(small.frame_count, round(8 * small.fps)))
PY
done
# the studio, as the README shows it (real server, headless chromium)
"$PY" scripts/studio_screenshot.py docs/studio.png

ls -l docs docs/gallery
