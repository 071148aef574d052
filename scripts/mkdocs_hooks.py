"""mkdocs hooks (mkdocs.yml `hooks:`): figures quoted from `make bench`'s record.

In a page, `[[bench: NAME]]` becomes the value of the `make bench` line `[NAME]` as last
recorded in benchmarks/figures.json, linked to its row on the Figures page (which gives
the date, machine and load it was measured at). An unknown NAME fails the build, so a
page can never quote a figure that no bench line gives.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

FIGURES = Path(__file__).resolve().parents[1] / "benchmarks" / "figures.json"
PATTERN = re.compile(r"\[\[bench:\s*([^\]]+?)\s*\]\]")


def slug(name: str) -> str:
    return "fig-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def figures() -> dict:
    return json.loads(FIGURES.read_text(encoding="utf-8")) if FIGURES.exists() else {}


def expand(markdown: str, page_path: str, data: dict) -> str:
    depth = page_path.count("/")
    link = "../" * depth + "figures.md"

    def one(m: re.Match) -> str:
        name = m.group(1)
        if name not in data:
            raise ValueError(f"{page_path}: [[bench: {name}]] names no line of benchmarks/figures.json (run make bench)")
        f = data[name]
        verdict = f" (want {f['want']}: {f['verdict']})" if f.get("want") else ""
        return f"{f['value']}{verdict} ([`[{name}]`]({link}#{slug(name)}))"

    return PATTERN.sub(one, markdown)


def on_page_markdown(markdown, page, config, files):  # noqa: ARG001 (mkdocs' signature)
    if "[[bench:" not in markdown:
        return markdown
    return expand(markdown, page.file.src_uri, figures())
