"""Random streams that are the same on every machine and every numpy version.

numpy's legacy RandomState is frozen by its documentation (unlike torch's generator or
numpy's newer Generator defaults), so a seed gives the same weights and z everywhere.
A stream tag keeps the streams apart: the weights and the z of one seed never share numbers.
"""
from __future__ import annotations

import numpy as np

MAX_SEED = 2**64 - 1


def generator(stream: int, *numbers: int) -> np.random.RandomState:
    """RandomState seeded by a stream tag and numbers (each split into 32-bit words)."""
    words = [stream]
    for n in numbers:
        words.append(n & 0xFFFFFFFF)
        if n >> 32:  # seeds past 2**32 take a second word; smaller ones keep their old stream
            words.append(n >> 32)
    return np.random.RandomState(words)
