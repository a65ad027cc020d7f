"""Perturbation-time blocks of the blocked response estimator (``dmft._blocked``): ``[lo, hi)`` edges, uniform or
growing with the perturbation time.  Plain numpy, imported by ``dmft._config`` (``SolverConfig.block_edges``) and by
the estimator, so the configuration does not import a solver.
"""
from __future__ import annotations

import math

import numpy as np


def block_edges(T: int, B: int) -> np.ndarray:
    """Start ``lo[k]`` and end ``hi[k]`` (exclusive) of uniform perturbation-time blocks: block 0 is ``{0}``, block
    ``k >= 1`` is ``s in [1 + (k-1) B, 1 + k B)`` (clipped to ``T``)."""
    nB = 1 + max(1, math.ceil(T / B))
    lo = np.array([0] + [1 + (k - 1) * B for k in range(1, nB)])
    hi = np.array([1] + [min(T + 1, 1 + k * B) for k in range(1, nB)])
    return np.stack([lo, hi])


def growing_block_edges(T: int, first: int = 8, growth: float = 0.25) -> np.ndarray:
    """Blocks that grow with the perturbation time: block 0 is ``{0}``, then block ``[s, s + max(first,
    ceil(growth s)))`` from ``s = 1`` on (clipped to ``T``).  The responses vary fastest early (the lazy phase and
    the first drop) and slowly on the plateaus, so early blocks are short and late ones long: 7 blocks at
    ``T = 48``, 13 at 200, 16 at 400, 20 at 800."""
    lo, hi, s = [0], [1], 1
    while s < T:
        size = max(first, math.ceil(growth * s))
        lo.append(s)
        hi.append(min(T + 1, s + size))
        s += size
    if len(lo) == 1:  # T <= 1: one (empty) block, as block_edges gives
        lo.append(1)
        hi.append(min(T + 1, 1 + first))
    return np.stack([np.array(lo), np.array(hi)])
