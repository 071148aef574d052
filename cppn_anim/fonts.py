"""Text in any script on our pictures (contact sheets): system fonts with per-glyph fallback.

A label or title may be a scene's name or a value copied from it, so it can be in any
script (`春`, `Ω`, `é`). One font rarely covers them all, so a `Font` is a chain: the
system's sans-serif font first (fontconfig's `fc-match sans-serif`), then, for each
character the chain cannot draw, the font fontconfig names for it (`fc-list
:charset=HEX`), added to the chain once. Whether a font has a character is read from
what it draws: a character it lacks comes out as its "missing glyph" (.notdef), and we
compare with that. Consecutive characters of one font are drawn as one run (so a script
that joins its letters is shaped within the run), runs side by side on one baseline.

Without fontconfig, a few well-known font files are tried; with none at all, Pillow's own
font (Latin only). Nothing fails for want of a font: a character no font has is drawn as
the primary font's missing-glyph box. On Debian, `fonts-dejavu-core` (Latin, Greek,
Cyrillic) and `fonts-droid-fallback` (Chinese, Japanese, Korean) cover most labels.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import unicodedata

from PIL import ImageFont

DEFAULT_SIZE = 12
MISSING = "\U0010fffd"  # a private-use code point no font draws: its picture is the missing glyph
# Tried in order when fontconfig is not there (Debian/Ubuntu, Fedora, macOS, Windows).
KNOWN_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/google-droid-sans-fonts/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/Supplemental/Arial Unicode.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
    "C:/Windows/Fonts/arial.ttf",
    "C:/Windows/Fonts/msyh.ttc",
)
_SCALABLE = (".ttf", ".otf", ".ttc", ".otc")


def _fontconfig(*args: str) -> list[str]:
    """Lines that fontconfig's tool prints (file paths), [] when it is not there or fails."""
    if not shutil.which(args[0]):
        return []
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in done.stdout.splitlines() if line.strip().lower().endswith(_SCALABLE)]


def _rank(path: str) -> tuple:
    """Prefer a plain upright sans face: bold, italic, mono and serif faces last."""
    name = os.path.basename(path).lower()
    return (sum(word in name for word in ("bold", "italic", "oblique", "mono", "serif", "light", "condensed")), "sans" not in name, name)


def _candidates_for(char: str) -> list[str]:
    """Font files that fontconfig says have `char`, best first."""
    found = _fontconfig("fc-list", "--format", "%{file}\n", f":charset={ord(char):x}:scalable=true")
    return sorted(set(found), key=_rank)


def _primary_files() -> list[str]:
    return _fontconfig("fc-match", "--format", "%{file}\n", "sans-serif") + [p for p in KNOWN_FILES if os.path.exists(p)]


class Font:
    """A chain of fonts of one pixel size that draws text in any script the system can show."""

    def __init__(self, size: int = DEFAULT_SIZE):
        self.size = size
        self.faces: list = []
        self._missing: dict[int, bytes] = {}  # face index -> its missing glyph's picture
        self._face_of: dict[str, int] = {}  # character -> index of the face that draws it
        self._tried: set[str] = set()  # files already loaded (or that failed to load)
        for path in _primary_files():
            if self._add(path) is not None:
                break
        if not self.faces:  # no font file at all: Pillow's own (Latin only), never a failure
            try:
                self.faces.append(ImageFont.load_default(size=size))
            except TypeError:  # Pillow < 10.1: only the small bitmap font
                self.faces.append(ImageFont.load_default())

    def _add(self, path: str) -> int | None:
        if path in self._tried:
            return None
        self._tried.add(path)
        try:
            self.faces.append(ImageFont.truetype(path, self.size))
        except (OSError, ValueError):
            return None
        return len(self.faces) - 1

    def _picture(self, index: int, char: str) -> bytes:
        mask = self.faces[index].getmask(char)
        return repr(mask.size).encode() + bytes(mask)

    def has(self, index: int, char: str) -> bool:
        """Whether face `index` draws `char` as itself, not as its missing-glyph box."""
        if index not in self._missing:
            self._missing[index] = self._picture(index, MISSING)
        return self._picture(index, char) != self._missing[index]

    def face_index(self, char: str) -> int:
        """The first face of the chain that has `char` (looking one up on the system if none
        does); 0, the primary face, for spaces, controls and what no font has."""
        if char in self._face_of:
            return self._face_of[char]
        found = 0
        if not (char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Mn", "Me")):
            found = next((i for i in range(len(self.faces)) if self.has(i, char)), -1)
            if found < 0:
                found = 0
                for path in _candidates_for(char):
                    added = self._add(path)
                    if added is not None and self.has(added, char):
                        found = added
                        break
        self._face_of[char] = found
        return found

    def runs(self, text: str) -> list[tuple[str, object]]:
        """text as (piece, face) runs: consecutive characters drawn by one face together."""
        out: list[list] = []
        for char in text:
            index = self._face_of[char] if char in self._face_of else self.face_index(char)
            if out and out[-1][1] == index:
                out[-1][0] += char
            else:
                out.append([char, index])
        return [(piece, self.faces[index]) for piece, index in out]

    def length(self, text: str) -> float:
        """How many pixels wide `text` is drawn."""
        return sum(face.getlength(piece) for piece, face in self.runs(text))

    def draw(self, draw, xy: tuple[float, float], text: str, fill) -> None:
        """Draw `text` with its top-left at xy (as ImageDraw.text does), every run on one baseline."""
        x, y = xy
        base = _ascent(self.faces[0])
        for piece, face in self.runs(text):
            draw.text((x, y + base - _ascent(face)), piece, fill=fill, font=face)
            x += face.getlength(piece)


def _ascent(face) -> int:
    try:
        return face.getmetrics()[0]
    except AttributeError:  # the bitmap font has no metrics
        return 0


@functools.cache
def font(size: int = DEFAULT_SIZE) -> Font:
    """The shared Font of that pixel size (made once per process)."""
    return Font(size)
