"""The two-layer committee machine and its sufficient statistics.

``params`` is a dict ``{"W": (N, D)}`` (fixed unit readouts) or ``{"W": (N, D), "a": (N,)}`` (trained
readouts). The network is f(x) = (alpha/N) sum_k a_k phi(w_k . x) with phi(h) = h + (eps/2) h^2, which is
exactly f(x) = alpha (wbar . x + (eps/2) x^T M x) with wbar = W^T a / N and M = W^T diag(a) W / N. The same
forward pass takes phi(h) = h + (eps/2) h^degree for the degree-k targets of the appendix (``degree``; the
statistics are exact only for degree 2).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from grokjax import _precision  # noqa: F401  (float32 matmuls at 'highest' precision on every backend)


class Stats(NamedTuple):
    """Sufficient statistics: wbar (D,) and M (D, D). Also used for *changes* (delta wbar, delta M)."""

    wbar: jax.Array
    M: jax.Array


def phi(h, eps, degree: int = 2):
    """Activation h + (eps/2) h^degree (the paper's model: degree 2)."""
    return h + 0.5 * eps * h**degree


def readouts(params) -> jax.Array:
    W = params["W"]
    return params["a"] if "a" in params else jnp.ones((W.shape[0],), W.dtype)


def committee(params, X, alpha, eps, degree: int = 2) -> jax.Array:
    """Network output f(x) = (alpha/N) sum_k a_k phi(w_k . x) for each row of X (P, D) -> (P,)."""
    W = params["W"]
    H = X @ W.T
    return alpha * (phi(H, eps, degree) @ readouts(params)) / W.shape[0]


def sufficient_stats(params) -> Stats:
    """(wbar, M) = (W^T a / N, W^T diag(a) W / N)."""
    W = params["W"]
    a = readouts(params)
    N = W.shape[0]
    return Stats(W.T @ a / N, (W.T * a) @ W / N)


def predict_from_stats(stats: Stats, X, alpha, eps) -> jax.Array:
    """alpha (wbar . x + (eps/2) x^T M x) for each row of X; exact for the quadratic activation."""
    return alpha * (X @ stats.wbar + 0.5 * eps * jnp.sum((X @ stats.M) * X, axis=1))


def init_params(key, N: int, D: int, *, init_scale=1.0, trained_readouts: bool = False, dtype=jnp.float32):
    """W_ki ~ init_scale N(0, 1); readouts a_k ~ init_scale N(0, 1) when trained, else fixed to 1."""
    shape = (N, D + 1) if trained_readouts else (N, D)
    Z = init_scale * jax.random.normal(key, shape, jnp.float32).astype(dtype)  # same draw in any precision
    if trained_readouts:
        return {"W": Z[:, :D], "a": Z[:, D]}
    return {"W": Z}


def aligned_interpolation_init(W_rand, beta, alpha, eps, lam):
    """W = lam W* + (1 - lam) W_rand for N = 2, with W* rows w_1 = +beta/sqrt(alpha eps), w_2 = -beta/sqrt(alpha
    eps) (a zero-loss solution of the uncentred model: wbar* = 0 and alpha eps M* = beta beta^T)."""
    w = beta / jnp.sqrt(alpha * eps)
    return lam * jnp.stack([w, -w]) + (1.0 - lam) * W_rand

