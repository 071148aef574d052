"""The docs tell the truth about the code: generated parts are current, every scene key is
described, every example scene parses, every error line shown is the one the parser gives,
every figure names a `make bench` line, and the contracts behind the code are never cited.
(Cheap: no rendering; the site itself is built by `make docs-check` in CI.)"""
from __future__ import annotations

import json
import re

import pytest

from cppn_anim import scene
from conftest import ROOT, gen_docs

DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))


def test_generated_pages_are_current():
    """What scripts/gen_docs.py makes from the code is what is committed (make docs writes it)."""
    assert gen_docs().stale() == [], "run `make docs` (or .venv/bin/python scripts/gen_docs.py) and commit"


def test_every_scene_key_has_a_meaning():
    assert gen_docs().undescribed_keys() == [], "give the model field a description (or add it to MEANING in scripts/gen_docs.py)"


def _yaml_blocks(path):
    return re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


EXAMPLES = ["README.md", "docs/tutorial.md", "docs/scenes.md", "docs/index.md", "docs/getting-started.md"]


def _examples(with_audio: bool) -> list[str]:
    blocks = [b for page in EXAMPLES for b in _yaml_blocks(ROOT / page) if "keyframes" in b]
    return [b for b in blocks if bool(re.search(r"^audio:", b, re.M)) == with_audio]


def test_every_example_scene_parses():
    for block in _examples(with_audio=False):
        scene.parse(block, str(ROOT / "scenes" / "example.yaml"))


@pytest.mark.slow
def test_every_example_scene_with_audio_loads():
    """Scenes with a soundtrack are heard as they load (librosa: the slow tier); paths from scenes/."""
    from cppn_anim import core

    blocks = _examples(with_audio=True)
    assert blocks, "the tutorial's music video is an example"
    for block in blocks:
        core.parse(block, str(ROOT / "scenes" / "example.yaml"))


def _error_of(text: str, source: str) -> str:
    with pytest.raises(scene.SceneError) as e:
        scene.parse(text, source)
    return str(e.value)


def test_the_error_lines_shown_are_the_parsers():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = _yaml_blocks(ROOT / "README.md")[0]
    assert _error_of(block.replace("seed: 11", "seed: eleven"), "scenes/mine.yaml") in readme
    tutorial = (DOCS / "tutorial.md").read_text(encoding="utf-8")
    block = _yaml_blocks(DOCS / "tutorial.md")[1]
    assert _error_of(block.replace("in_out_sine", "in_out_sin"), "scenes/first.yaml") in tutorial


def test_the_readme_is_short_and_its_scene_is_ten_lines():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    assert len(_yaml_blocks(ROOT / "README.md")[0].splitlines()) <= 10


# make bench lines the docs may name without a record: options `make bench` does not run
OPTIONAL_LINES = {"dask speed-up", "still 16k", "audio cold analysis", "720p torch.compile"}


def _quoted_labels(text: str) -> set[str]:
    """`[name]` quoted in a page that look like make bench labels (a space, no comma, no placeholder)."""
    return {m for m in re.findall(r"`\[([a-z0-9][^\]`,]*)\]`", text) if " " in m and "NAME" not in m}


def test_every_figure_names_a_recorded_bench_line():
    """A figure in the docs sits between `<!-- bench: NAME -->` markers (scripts/gen_docs.py fills
    in the recorded value; test_generated_pages_are_current keeps it current) or quotes its
    `[NAME]`: each NAME is a line of benchmarks/figures.json (or an optional one)."""
    recorded = json.loads((ROOT / "benchmarks" / "figures.json").read_text(encoding="utf-8"))
    for page in PAGES + [ROOT / "README.md"]:
        text = page.read_text(encoding="utf-8")
        assert "[[bench:" not in text, f"{page.name}: a [[bench: NAME]] not filled in (run scripts/gen_docs.py)"
        for name in re.findall(r"<!-- bench: (.+?) -->", text):
            assert name in recorded, f"{page.name}: the figure [{name}] is no recorded make bench line"
        for name in _quoted_labels(text) - OPTIONAL_LINES:
            assert name in recorded, f"{page.name}: [{name}] is no recorded make bench line"


def test_the_docs_speak_for_themselves():
    """Users never see the project's internal contract files: no page cites them."""
    for page in PAGES + [ROOT / "README.md"]:
        text = page.read_text(encoding="utf-8")
        assert "../shared" not in text and "scene-format.md" not in text and "cli.md" not in text, page.name
        assert "the contract" not in text.lower(), page.name
