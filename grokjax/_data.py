"""Synthetic polynomial-regression data (inputs always in the internal convention x ~ N(0, I_D/D))."""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class PolyData(NamedTuple):
    """Training and test sets, the teacher direction and the target coefficients y = c0 + c2 (beta.x)^2."""

    X: jax.Array  # (P, D)
    y: jax.Array  # (P,)
    X_test: jax.Array  # (P_test, D)
    y_test: jax.Array  # (P_test,)
    beta: jax.Array  # (D,)
    c0: jax.Array  # scalar
    c2: jax.Array  # scalar


def target_fn(X: jax.Array, beta: jax.Array, c0, c2) -> jax.Array:
    """y = c0 + c2 (beta . x)^2 for every row x of X."""
    return c0 + c2 * (X @ beta) ** 2


def make_data(key: jax.Array, D: int, P: int, P_test: int, *, convention: str = "A",
              target: str = "quadratic", dtype=jnp.float32) -> PolyData:
    """Draw X (P, D), X_test (P_test, D) ~ N(0, I/D) and beta ~ N(0, I_D) from ``key``.

    Convention "B" (x ~ N(0, I), h = w.x/sqrt(D), y = (beta.x/sqrt(D))^2) is the same after rescaling the
    inputs by 1/sqrt(D), with c2 = 1 instead of 1/2. ``target="he2"`` sets c0 = -c2 |beta|^2 / D.
    """
    # One draw (far cheaper to compile than three), always in float32 so that a float64 run sees exactly the
    # same problem as a float32 run.
    Z = jax.random.normal(key, (P + P_test + 1, D), jnp.float32).astype(dtype)
    X = Z[:P] / jnp.sqrt(D).astype(dtype)
    X_test = Z[P:P + P_test] / jnp.sqrt(D).astype(dtype)
    beta = Z[-1]
    c2 = jnp.asarray(0.5 if convention == "A" else 1.0, dtype)
    c0 = -c2 * jnp.sum(beta**2) / D if target == "he2" else jnp.zeros((), dtype)
    return PolyData(X, target_fn(X, beta, c0, c2), X_test, target_fn(X_test, beta, c0, c2), beta, c0, c2)


def labelled_data(X, y, X_test, y_test) -> PolyData:
    """Train and test sets with arbitrary labels as :class:`PolyData` (no teacher: beta = 0, c0 = 0, c2 = nan, so
    the population metrics of :func:`grokjax.simulate_from` come out NaN)."""
    X = jnp.asarray(X)
    dtype = X.dtype
    return PolyData(X, jnp.asarray(y, dtype), jnp.asarray(X_test, dtype), jnp.asarray(y_test, dtype),
                    jnp.zeros(X.shape[-1:], dtype), jnp.zeros((), dtype), jnp.full((), jnp.nan, dtype))
