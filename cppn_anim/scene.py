"""The scene format: YAML text -> a validated, immutable Scene, by every rule of the format.

The models below are the one definition of the format: pydantic checks types and
ranges and writes the JSON Schema from them; `_rule_problems` adds the rules that tie
two places together (keyframe times and duration, z length and latent_dim, an animated
zoom that must stay > 0 between its keyframes, ...). `parse` (and `load`) applies every
rule: a scene it returns is one every command renders. Every refusal becomes one
SceneError (scene_errors.py says it) that prints as

    FILE:LINE:COL: key.path: what is wrong (a suggestion)

pointing at the node in the file (or at the --set override) that is wrong.
"""
from __future__ import annotations

import difflib
import functools
import math
import os
import posixpath
import re
import stat
import string
from fractions import Fraction
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Iterator, Literal, Optional, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    WithJsonSchema,
    create_model,
    model_validator,
)

from . import activations, easing, seeding, yamlread
from .errors import SceneError
from .scene_errors import Explainer, KeyTable, dotted, locate, short, show
from .tracks import Track, exact

FORMAT_VERSION = 1
FORMATS = ("mp4", "gif", "webm", "png")
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")  # x264's
CRF_RANGE = {"mp4": (0, 51), "webm": (0, 63)}
CRF_MAX = max(hi for _, hi in CRF_RANGE.values())
GIF_MAX_FPS = 50  # GIF delays are whole centiseconds; browsers slow down anything faster
GIF_MIN_FPS = Fraction(100, 65535)  # a GIF delay is at most 65,535 centiseconds (655.35 s); ffmpeg wraps a longer one
OUTPUT_FIELDS = ("name", "ext", "format")  # what output.path may contain in braces


# ---------------------------------------------------------------- the model


def _check_ease(name: str) -> str:
    easing.parse(name)  # ValueError -> pydantic error with our message
    return name


Ease = Annotated[
    str,
    AfterValidator(_check_ease),
    WithJsonSchema(
        {
            "description": "an easing name, cubic_bezier(x1, y1, x2, y2) or steps(n)",
            "anyOf": [
                {"enum": sorted(easing.EASINGS)},
                {"type": "string", "pattern": r"^\s*cubic_bezier\(.*\)\s*$"},
                {"type": "string", "pattern": r"^\s*steps\(\s*\d+\s*\)\s*$"},
            ],
        }
    ),
]
Interpolation = Literal["step", "linear", "slerp", "cubic"]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Vec2 = Annotated[list[Finite], Field(min_length=2, max_length=2)]
Activation = Literal[activations.NAMES]  # type: ignore[valid-type]
OutputActivation = Literal[activations.OUTPUT_NAMES]  # type: ignore[valid-type]


def _kind(value: Any) -> str:
    """Tag for a discriminated union: which alternative the raw value is written as."""
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "list"
    if isinstance(value, (dict, BaseModel)):  # a model when serializing
        return "mapping"
    return None  # type: ignore[return-value]


_UNION_ERRORS: dict = {}  # key -> what its union accepts, for a text that fits no alternative


def _one_of(error: str, key: str | None = None):
    """A union chosen by how the value is written (text, list, mapping), with one clear error otherwise.

    With `key`, the same error also answers text that is none of the union's names
    (`z: '1,2,3'` is not `random`, and a list or {seed: N} would have done too).
    """
    if key:
        _UNION_ERRORS[key] = error
    return Discriminator(_kind, custom_error_type="wrong_form", custom_error_message=error)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True, allow_inf_nan=False)


class SeedZ(_Model):
    seed: int = Field(ge=0, le=seeding.MAX_SEED, description="z drawn from this seed alone")


ZSpec = Annotated[
    Union[
        Annotated[Literal["random"], Tag("text")],
        Annotated[SeedZ, Tag("mapping")],
        Annotated[list[Finite], Tag("list")],
    ],
    _one_of(error="z must be random, {seed: N} or a list of latent_dim numbers", key="z"),
]


BEAT_TIME = r"^[0-9]+(\.[0-9]+)?b$"  # "8b", "2.5b": the time of beat N (needs `audio`)


def _number_or_text(value: Any) -> str:
    """Tag for a union of a number and a text (a time in seconds or in beats; bpm: a number or auto)."""
    if isinstance(value, str):
        return "text"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "number"
    return None  # type: ignore[return-value]


def _either(error: str, key: str | None = None):
    """A union of a number and a text, with one clear error for anything else (as _one_of)."""
    if key:
        _UNION_ERRORS[key] = error
    return Discriminator(_number_or_text, custom_error_type="wrong_form", custom_error_message=error)


BeatTime = Annotated[str, Field(pattern=BEAT_TIME)]
TIME_ERROR = "a time is seconds (a number) or beats written as '8b'"
Time = Annotated[
    Union[Annotated[Annotated[Finite, Field(ge=0)], Tag("number")], Annotated[BeatTime, Tag("text")]],
    _either(TIME_ERROR),
    WithJsonSchema({"description": "seconds, or beats as 'Nb' (needs audio)", "anyOf": [
        {"type": "number", "minimum": 0}, {"type": "string", "pattern": BEAT_TIME}]}),
]
Duration = Annotated[
    Union[Annotated[Annotated[Finite, Field(gt=0)], Tag("number")], Annotated[BeatTime, Tag("text")]],
    _either(TIME_ERROR),
    WithJsonSchema({"description": "seconds, or beats as 'Nb' (needs audio); with audio and no duration: the audio's length after start",
                    "anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string", "pattern": BEAT_TIME}]}),
]


class Keyframe(_Model):
    at: Time = Field(description="seconds, or beats as 'Nb'")
    z: ZSpec = Field(description="random | {seed: N} | a list of latent_dim numbers")
    ease: Optional[Ease] = Field(None, description="how z travels INTO this keyframe (default: trajectory.ease)")


class Trajectory(_Model):
    interpolation: Interpolation = "slerp"
    ease: Ease = "linear"
    loop: bool = False
    keyframes: list[Keyframe] = Field(min_length=1)


def _track(value_type, what: str):
    """The models of one animated view parameter: a keyframe, a track, and the two ways to write it."""
    key = create_model(f"{what}Key", __base__=_Model, at=(Time, ...), value=(value_type, ...), ease=(Optional[Ease], None))
    track = create_model(
        f"{what}Track",
        __base__=_Model,
        interpolation=(Interpolation, "linear"),
        ease=(Ease, "linear"),
        loop=(bool, False),
        keyframes=(list[key], Field(min_length=1)),
    )
    spec = Annotated[
        Union[
            Annotated[Annotated[list[key], Field(min_length=1)], Tag("list")],
            Annotated[track, Tag("mapping")],
        ],
        _one_of(error="a track is a list of {at, value, ease} or a mapping with keyframes"),
    ]
    return track, spec


ZoomTrack, _ZoomSpec = _track(Annotated[Finite, Field(gt=0)], "Zoom")
RotationTrack, _RotationSpec = _track(Finite, "Rotation")
CenterTrack, _CenterSpec = _track(Vec2, "Center")
ZScaleTrack, _ZScaleSpec = _track(Annotated[Finite, Field(gt=0)], "ZScale")
InputScaleTrack, _InputScaleSpec = _track(Annotated[Finite, Field(gt=0)], "InputScale")
ContrastTrack, _ContrastSpec = _track(Annotated[Finite, Field(gt=0)], "Contrast")
PaletteShiftTrack, _PaletteShiftSpec = _track(Finite, "PaletteShift")
TRACK_MODELS = {
    "view.zoom": ZoomTrack,
    "view.rotation": RotationTrack,
    "view.center": CenterTrack,
    "network.z_scale": ZScaleTrack,
    "network.input_scale": InputScaleTrack,
    "network.contrast": ContrastTrack,
    "network.palette_shift": PaletteShiftTrack,
}


