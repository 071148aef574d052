# cppn-anim: every target sets up .venv on first use.
#   make scene=spiral          render scenes/spiral.yaml in its output.format (spiral: out/spiral.mp4)
#   make preview scene=spiral  out/spiral.preview.gif
#   make previews              every scene to out/previews/*.gif + index.html + contact sheet
#   make test                  the fast tests (at most 60 s of CPU)
#   make check                 make test, then the slow tier (browser, look statistics, Dask, signals)
#   make bench                 benchmarks, one line per figure (render speed first: benchmarks/kernels.py)
#   make docs                  the docs site: pictures in docs/, generated pages, then out/site/ (mkdocs)
#   make docs-check            the generated pages are current and the site builds with --strict (CI)
#   make watch scene=spiral    re-render the preview whenever the scene file is saved
#   make studio scene=spiral   the live editor in the browser (without scene=: pick one in the page)
#
# torch: with an NVIDIA driver (nvidia-smi found) we install the newest torch (a CUDA
# build); without one, torch==2.13.0, which is the CPU build where a CPU wheel is at hand
# (CI and the dev machines) and keeps a fresh set-up to seconds. Choose yourself with
# e.g.  make TORCH='torch==2.14.1'  (then `rm -rf .venv` to reinstall).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
scene  ?= spiral
SCENES ?= scenes
TORCH  ?= $(if $(shell command -v nvidia-smi 2>/dev/null),torch,torch==2.13.0)
STAMP  := $(VENV)/.installed

DOCS_STAMP := $(VENV)/.docs-installed

.PHONY: render preview previews test check bench docs docs-check watch studio clean

# The CLI picks the format and path from the scene (output.format, output.path), says where
# the file went, and names the scenes there are when $(scene) is not one of them (exit 2).
render: $(STAMP)
	$(BIN)/cppn-anim render $(SCENES)/$(scene).yaml

preview: $(STAMP)
	$(BIN)/cppn-anim render $(SCENES)/$(scene).yaml --preview

previews: $(STAMP)
	$(BIN)/cppn-anim previews $(SCENES) -o out/previews

test: $(STAMP)
	$(BIN)/python -m pytest -m 'not slow'

check: test
	$(BIN)/python -m pytest -m slow  # exit 5 (no slow test collected) fails too: the slow tier must run

# One line per figure (benchmarks/_line.py), each recorded in benchmarks/figures.json with the
# date, machine and load; at the end, figures this run did not measure leave the record.
bench: $(STAMP)
	@export BENCH_RUN=$$(date -u +%Y%m%dT%H%M%S) && \
	$(BIN)/python benchmarks/kernels.py && \
	$(BIN)/python benchmarks/run.py && \
	$(BIN)/python benchmarks/studio.py && \
	$(BIN)/python benchmarks/look.py && \
	$(BIN)/python benchmarks/blas_threads.py && \
	$(BIN)/python benchmarks/outputs.py && \
	bash benchmarks/first_run.sh && \
	$(BIN)/python benchmarks/audio.py && \
	$(BIN)/python benchmarks/_line.py --prune "$$BENCH_RUN" x x

# The docs: its extra (mkdocs, Material, mkdocstrings) is installed on first use, not by the set-up.
docs: $(DOCS_STAMP)
	bash scripts/make_docs_images.sh
	$(BIN)/python scripts/gen_docs.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
	@echo "the site: out/site/index.html"

docs-check: $(DOCS_STAMP)
	$(BIN)/python scripts/gen_docs.py --check
	d=$$(mktemp -d) && NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir "$$d"; code=$$?; rm -rf "$$d"; exit $$code

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[docs]'
	touch $@

watch: $(STAMP)
	$(BIN)/cppn-anim watch $(SCENES)/$(scene).yaml

studio: $(STAMP)
	$(BIN)/cppn-anim studio $(if $(filter file,$(origin scene)),,$(SCENES)/$(scene).yaml)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,cluster]'
	@# numba compiles librosa's kernels once into its on-disk cache (about 30 s on 2 cores): here,
	@# not in the first render with a soundtrack or in `make test`
	$(BIN)/python -c 'import librosa.beat'
	touch $@

clean:
	rm -rf out .pytest_cache
