"""cppn_anim: random CPPNs rendered as animations.

Stages, in the order data flows (no stage imports a later one):
scene -> easing/trajectory -> network -> render -> encode; `pipeline` composes them for
the command line (`cli`), segmented renders (`distribute`) and the Python API (`api`).

    import cppn_anim
    scene = cppn_anim.load("scenes/spiral.yaml", overrides={"seed": 3})
    frame = scene.still(t=1.5, size=(640, 360))    # (360, 640, 3) uint8

Importing the package is light: torch is imported when something is first rendered.
"""
__version__ = "0.1.0"

__all__ = ["load", "loads", "SceneError", "Animation", "__version__"]


def __getattr__(name):  # the API on first use: `import cppn_anim` stays cheap (the CLI's --version, encode)
    if name in ("load", "loads", "Animation"):
        from . import api

        return getattr(api, name)
    if name == "SceneError":
        from .scene import SceneError

        return SceneError
    raise AttributeError(f"module 'cppn_anim' has no attribute {name!r}")