class Animate(_Model):
    zoom: Optional[_ZoomSpec] = Field(None, alias="view.zoom")
    rotation: Optional[_RotationSpec] = Field(None, alias="view.rotation")
    center: Optional[_CenterSpec] = Field(None, alias="view.center")
    z_scale: Optional[_ZScaleSpec] = Field(None, alias="network.z_scale")
    input_scale: Optional[_InputScaleSpec] = Field(None, alias="network.input_scale")
    contrast: Optional[_ContrastSpec] = Field(None, alias="network.contrast")
    palette_shift: Optional[_PaletteShiftSpec] = Field(None, alias="network.palette_shift")

    def tracks(self) -> dict:
        """{'view.zoom': Track, ...} for the animated parameters, the list form made a Track."""
        out = {}
        for key, model in TRACK_MODELS.items():
            spec = getattr(self, key.split(".")[1])
            if spec is not None:
                out[key] = spec if isinstance(spec, BaseModel) else model(keyframes=spec)
        return out


# ---------------------------------------------------------------- audio (docs/scenes.md, Audio)

AUDIO_NYQUIST = 11025.0  # Hz: the analysis resamples to 22,050 Hz (signals.NYQUIST; a test keeps them equal)
SIGNAL_NAME = r"^[a-z_][a-z0-9_]*$"
DEFAULT_ATTACK = 0.01  # seconds (not for beat signals)
SHA256 = r"^[0-9a-f]{64}$"


class SignalSpec(_Model):
    band: Optional[Annotated[list[Annotated[Finite, Field(ge=0)]], Field(min_length=2, max_length=2)]] = Field(
        None, description="[lo, hi] Hz: the summed STFT power between the edges (hi at most 11025)"
    )
    feature: Optional[Literal["rms", "onset", "beat"]] = Field(None, description="rms (loudness) | onset (spectral flux) | beat (1 on each beat, decaying)")
    attack: Optional[Annotated[Finite, Field(ge=0)]] = Field(None, description="seconds a rise takes to cover 1 - 1/e (default 0.01; not for beat)")
    release: Finite = Field(0.2, ge=0, description="seconds a fall takes to cover 1 - 1/e (beat: the decay, > 0)")

    def definition(self) -> dict:
        """As signals.SignalDef.from_mapping reads it."""
        out: dict = {"band": list(self.band)} if self.band is not None else {"feature": self.feature}
        if self.attack is not None:
            out["attack"] = self.attack
        out["release"] = self.release
        return out


class Audio(_Model):
    path: Annotated[str, Field(min_length=1)] = Field(
        description="REQUIRED: the soundtrack, relative to the scene file's folder and never above it; any format ffmpeg decodes"
    )
    start: Finite = Field(0.0, ge=0, description="seconds into the file that play at t = 0")
    bpm: Annotated[
        Union[Annotated[Literal["auto"], Tag("text")], Annotated[Annotated[Finite, Field(ge=20, le=400)], Tag("number")]],
        _either("bpm is auto or a number in [20, 400]", key="bpm"),
    ] = Field("auto", description="auto (estimated, folded into [70, 180)) | the tempo of beat times, 20..400")
    beat_offset: Annotated[
        Union[Annotated[Literal["auto"], Tag("text")], Annotated[Finite, Tag("number")]],
        _either("beat_offset is auto or seconds", key="beat_offset"),
    ] = Field("auto", description="auto (the tracker's first beat) | seconds: the video time of beat 0")
    mux: bool = Field(True, description="mp4 and webm carry the soundtrack (AAC, Opus); gif and png never")
    signals: dict[str, SignalSpec] = Field(
        default_factory=dict, description="name ([a-z_][a-z0-9_]*) -> {band: [lo, hi]} or {feature: rms | onset | beat}, attack, release",
        json_schema_extra={"propertyNames": {"pattern": SIGNAL_NAME}},
    )
    sha256: Optional[Annotated[str, Field(pattern=SHA256)]] = Field(
        None, description="the file's sha256, recorded in the resolved scene of an output; when written, a file with other content is refused"
    )


def _number_or_list(value: Any) -> str:
    """Tag for an amount: a number, or a list (view.center's 2-vector)."""
    return "list" if isinstance(value, list) else ("number" if _number_or_text(value) == "number" else None)  # type: ignore[return-value]


class Modulation(_Model):
    signal: str = Field(description="a name in audio.signals")
    amount: Annotated[
        Union[Annotated[Finite, Tag("number")], Annotated[Vec2, Tag("list")]],
        Discriminator(_number_or_list, custom_error_type="wrong_form", custom_error_message="amount is a number (view.center: a list of 2 numbers)"),
    ] = Field(description="add: value + amount * s; multiply: value * (1 + amount * s); view.center: [dx, dy]")
    mode: Literal["add", "multiply"] = "add"
    toward: Optional[ZSpec] = Field(None, description="z only: z + amount * s * (toward - z); {seed: N} or a list")


_ModSpec = Annotated[
    Union[Annotated[Modulation, Tag("mapping")], Annotated[Annotated[list[Modulation], Field(min_length=1)], Tag("list")]],
    _one_of(error="a modulation is {signal, amount, mode} or a list of them"),
]
MODULATED = tuple(TRACK_MODELS) + ("z", "trajectory.speed")  # the keys of `modulate`


class Modulate(_Model):
    zoom: Optional[_ModSpec] = Field(None, alias="view.zoom")
    rotation: Optional[_ModSpec] = Field(None, alias="view.rotation")
    center: Optional[_ModSpec] = Field(None, alias="view.center")
    z_scale: Optional[_ModSpec] = Field(None, alias="network.z_scale")
    input_scale: Optional[_ModSpec] = Field(None, alias="network.input_scale")
    contrast: Optional[_ModSpec] = Field(None, alias="network.contrast")
    palette_shift: Optional[_ModSpec] = Field(None, alias="network.palette_shift")
    z: Optional[_ModSpec] = None
    speed: Optional[_ModSpec] = Field(None, alias="trajectory.speed")

    def items(self) -> dict[str, list[Modulation]]:
        """{'view.zoom': [Modulation, ...], ...} for the modulated keys, in order (one written alone: a list of one)."""
        out = {}
        for key in MODULATED:
            spec = getattr(self, key.split(".")[-1])
            if spec is not None:
                out[key] = list(spec) if isinstance(spec, list) else [spec]
        return out


class UserPath(str):
    """An audio path the user named on the command line (--audio FILE): relative to the
    current folder, anywhere (the user's choice, as -o), not held to the scene file's rule."""


STYLES = ("cppn-anim", "hardmaru", "guibas")
# What a style sets unless the file says otherwise (the table under Styles in docs/scenes.md).
STYLE_DEFAULTS = {
    "cppn-anim": {"depth": 8, "width": 32, "activation": "tanh", "z_scale": 1.0, "input_scale": 1.0, "contrast": 1.0, "output": "sigmoid"},
    "hardmaru": {"depth": 4, "width": 32, "activation": "tanh", "z_scale": 10.0, "input_scale": 10.0, "contrast": 1.0, "output": "sigmoid"},
    "guibas": {"depth": 3, "width": 32, "activation": "tanh", "z_scale": 0.1, "input_scale": 1.0, "contrast": 1.0, "output": "sin"},
}
HEX_COLOR = r"^#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$"


