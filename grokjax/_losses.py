"""Exact population test loss and its three-term decomposition (paper-math.md section 2).

For a predictor of the form f(x) = alpha (dw . x + (eps/2) x^T dM x) (the network itself, the centred network
with dw = wbar - wbar0, dM = M - M0, or the lazy model) and y = c0 + c2 (beta.x)^2 with x ~ N(0, I/D):

    E (f - y)^2 = (alpha eps Tr dM - 2 c2 |beta|^2 - 2 D c0)^2 / (4 D^2)     (i)  variance / scale
                + ||alpha eps dM - 2 c2 beta beta^T||_F^2 / (2 D^2)          (ii) alignment
                + alpha^2 |dw|^2 / D                                          (iii) linear power

(for the paper's c2 = 1/2, c0 = 0 this is exactly App. 12, eq. 22). No test set is needed.
:func:`mean_squared_error` is the empirical loss on a set of points (optionally weighted).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class Decomposition(NamedTuple):
    variance: jax.Array
    alignment: jax.Array
    linear: jax.Array

    @property
    def total(self):
        return self.variance + self.alignment + self.linear


def decompose_test_loss(stats, beta, c0, c2, alpha, eps) -> Decomposition:
    """The three terms of the population test loss for f = alpha (dw.x + (eps/2) x^T dM x)."""
    D = beta.shape[0]
    Qt = alpha * eps * stats.M - 2.0 * c2 * jnp.outer(beta, beta)
    variance = ((jnp.trace(Qt) / (2.0 * D)) - c0) ** 2
    alignment = jnp.sum(Qt**2) / (2.0 * D**2)
    linear = alpha**2 * jnp.sum(stats.wbar**2) / D
    return Decomposition(variance, alignment, linear)


def population_test_loss(stats, beta, c0, c2, alpha, eps) -> jax.Array:
    """E_x (f(x) - y(x))^2 in closed form (sum of the three terms)."""
    return decompose_test_loss(stats, beta, c0, c2, alpha, eps).total


def mean_squared_error(pred, y, weight=None) -> jax.Array:
    """Mean of (pred - y)^2, no 1/2; with ``weight`` the weighted mean sum w (pred - y)^2 / sum w, so that runs
    with different set sizes can share one compiled program (pad with w = 0)."""
    if weight is None:
        return jnp.mean((pred - y) ** 2)
    return jnp.sum(weight * (pred - y) ** 2) / jnp.sum(weight)
