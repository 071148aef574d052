"""cppn_anim: random CPPNs rendered as animations.

Stages, in the order data flows (no stage imports a later one):
scene -> trajectory -> network -> render -> encode (targets, ffmpeg, gif); `core` composes
them for the commands (`explore`, `previews`, `watch`, `bench`), segmented renders
(`distribute`), the studio and the Python API (`api`). docs/architecture.md names each
module's one concern.

    import cppn_anim
    scene = cppn_anim.load("scenes/spiral.yaml", overrides={"seed": 3})
    frame = scene.still(t=1.5, size=(640, 360))    # (360, 640, 3) uint8

Importing the package is light: torch is imported when something is first rendered.
The errors (cppn_anim.SceneError, ...) are the ones errors.py defines.
"""
from .version import __version__

__all__ = [
    "load", "loads", "Animation", "__version__",
    "CppnAnimError", "SceneError", "UsageError", "OutputError", "ArgumentError",
    "RenderError", "EncodeError", "TargetBusy", "DeviceUnavailable", "OutOfMemory", "Cancelled",
]  # fmt: skip
_ERRORS = __all__[4:]


def __getattr__(name):  # on first use: `import cppn_anim` stays cheap (the CLI's --version)
    if name in ("load", "loads", "Animation"):
        from . import api

        return getattr(api, name)
    if name in _ERRORS:
        from . import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'cppn_anim' has no attribute {name!r}")