def _check_palette_name(name: str) -> str:
    from . import palettes  # cmap's catalogue, read only when a name is written

    palettes.check_name(name)  # ValueError with a "did you mean" -> our one-line error
    return name


PaletteName = Annotated[str, AfterValidator(_check_palette_name), WithJsonSchema({"type": "string", "description": "a colormap name (cmap's catalogue: matplotlib, colorcet, crameri, ...)"})]
HexColor = Annotated[str, Field(pattern=HEX_COLOR)]


class Network(_Model):
    latent_dim: int = Field(8, ge=1, le=1024, description="length of z")
    width: int = Field(32, ge=1, le=4096, description="hidden units per layer")
    depth: int = Field(8, ge=1, le=64, description="hidden layers (default: the style's)")
    activation: Annotated[
        Union[Annotated[Activation, Tag("text")], Annotated[list[Activation], Tag("list")]],
        _one_of(error="activation is one name or a list of `depth` names", key="activation"),
    ] = "tanh"
    color: Literal["rgb", "gray", "hsv"] = Field("rgb", description="default gray with a palette")
    weight_scale: Finite = Field(1.0, gt=0, description="multiplies the default weight spread: higher = busier")
    inputs: Annotated[list[Literal["x", "y", "r"]], Field(max_length=3)] = ["x", "y", "r"]
    style: Literal[STYLES] = Field("cppn-anim", description="how weights and generated z are drawn; gives the defaults of depth, activation, z_scale, input_scale, contrast, output")  # type: ignore[valid-type]
    z_scale: Finite = Field(1.0, gt=0, description="multiplies z before the network (default: the style's)")
    input_scale: Finite = Field(1.0, gt=0, description="multiplies x, y, r after the view (default: the style's)")
    contrast: Finite = Field(1.0, gt=0, description="multiplies the output layer's pre-activation: harder edges")
    output: OutputActivation = Field("sigmoid", description="sin: sin, sigmoid, then a constant stretch to [0, 1]")
    palette: Optional[
        Annotated[
            Union[Annotated[PaletteName, Tag("text")], Annotated[Annotated[list[HexColor], Field(min_length=2)], Tag("list")]],
            _one_of(error="a palette is a colormap name or a list of >= 2 '#rrggbb' colours"),
        ]
    ] = Field(None, description="null | a colormap name | a list of >= 2 hex colours; one output channel looked up in it")
    palette_shift: Finite = Field(0.0, description="the palette lookup is shifted by this, modulo 1")

    @model_validator(mode="before")
    @classmethod
    def _style_defaults(cls, data: Any) -> Any:
        """A style's defaults for the keys the file leaves out (keys written in the file win)."""
        if not isinstance(data, dict):
            return data
        style = data.get("style", "cppn-anim")
        defaults = STYLE_DEFAULTS.get(style, STYLE_DEFAULTS["cppn-anim"]) if isinstance(style, str) else {}
        filled = {**{k: v for k, v in defaults.items() if k != "width"}, **data}
        if data.get("palette") is not None and "color" not in data:
            filled["color"] = "gray"
        return filled

    def activations(self) -> list[str]:
        """One activation name per hidden layer."""
        return [self.activation] * self.depth if isinstance(self.activation, str) else list(self.activation)


class View(_Model):
    zoom: Finite = Field(1.0, gt=0, description="2 halves the visible width and height")
    center: Vec2 = [0.0, 0.0]
    rotation: Finite = Field(0.0, description="degrees, counter-clockwise on screen")


class Render(_Model):
    device: Annotated[str, Field(pattern=r"^(auto|cpu|cuda|cuda:\d+|mps)$")] = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    supersample: int = Field(1, ge=1, le=4, description="k: average a k*k grid of sub-pixel samples")


class Output(_Model):
    format: Literal[FORMATS] = "mp4"  # type: ignore[valid-type]
    path: Annotated[str, Field(min_length=1)] = Field(
        "out/{name}.{ext}", description="{name}, {ext}, {format} are filled in; png: a folder (default out/{name}_frames)"
    )
    # the range depends on the format (Scene.check_output names the right one); the schema
    # shows the widest, so an editor flags what no format takes
    crf: Optional[Annotated[int, WithJsonSchema({"type": "integer", "minimum": 0, "maximum": CRF_MAX})]] = Field(
        None, description="null: x264 18, VP9 31 (x264 0..51, VP9 0..63)"
    )
    preset: Literal[PRESETS] = Field("medium", description="x264 speed/size trade-off (mp4 only)")  # type: ignore[valid-type]


