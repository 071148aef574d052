"""cppn_anim: random CPPNs rendered as animations.

Stages, in the order data flows (no stage imports a later one):
scene -> easing/trajectory -> network -> render -> encode; `cli` wires them.
"""
__version__ = "0.1.0"
