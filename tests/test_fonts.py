"""Labels in any script: 春, Ω and é are drawn as themselves, not as the missing-glyph box."""
import os
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cppn_anim import fonts, sheet


def _drawn(font: fonts.Font, text: str) -> np.ndarray:
    image = Image.new("L", (64, 24), 0)
    font.draw(ImageDraw.Draw(image), (2, 2), text, fill=255)
    return np.asarray(image)


def _system_has(char: str) -> bool:
    if not shutil.which("fc-list"):
        return False
    out = subprocess.run(["fc-list", f":charset={ord(char):x}", "file"], capture_output=True, text=True).stdout
    return bool(out.strip())


@pytest.mark.parametrize("char", ["é", "Ω", "春"])
def test_a_label_in_any_script_draws_its_glyphs(char):
    if not _system_has(char):
        if os.environ.get("CI"):  # .ci/run installs the fonts: there they must be found
            pytest.fail(f"no font on this system has {char!r} (install fonts-dejavu-core and fonts-droid-fallback)")
        pytest.skip(f"no font on this system has {char!r}")
    font = fonts.Font(12)
    glyph, box = _drawn(font, char), _drawn(font, fonts.MISSING)
    assert glyph.any(), "nothing drawn"
    assert not np.array_equal(glyph, box), f"{char!r} came out as the missing-glyph box"
    assert font.has(font.face_index(char), char)


def test_mixed_scripts_share_one_line_and_measure_what_they_draw():
    font = fonts.Font(12)
    text = "seed é Ω 春"
    assert font.length(text) > font.length("seed")
    drawn = _drawn(font, text)
    cols = np.flatnonzero(drawn.any(0))
    assert cols[-1] - cols[0] <= font.length(text) + 2  # drawn where it was measured


def test_without_any_font_file_it_still_draws(monkeypatch):
    """No fontconfig, no known files: Pillow's own font, never a failure."""
    monkeypatch.setattr(fonts, "_fontconfig", lambda *args: [])
    monkeypatch.setattr(fonts, "KNOWN_FILES", ())
    font = fonts.Font(12)
    assert _drawn(font, "ab 春").any() and font.length("ab") > 0


def test_a_contact_sheet_labels_in_any_script():
    cell = sheet.Cell(np.zeros((8, 8, 3), np.uint8), "春")
    image = sheet.compose([[cell]], (48, 24), title="Ω é")
    assert image.size[0] >= 48 and np.asarray(image).std() > 0