class Scene(_Model):
    version: Literal[1] = 1
    name: Optional[Annotated[str, Field(pattern=r"^[^/\\\x00]+$")]] = Field(None, description="default: the file's stem")
    seed: int = Field(0, ge=0, le=seeding.MAX_SEED)
    duration: Duration = Field(4.0, description="seconds, or beats as 'Nb' (with audio and no duration: the audio's length after start)")
    fps: Finite = Field(30.0, gt=0, le=240)
    size: Annotated[list[Annotated[int, Field(ge=1, le=16384)]], Field(min_length=2, max_length=2)] = [1280, 720]
    network: Network = Network()
    view: View = View()
    trajectory: Trajectory
    animate: Animate = Animate()
    audio: Optional[Audio] = Field(None, description="a soundtrack: its signals drive `modulate`, its beats give 'Nb' times")
    modulate: Modulate = Field(Modulate(), description="signals added to parameters, frame by frame (needs audio)")
    render: Render = Render()
    output: Output = Output()

    _source: str = PrivateAttr("<scene>")
    _doc: Any = PrivateAttr(None)
    _overrides: dict = PrivateAttr(default_factory=dict)
    _heard: Any = PrivateAttr(None)
    _written: dict = PrivateAttr(default_factory=dict)  # key path -> a time as written in beats ("24b"), resolved

    @property
    def heard(self):
        """What the scene's audio gives (signals.SceneAudio: the file, its beat grid, the
        signal curves over [0, duration]), decided when the scene was parsed; None without audio."""
        return self._heard

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    def frame_time(self, i: int) -> Fraction:
        """t = i / fps, exactly."""
        return i / exact(self.fps)

    @property
    def frame_count(self) -> int:
        """N = round(duration * fps), halves rounded up, computed exactly (see `exact`)."""
        return math.floor(exact(self.duration) * exact(self.fps) + Fraction(1, 2))

    def error(self, path: tuple, message: str, at_key: bool = False, also: tuple = ()) -> SceneError:
        """A SceneError located at `path` in this scene's file (or its --set override).

        also: the other places a rule ties `path` to; when `path` is as the file has it but
        one of them was set by an override, that override is named (it caused the error).
        """
        if not self._overridden(path):
            for other in also:
                if self._overridden(other):
                    return locate(self._source, self._doc, self._overrides, other, message)
        return locate(self._source, self._doc, self._overrides, path, message, at_key)

    def _overridden(self, path: tuple) -> bool:
        """Whether an override set `path`, a key on the way to it, or a key inside it."""
        return any(path[: len(steps)] == steps or (path and steps[: len(path)] == path) for steps in self._overrides)

    def check_output(self, fmt: str) -> None:
        """Rules that depend on the output format (known only once the command line is read):
        the first one broken, as a SceneError."""
        for error in self.output_problems(fmt):
            raise error

    def output_problems(self, fmt: str) -> list[SceneError]:
        """Every rule that depends on the output format and is broken, as SceneErrors."""
        found = []
        crf, (lo, hi) = self.output.crf, CRF_RANGE.get(fmt, (0, CRF_MAX))  # gif, png: no crf, but within the schema's range
        if crf is not None and not lo <= crf <= hi:
            if fmt in CRF_RANGE:
                found.append(self.error(("output", "crf"), f"crf {crf} out of range for {fmt} ({lo}..{hi})", also=(("output", "format"),)))
            else:
                ranges = ", ".join(f"{f} {lo}..{hi}" for f, (lo, hi) in CRF_RANGE.items())
                found.append(self.error(("output", "crf"), f"crf {crf} out of range ({ranges}; {fmt} does not use crf)", also=(("output", "format"),)))
        if fmt == "gif" and self.fps > GIF_MAX_FPS:
            found.append(self.error(
                ("fps",),
                f"{self.fps:g} fps is too fast for a GIF (at most {GIF_MAX_FPS}: GIF delays are centiseconds);"
                " use --fps 25, or mp4/webm",
                also=(("output", "format"),),
            ))  # fmt: skip
        if fmt == "gif" and exact(self.fps) < GIF_MIN_FPS:
            found.append(self.error(
                ("fps",),
                f"{self.fps:g} fps is too slow for a GIF (at least 100/65535 = {float(GIF_MIN_FPS):.6f} fps: a GIF frame"
                " shows at most 655.35 s, as its delay is 16 bits of centiseconds); use mp4/webm",
                also=(("output", "format"),),
            ))  # fmt: skip
        return found

    def resolved_yaml(self) -> str:
        """The scene with every default filled in, as YAML: what made an output."""
        import io

        from ruamel.yaml import YAML

        out = io.StringIO()
        writer = YAML(typ="safe", pure=True)  # plain data, block style, keys in model order
        writer.default_flow_style, writer.width = False, 100
        writer.representer.sort_base_mapping_type_on_output = False
        writer.dump(self.resolved(), out)
        return out.getvalue()

    def resolved(self) -> dict:
        """The scene's values, every default filled in, as plain data (resolved_yaml's).
        Without audio, no `audio` and `modulate` keys; with it, audio.sha256 is the file's
        (what made an output) and every modulation a list."""
        data = self.model_dump(mode="json", by_alias=True)
        audio, modulate = data.pop("audio"), data.pop("modulate")
        output = {k: data.pop(k) for k in ("render", "output")}
        if audio is not None:
            audio["signals"] = {name: spec.definition() | ({"attack": DEFAULT_ATTACK} if spec.feature != "beat" and spec.attack is None else {})
                                for name, spec in self.audio.signals.items()}  # fmt: skip
            if self._heard is not None:
                audio["sha256"] = self._heard.sha256
            data["audio"] = audio
            mods = {key: [m.model_dump(mode="json", exclude_none=True) for m in items] for key, items in self.modulate.items().items()}
            if mods:
                data["modulate"] = mods
        return data | output


# ---------------------------------------------------------------- loading


MAX_FILE_BYTES = 1_000_000  # a scene is a few KB; anything this big is not one


def load(path: str | Path, overrides: list[tuple[str, Any]] = (), hear=None, limits=None) -> Scene:
    """Read, override and validate one scene file; SceneError on any problem. hear, limits: as parse's."""
    return parse(read_text(path), str(path), overrides, default_name=Path(path).stem, hear=hear, limits=limits)


def read_text(path: str | Path) -> str:
    """A scene file's text, refused at once when it cannot be one: not a plain file, or over MAX_FILE_BYTES."""
    source = str(path)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):  # reading a FIFO or /dev/zero would block or never end
            raise SceneError(source, f"not a scene file but {_file_kind(info.st_mode)} (give a .yaml file)")
        if info.st_size > MAX_FILE_BYTES:
            raise SceneError(source, f"{info.st_size / 1e6:.1f} MB is too large for a scene file (at most {MAX_FILE_BYTES // 1_000_000} MB; a scene is a few KB)")
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)  # a file may say size 0 (/proc) or grow meanwhile
    except FileNotFoundError:
        raise SceneError(source, "no such file") from None
    except OSError as e:
        raise SceneError(source, f"cannot read: {e.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise SceneError(source, f"too large for a scene file (over {MAX_FILE_BYTES // 1_000_000} MB; a scene is a few KB)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SceneError(source, "not a text file (UTF-8 expected)") from None


def _file_kind(mode: int) -> str:
    kinds = [(stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")]  # fmt: skip
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def parse(text: str, source: str = "<scene>", overrides: list[tuple[str, Any]] = (), default_name: str = "scene", hear=None, limits=None) -> Scene:
    """YAML text -> a Scene, every rule checked; the first error in file order raised as a
    SceneError whose `.errors` lists every error found (what `validate` prints).

    hear: how a scene with `audio` is heard (the audio stage, signals.py, comes later in the
    data flow, so its caller lends it: core.parse does). hear(scene, user_path) -> something
    with `time(n)` (the seconds of beat n), `length` (seconds of audio after audio.start) and
    `follow(duration)` -> what the scene keeps as `scene.heard`; it raises SceneError (at
    audio.path, audio.start, ...) for audio that cannot be used. user_path: audio.path came
    from --audio (relative to the current folder, anywhere). Beat times ("8b") and a
    duration left out are resolved with it before the rules on times are checked.

    limits: the rules on what the heard signals do to the scene (the trajectory stage's,
    lent as hear is: core.parse does): limits(scene) -> SceneErrors, called with the
    scene's signals followed over its duration, unless an error is about something they
    read (audio, modulate, duration, the base or track of a parameter that must stay > 0).
    """
    scene, errors = check(text, source, overrides, default_name, hear, limits)
    if errors:
        first = errors[0]
        first.errors = errors
        raise first
    return scene


def check(text: str, source: str = "<scene>", overrides: list[tuple[str, Any]] = (), default_name: str = "scene", hear=None,
          limits=None) -> tuple[Scene | None, list[SceneError]]:  # fmt: skip
    """(the scene, []) or (None, every error found in the file, in file order). hear, limits: as parse's.

    Every independent error: YAML that does not parse stops the reading (one error); a
    duplicate key or a refused tag does not. pydantic reports every value that breaks the
    schema at once; the nodes it blames are then left out (a list as a whole, so that the
    items after a bad one keep their index; a left-out mapping key takes its default, a
    left-out trajectory a stand-in) until the rest validates, and the rules across keys are
    checked on that, each reported unless it depends on a node left out (what a rule would
    say about a default stood in for a bad value is no error of the file). The soundtrack's
    rules (audio, modulate, times in beats: _hear) each report on their own, and are not
    looked at when `audio` or `modulate` itself was left out; the times the soundtrack
    leaves unknown (in beats, or a duration left out, when it is not heard) stand in as 1 s
    and the rules across keys that depend on them are not reported. The modulation limits
    (`limits`) come last. An override that names no key path raises at once (the command
    line is wrong, not the file).
    """
    try:
        doc = yamlread.read(text, keep_going=True)
    except yamlread.YamlProblem as p:
        return None, [SceneError(source, p.message, dotted(p.path), p.line, p.col)]
    errors = [SceneError(source, p.message, dotted(p.path), p.line, p.col) for p in doc.problems]
    if doc.data is None and not errors:
        return None, [SceneError(source, "the file is empty: a scene needs at least trajectory.keyframes", "", 1, 1)]
    if not isinstance(doc.data, dict):
        if not errors:
            line, col = doc.values[()]
            errors.append(SceneError(source, f"a scene must be a mapping of keys, not {show(doc.data)}", "", line, col))
        return None, _in_file_order(errors)
    data = doc.data
    applied: dict = {}
    user_path = False
    for key, value, *label in overrides:
        steps = _override_path(key, source)
        if isinstance(value, UserPath):
            user_path, value = steps == ("audio", "path"), str.__str__(value)
        elif steps == ("audio", "path"):
            user_path = False  # a later --set audio.path follows the scene file's rule
        data = _set_path(data, steps, value, source, key)
        applied[steps] = label[0] if label else f"--set {key}={short(str(value))}"
    left_out = list(doc.dropped)
    scene = None
    for attempt in range(8):  # each round leaves out what the last one blamed; a few suffice
        try:
            scene = _validate(data, source, doc, applied)
            break
        except ValidationError as e:
            found = _explainer().all(e, source, doc, applied, data)
        if attempt == 0:
            errors += [error for _, about, error in found if not any(_related(about, gone) for gone in left_out)]
        data, gone = _leave_out(data, [about if about in STAND_IN else node for node, about, _ in found])
        if not gone:
            break
        left_out += gone
    if scene is None:
        return None, _in_file_order(errors)
    unknown: list[tuple] = []
    if any(_related(gone, key) for gone in left_out for key in (("audio",), ("modulate",))):
        # what the soundtrack decides is unknown: the times in beats and a duration left out
        unknown = [path for path, _ in _beat_times(data)] + ([] if "duration" in data or "audio" not in doc.data else [("duration",)])
    else:
        scene, data, heard_errors, unknown = _hear(scene, data, source, doc, applied, user_path, hear)
        errors += heard_errors
    scene, data = _standing_in(scene, data, source, doc, applied, unknown)
    if scene.name is None:
        scene = changed(scene, name=default_name)
    broken = left_out + unknown  # what the rules below may not depend on
    touched = list(broken)  # and what the errors are about
    for error, depends in _rule_problems(scene, data):
        if not any(_related(d, gone) for d in depends for gone in broken):
            errors.append(error)
            touched += depends
    limited = not any(_related(gone, key) for gone in touched for key in LIMITED) and not any(e.path.split(".")[0] in ("audio", "modulate") for e in errors)
    if scene._heard is not None:
        scene._heard = scene._heard.follow(scene.duration) if limited else None
        if limited and limits is not None:
            errors += list(limits(scene))
    if errors:
        return None, _in_file_order(errors)
    return scene, []


# What the modulation limits (parse's `limits`) read: they are not checked while an error is about one of them.
LIMITED = (("duration",), ("audio",), ("modulate",), ("view", "zoom"), ("network", "z_scale"), ("network", "input_scale"),
           ("network", "contrast"), ("animate", "view.zoom"), ("animate", "network.z_scale"), ("animate", "network.input_scale"),
           ("animate", "network.contrast"))  # fmt: skip


def _hear(scene: Scene, data: dict, source: str, doc, applied: dict, user_path: bool, hear) -> tuple[Scene, dict, list[SceneError], list[tuple]]:
    """The soundtrack's rules, and the scene with its times in beats resolved: (the scene,
    its data, every error of the soundtrack's rules, the key paths whose times they left
    unknown). Each rule is checked on its own; only what depends on a failed step is
    skipped: audio that cannot be heard (its path refused or unreadable, start past its
    end, another sha256) leaves every time in beats and a duration left out unknown.
    Signals whose definitions are broken are left out of the hearing (the beat grid needs
    none of them). A resolved time the schema refuses is an error at that time."""
    beats = _beat_times(data)
    errors: list[SceneError] = []
    if scene.audio is None:
        for path, written in beats:
            errors.append(scene.error(path, f"'{written}' is a time in beats, which needs `audio` (its tempo gives beats their seconds);"
                                            " write seconds, or add audio: {path: ...}"))  # fmt: skip
        if scene.modulate.items():
            errors.append(scene.error(("modulate",), "modulate needs `audio`: its signals come from the soundtrack (add audio: {path: ..., signals: ...})", at_key=True))
        return scene, data, errors, [path for path, _ in beats]
    errors, broken = _check_audio(scene, data, user_path)
    unknown = [path for path, _ in beats] + ([] if "duration" in data else [("duration",)])
    if not user_path and audio_path_problem(scene.audio.path):
        return scene, data, errors, unknown  # not read: nothing heard
    if hear is None:
        return scene, data, errors + [scene.error(("audio",), "this reader cannot hear audio (read scenes with cppn_anim.load or core.parse)", at_key=True)], unknown
    listening = scene
    if broken:
        kept = {name: spec for name, spec in scene.audio.signals.items() if name not in broken}
        listening = changed(scene, audio=scene.audio.model_copy(update={"signals": kept}))
    try:
        heard = hear(listening, user_path)
    except SceneError as e:
        return scene, data, errors + list(e.errors), unknown
    times = {path: heard.time(float(written[:-1])) for path, written in beats}
    unknown = []
    for path, written in beats:
        if len(path) > 1 and path[-2] == 0 and times[path] != 0:  # a first keyframe: at 0, whatever beat 0's time
            errors.append(scene.error(path, f"the first keyframe must be at 0, and '{written}' is at {times[path]:.4g} s"
                                            f" (beat 0 falls at beat_offset {heard.time(0):.4g} s): write 0"))  # fmt: skip
            unknown.append(path)  # its rule on times would say it again
    if beats or "duration" not in data:
        data = _with_times(data, times, None if "duration" in data else heard.length)
        try:
            resolved = _validate(data, source, doc, applied)
        except ValidationError as e:  # a resolved time the schema refuses (before 0: beat_offset < 0)
            written = dict(beats)
            for _, about, error in _explainer().all(e, source, doc, applied, data):
                if about in written:
                    if about in unknown:  # its first-keyframe rule said it
                        continue
                    need = "a duration must be > 0" if about == ("duration",) else "a time must be >= 0"
                    error = scene.error(about, f"'{written[about]}' is at {times[about]:.4g} s (beat 0 falls at beat_offset"
                                               f" {heard.time(0):.4g} s); {need}")  # fmt: skip
                    unknown.append(about)
                errors.append(error)
            return scene, data, errors, unknown
        resolved._written = dict(beats)
        scene = resolved
    scene._heard = heard
    return scene, data, errors, unknown


def _standing_in(scene: Scene, data: dict, source: str, doc, applied: dict, unknown: list[tuple]) -> tuple[Scene, dict]:
    """The scene with a stand-in (1 s) for each time the soundtrack left unknown, so that the
    rules that do not depend on them can be checked (each rule names what it depends on)."""
    times = {path: 1.0 for path in unknown if path != ("duration",) or "duration" in data}
    if not times:
        return scene, data
    data = _with_times(data, times, None)
    stand_in = _validate(data, source, doc, applied)
    stand_in._written = scene._written
    return stand_in, data


def _validate(data: dict, source: str, doc, applied: dict) -> Scene:
    """The scene model of data (pydantic's ValidationError if it breaks the schema), located in its file."""
    scene = Scene.model_validate(data)
    scene._source, scene._doc, scene._overrides = source, doc, applied
    return scene


def _in_file_order(errors: list[SceneError]) -> list[SceneError]:
    """Errors in file order (an override's, which have no line, first), each once."""
    seen, out = set(), []
    for e in sorted(errors, key=_file_order):
        if str(e) not in seen:
            seen.add(str(e))
            out.append(e)
    return out


def _related(a: tuple, b: tuple) -> bool:
    """Whether one key path is the other or inside it."""
    return a[: len(b)] == b or b[: len(a)] == a


STAND_IN = {("trajectory",): {"keyframes": [{"at": 0, "z": "random"}]}}  # for a required key left out


def _leave_out(data: dict, paths: list[tuple]) -> tuple[dict, list[tuple]]:
    """A copy of data without the nodes at `paths` (a list item: the whole list); what was left out."""
    gone = []
    for path in paths:
        at = next((i for i, step in enumerate(path) if isinstance(step, int)), len(path))
        path = path[:at]  # a list goes as a whole: the items after a bad one keep their index
        if not path:
            continue
        data = dict(data)
        node = data
        for step in path[:-1]:
            child = node.get(step) if isinstance(node, dict) else None
            if not isinstance(child, dict):
                node = None
                break
            node[step] = node = dict(child)
        if not isinstance(node, dict) or (path[-1] not in node and path not in STAND_IN):
            continue
        if path in STAND_IN:
            node[path[-1]] = STAND_IN[path]
        else:
            del node[path[-1]]
        gone.append(path)
    return data, gone


def _position(scene: Scene, path: tuple) -> tuple:
    e = scene.error(path, "")
    return (e.line or 0, e.col or 0)


def _beat_times(data: dict) -> list[tuple[tuple, str]]:
    """(key path, "Nb") of every time written in beats: duration, trajectory and animate keyframes' `at`."""
    found = []
    if isinstance(data.get("duration"), str):
        found.append((("duration",), data["duration"]))

    def keyframes(where: tuple, items) -> None:
        for i, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict) and isinstance(item.get("at"), str):
                found.append((where + (i, "at"), item["at"]))

    traj = data.get("trajectory")
    if isinstance(traj, dict):
        keyframes(("trajectory", "keyframes"), traj.get("keyframes"))
    for name, track in (data.get("animate") or {}).items() if isinstance(data.get("animate"), dict) else ():
        if isinstance(track, list):
            keyframes(("animate", name), track)
        elif isinstance(track, dict):
            keyframes(("animate", name, "keyframes"), track.get("keyframes"))
    return found


def _with_times(data: dict, times: dict, duration: float | None) -> dict:
    """A copy of data with the beat times at `times` (path -> seconds) and, given, the duration."""
    import copy

    data = copy.deepcopy(data)
    for path, seconds in times.items():
        node = data
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = float(seconds)
    if duration is not None:
        data["duration"] = float(duration)
    return data


def _check_audio(scene: Scene, data: dict, user_path: bool) -> tuple[list[SceneError], set[str]]:
    """The rules of `audio` and `modulate` that need no sound: the path stays in the scene's
    folder (lexically, as output.path; not for --audio), signal names and definitions,
    every modulation's signal and shape. (every problem found, the names of the signals
    whose definitions are broken: what cannot be heard). A rule that needs a value another
    one refused (a z amount's range when it is not one number) is not looked at."""
    audio, found, broken = scene.audio, [], set()
    if not user_path:
        problem = audio_path_problem(audio.path)
        if problem:
            found.append(scene.error(("audio", "path"), problem))
    for name, spec in audio.signals.items():
        where = ("audio", "signals", name)
        if not re.fullmatch(SIGNAL_NAME, name):
            found.append(scene.error(where, f"signal name '{short(name)}': names are lowercase letters, digits and _, not starting with a digit", at_key=True))
        if (spec.band is None) == (spec.feature is None):
            found.append(scene.error(where, "a signal is {band: [lo, hi]} or {feature: rms | onset | beat} (exactly one of them)"))
            broken.add(name)
            continue
        if spec.band is not None:
            lo, hi = spec.band
            if not lo < hi:
                found.append(scene.error(where + ("band",), f"band [{lo:g}, {hi:g}]: lo must be below hi"))
                broken.add(name)
            if hi > AUDIO_NYQUIST:
                found.append(scene.error(where + ("band",), f"band edge {hi:g} Hz is above {AUDIO_NYQUIST:g} Hz, half the analysis sample rate (22,050 Hz)"))
                broken.add(name)
        if spec.feature == "beat":
            if spec.attack is not None:
                found.append(scene.error(where + ("attack",), "a beat signal takes only release (it jumps to 1 on each beat)", at_key=True))
                broken.add(name)
            if spec.release <= 0:
                found.append(scene.error(where + ("release",), "a beat signal's release must be > 0 (its decay after each beat)"))
                broken.add(name)
    names = list(audio.signals)
    latent = scene.network.latent_dim
    raw_mod = data.get("modulate") or {}
    for key, mods in scene.modulate.items().items():
        listed = isinstance(raw_mod.get(key), list)
        for i, m in enumerate(mods):
            at = ("modulate", key) + ((i,) if listed else ())
            if m.signal not in names:
                close = difflib.get_close_matches(m.signal, names, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else (f"audio.signals has {', '.join(names)}" if names else "audio.signals has none")
                found.append(scene.error(at + ("signal",), f"unknown signal '{short(m.signal)}' ({hint})"))
            vector = isinstance(m.amount, list)
            if key == "view.center" and not vector:
                found.append(scene.error(at + ("amount",), "view.center's amount is a list of 2 numbers [dx, dy]"))
            if key != "view.center" and vector:
                found.append(scene.error(at + ("amount",), f"{key}'s amount is one number"))
            if key == "z":
                if m.toward is None:
                    found.append(scene.error(at, "z moves toward another z: add toward: {seed: N} (or a list of latent_dim numbers)"))
                elif m.toward == "random":
                    found.append(scene.error(at + ("toward",), "toward: random is refused (no keyframe to draw it for): write {seed: N} or a list"))
                elif isinstance(m.toward, list) and len(m.toward) != latent:
                    found.append(scene.error(at + ("toward",), f"toward has {len(m.toward)} numbers but network.latent_dim is {latent}"))
                if not vector and not 0 <= m.amount <= 1:
                    found.append(scene.error(at + ("amount",), f"z's amount is in [0, 1] (the share of the way toward it), got {m.amount:g}"))
                if m.mode != "add":
                    found.append(scene.error(at + ("mode",), "z takes toward, not mode"))
            elif m.toward is not None:
                found.append(scene.error(at + ("toward",), "toward is for z only", at_key=True))
            if key == "trajectory.speed":
                if not vector and m.amount < 0:
                    found.append(scene.error(at + ("amount",), f"trajectory.speed's amount must be >= 0, got {m.amount:g}"))
                if m.mode != "add":
                    found.append(scene.error(at + ("mode",), "trajectory.speed's rates add (1 + amount * s): leave mode out"))
    return found, broken


def audio_path_problem(path: str) -> str | None:
    """Why audio.path `path` may not be read by a scene file (absolute, or climbing above its folder), or None."""
    if posixpath.isabs(path) or re.match(r"^[A-Za-z]:", path) or path.startswith("\\"):
        return f"'{short(path)}' is an absolute path; a scene reads its soundtrack from its own folder or below (or give --audio FILE)"
    depth = 0
    for part in PurePosixPath(path).parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return f"'{short(path)}' climbs above the scene's folder with '..'; a scene reads its soundtrack from its own folder or below (or give --audio FILE)"
    return None


def changed(scene: Scene, **changes) -> Scene:
    """A copy with some values replaced (already valid ones: a preview's size and fps), same file for errors.
    What the audio gives stays (it depends on neither size nor fps)."""
    if "duration" in changes and scene.heard is not None and changes["duration"] != scene.duration:
        raise ValueError("a scene with audio keeps its duration (its signals are followed over it)")
    new = scene.model_copy(update=changes)
    new._source, new._doc, new._overrides, new._heard, new._written = scene._source, scene._doc, scene._overrides, scene._heard, scene._written
    return new


def read_value(text: str) -> Any:
    """A --set VALUE, read as YAML 1.2 (so `2` is a number and `[1, 2]` a list)."""
    try:
        doc = yamlread.read(text)
    except yamlread.YamlProblem as p:
        raise ValueError(p.message) from None
    return doc.data


# ---------------------------------------------------------------- rules across keys


MAX_FRAMES = 10**8  # what a scene may ask: duration x fps frames at most (about 39 days at 30 fps)
POSITIVE = ("view.zoom", "network.z_scale", "network.input_scale", "network.contrast")  # must stay > 0


def _rule_problems(scene: Scene, data: dict) -> Iterator[tuple[SceneError, tuple]]:
    """Every rule across keys that the scene breaks: (the error, the key paths it depends on).

    Each rule is checked on its own, so one broken rule never hides another (`validate`
    reports them all). Where a rule ties two places, the error is at the one that depends
    on the other, unless only the other came from an override: then the override that
    caused it is named (Scene.error's `also`).
    """
    net = scene.network
    raw_activation = data.get("network", {}).get("activation") if isinstance(data.get("network"), dict) else None
    if isinstance(raw_activation, list) and len(raw_activation) != net.depth:
        where, also = ("network", "activation"), (("network", "depth"), ("network", "style"))
        message = f"{len(raw_activation)} activations for depth {net.depth}: give one name, or exactly {net.depth}"
        yield scene.error(where, message, also=also), (where, *also)
    if net.palette is not None and net.color != "gray":
        where, also = ("network", "palette"), (("network", "color"),)
        message = f"a palette colours one gray channel: color {net.color} cannot go with it (leave color out, or write color: gray)"
        yield scene.error(where, message, also=also), (where, *also)
    for i, name in enumerate(net.inputs):
        if name in net.inputs[:i]:
            yield scene.error(("network", "inputs", i), f"input '{name}' is listed twice"), (("network", "inputs"),)
    frames, timing = scene.frame_count, (("duration",), ("fps",))
    if frames < 1:
        yield scene.error(("duration",), f"duration {_duration(scene, ' s', named=False)} at {scene.fps:g} fps makes no frame", also=timing[1:]), timing
    elif frames > MAX_FRAMES:
        message = f"duration {_duration(scene, ' s', named=False)} at {scene.fps:g} fps is {frames:.3g} frames; a scene asks at most {MAX_FRAMES:.0e} (10^8)"
        yield scene.error(("duration",), message, also=timing[1:]), timing
    traj = scene.trajectory
    yield from _time_problems(scene, ("trajectory", "keyframes"), [k.at for k in traj.keyframes], traj.loop, ("trajectory", "loop"))
    for k, key in enumerate(traj.keyframes):
        if isinstance(key.z, list) and len(key.z) != net.latent_dim:
            where, also = ("trajectory", "keyframes", k, "z"), (("network", "latent_dim"),)
            message = f"z has {len(key.z)} numbers but network.latent_dim is {net.latent_dim}"
            yield scene.error(where, message, also=also), (where, *also)
    for name, track in scene.animate.tracks().items():
        written = data.get("animate", {}).get(name) if isinstance(data.get("animate"), dict) else None
        keys = ("animate", name) if isinstance(written, list) else ("animate", name, "keyframes")  # as written
        loop = ("animate", name) if isinstance(written, list) else ("animate", name, "loop")
        yield from _time_problems(scene, keys, [k.at for k in track.keyframes], track.loop, loop)
    yield from _output_problems(scene)
    yield from _positive_track_problems(scene)


def _file_order(e: SceneError) -> tuple:
    """Errors in file order: an override's (no line) first, then by line and column."""
    return (e.line is not None, e.line or 0, e.col or 0)


def _positive_track_problems(scene: Scene) -> Iterator[tuple[SceneError, tuple]]:
    """Refuse (at the track) an animated zoom, z_scale, input_scale or contrast that dips to 0
    or below anywhere in the video: an overshooting easing (back, elastic, a cubic_bezier
    with y outside [0, 1]) or a cubic spline can carry a value past its keyframes, which are
    each checked > 0 already. Found exactly per segment (Track.lowest), not sampled: time
    linear in the number of keyframes, whatever the duration or fps."""
    for name, spec in scene.animate.tracks().items():
        if name not in POSITIVE:
            continue
        track = Track.from_spec(spec, [k.value for k in spec.keyframes], scene.duration)
        low, when = track.lowest()
        if low <= 0:
            where = ("animate", name)
            yield scene.error(
                where,
                f"the track reaches {low:.3g} at t = {when:.3g} s (its easing or cubic interpolation overshoots);"
                f" {name} must stay > 0: use an easing that does not overshoot, or keyframe values further from 0",
                also=(("duration",),),
            ), (where, ("duration",))


def _output_problems(scene: Scene) -> Iterator[tuple[SceneError, tuple]]:
    """What render would refuse about the scene's own output (so `validate` refuses it too):
    output.path must stay inside the folder it is rendered from and end in the format's
    extension (a scene file must not be able to write anywhere else), crf must suit the
    codec, a GIF at most GIF_MAX_FPS."""
    problem = output_path_problem(scene.output.path, scene.name, scene.output.format)
    if problem:
        where, also = ("output", "path"), (("name",), ("output", "format"))
        yield scene.error(where, problem, also=also), (where, *also)
    for error in scene.output_problems(scene.output.format):
        yield error, (("output",), ("fps",))


def output_path_problem(template: str, name: str, fmt: str) -> str | None:
    """Why output.path `template` is not allowed for a scene named `name` in format `fmt`, or None."""
    try:
        fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(template) if f is not None]
    except ValueError:
        return "a { or } without its pair (write {{ or }} for a literal brace)"
    for field, spec, conv in fields:
        if field not in OUTPUT_FIELDS or spec or conv:
            shown = "{" + field + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
            return f"unknown field {shown} (only {{name}}, {{ext}} and {{format}} are filled in)"
    filled = template.format(name=name, ext=fmt, format=fmt)
    if posixpath.isabs(filled) or re.match(r"^[A-Za-z]:", filled) or filled.startswith("\\"):
        return f"'{short(filled)}' is an absolute path; a scene writes only inside the folder it is rendered from (e.g. out/{{name}}.{{ext}})"
    depth = 0
    for part in PurePosixPath(filled).parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return f"'{short(filled)}' climbs out of the folder it is rendered from with '..'; a scene writes only inside it (e.g. out/{{name}}.{{ext}})"
    probe = PurePosixPath(template.format(name="name", ext=fmt, format=fmt))  # a name with dots is not an extension
    if fmt == "png":
        if probe.suffix and not re.search(r"\.\{(ext|format)\}$", template):
            return f"'{short(filled)}': png frames go into a folder, so the path has no extension (e.g. out/{{name}}_frames)"
    elif probe.suffix.lower() != f".{fmt}":
        return f"'{short(filled)}' does not end in .{fmt}, the extension of output.format {fmt} (end it in .{{ext}})"
    return None


def fill_output_path(template: str, name: str, fmt: str) -> Path:
    """output.path with {name}, {ext} and {format} filled in for format `fmt` (which --format
    may have chosen): a video path gets fmt's extension; for png the path names a folder,
    so an extension (the default out/{name}.{ext}) becomes `_frames`. ValueError for an
    unknown field."""
    problem = output_path_problem(template, name, fmt)
    if problem and problem.startswith(("unknown field", "a { or }")):
        raise ValueError(problem)
    path = Path(template.format(name=name, ext=fmt, format=fmt))
    known = "." + path.name.rsplit(".", 1)[-1].lower() if "." in path.name else ""
    if known not in tuple(f".{f}" for f in FORMATS):
        known = ""
    if fmt == "png":
        return path.with_name(path.name[: len(path.name) - len(known)] + "_frames") if known else path
    return path.with_name(path.name[: len(path.name) - len(known)] + f".{fmt}")


def _time_problems(scene: Scene, where: tuple, times: list[float], loop: bool, loop_key: tuple) -> Iterator[tuple[SceneError, tuple]]:
    """Keyframe times start at 0, increase, and stay within the video; the first keyframe that
    breaks a rule is named. A time written in beats is shown as written, with its seconds,
    and the error is at it (not at an override of the duration: the keyframe is what is named)."""
    for k, t in enumerate(times):
        at = where + (k, "at")
        if k == 0 and t != 0:
            yield scene.error(at, f"the first keyframe must be at 0, not {_time(scene, at, t)}"), (at,)
            return
        if k > 0 and t <= times[k - 1]:
            before = where + (k - 1, "at")
            message = f"{_at(scene, at, t)} is not after the previous keyframe's {_time(scene, before, times[k - 1])} (times must increase)"
            yield scene.error(at, message, also=() if at in scene._written else (before,)), (at, before)
            return
        bounds = (("duration",), loop_key)
        also = () if at in scene._written else bounds
        if loop and t >= scene.duration and k > 0:
            end = f"{scene.duration:.4g} s" if ("duration",) in scene._written else f"{scene.duration:g}"
            message = f"{_at(scene, at, t)} is not before duration {_duration(scene)} (with loop: true, time {end} is keyframe 0 again)"
            yield scene.error(at, message, also=also), (at, *bounds)
            return
        if not loop and t > scene.duration:
            yield scene.error(at, f"{_at(scene, at, t)} is past the end (duration {_duration(scene)})", also=also), (at, *bounds)
            return


def _time(scene: Scene, path: tuple, t: float) -> str:
    """A keyframe's time as written: 12, or '24b' (12.0151 s)."""
    written = scene._written.get(path)
    return f"'{written}' ({t:g} s)" if written else f"{t:g}"


def _at(scene: Scene, path: tuple, t: float) -> str:
    """A keyframe's time as the subject of a message: at 12, or '24b' (12.0151 s)."""
    return _time(scene, path, t) if path in scene._written else f"at {t:g}"


def _duration(scene: Scene, unit: str = "", named: bool = True) -> str:
    """The duration as written: 8 (unit: 8 s), or 16b = 8.016 s; in beats and set by an
    override, that override named (when the error is not at it: named)."""
    written = scene._written.get(("duration",))
    shown = f"{written} = {scene.duration:.4g} s" if written else f"{scene.duration:g}{unit}"
    label = scene._overrides.get(("duration",))
    return f"{shown}, from {label}" if written and label and named else shown


# ---------------------------------------------------------------- overrides


def _override_path(key: str, source: str) -> tuple:
    """'trajectory.keyframes[1].z' -> ('trajectory', 'keyframes', 1, 'z'); animate keys keep their dot."""
    steps: list = []
    for part in key.split("."):
        m = re.fullmatch(r"([^\[\]]*)((?:\[\d+\])*)", part)
        if not m or not m.group(1):  # every dot is followed by a key: 'seed.', 'a..b', 'keyframes.[0]' name nothing
            raise SceneError(source, f"--set {key}: not a key path (write e.g. network.depth or trajectory.keyframes[0].at)")
        if m.group(1):
            steps.append(m.group(1))
        steps.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    if len(steps) >= 3 and steps[0] == "animate" and isinstance(steps[1], str) and isinstance(steps[2], str):
        steps[1:3] = [f"{steps[1]}.{steps[2]}"]
    elif len(steps) >= 3 and steps[0] == "modulate" and f"{steps[1]}.{steps[2]}" in MODULATED:
        steps[1:3] = [f"{steps[1]}.{steps[2]}"]
    return tuple(steps)


def _set_path(data: dict, steps: tuple, value: Any, source: str, key: str) -> dict:
    """A copy of data with the value at steps replaced; SceneError when steps do not fit the data."""
    root = node = dict(data)
    created = False  # whether node is a mapping made up for the path (not in the file)
    for depth, step in enumerate(steps):
        where = dotted(steps[:depth])
        if isinstance(node, list):
            if not isinstance(step, int):
                raise SceneError(source, f"--set {key}: {where} is a list: pick an item, e.g. {where}[0].{step}")
            if step >= len(node):
                item = "keyframe" if where.endswith("keyframes") else "item"
                have = "no items" if not node else f"{len(node)} item{'s' if len(node) > 1 else ''} ({'index 0' if len(node) == 1 else f'indices 0..{len(node) - 1}'})"
                raise SceneError(source, f"--set {key}: there is no {item} {step}: {where} has {have}")
        elif isinstance(step, int):
            if created:
                raise SceneError(source, f"--set {key}: {where} is not in the scene (set the whole list, e.g. --set '{where}=[...]')")
            raise SceneError(source, f"--set {key}: {where} is a mapping, not a list (write {where}.KEY)")
        if depth == len(steps) - 1:
            node[step] = value
            break
        created = not _has(node, step)
        child = {} if created else node[step]
        if isinstance(child, dict):
            child = dict(child)
        elif isinstance(child, list):
            child = list(child)
        else:
            raise SceneError(source, f"--set {key}: {dotted(steps[: depth + 1])} holds {show(child)}, not a mapping or list")
        node[step] = child
        node = child
    return root


def _has(node, step) -> bool:
    if isinstance(node, dict):
        return step in node
    return isinstance(step, int) and step < len(node)


def json_schema() -> dict:
    """The JSON Schema of the scene format (`cppn-anim schema`; editors complete and check YAML with it)."""
    schema = Scene.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "cppn-anim scene",
        "description": f"A cppn-anim scene file, format version {FORMAT_VERSION}.",
        **{k: v for k, v in schema.items() if k != "title"},
    }


@functools.cache
def key_table() -> KeyTable:
    """The keys of every mapping of the format, from its JSON Schema (made once, when an error needs it)."""
    return KeyTable(json_schema())


def _explainer() -> Explainer:
    return Explainer(key_table(), _UNION_ERRORS, FORMAT_VERSION)
