"""Weight noise of the sampled data-point process (spec §7.2): ``v^s = a^{-1/2} Xi^T g^s``, two exact routes.

The spec mixes the ``S`` signal samples with a frozen ``S x S`` matrix ``Xi`` of i.i.d. ``N(0, 1/S)`` entries, so
that conditional on the ``g``'s the noise has exactly the empirical covariance ``C_g/a``.  Only products
``Xi^T x`` with vectors ``x`` that arrive one step at a time are ever needed, which gives a second route with the
same law and no ``S x S`` matrix:

* ``noise="stored"`` (the spec's route): ``Xi`` is drawn and kept; ``S^2`` numbers, ``S^2 N`` work per step.
* ``noise="conditional"`` (default): stack the signals as ``G = [g^0 .. g^{T-1}]`` (``S x TN``, column
  ``s N + j`` = unit ``j`` at step ``s``) with Gram matrix ``M = G^T G = L L^T`` (Cholesky).  ``Q = G L^{-T}``
  has orthonormal columns and ``Q`` 's column block ``s`` depends on ``g^0..g^s`` only (``L`` is lower
  triangular), so ``Z = Xi^T Q`` has i.i.d. ``N(0, 1/S)`` entries and its block ``s`` is independent of
  everything before step ``s`` (the rotation invariance of ``Xi`` on the part of ``g^s`` orthogonal to the past).
  Hence ``Xi^T G = Z L^T`` with ``Z`` drawn fresh, block by block: ``Xi^T g^t`` is the linear combination
  ``Z L[t]^T`` of the past outputs plus fresh noise on the new direction.  Memory ``S T N + (TN)^2``; work per step
  ``S t N^2`` for the mixing and ``(TN)^2 N`` for the new Cholesky row (block ``t`` of ``L`` from the cross Gram
  ``G_{<t}^T g^t``, which the ``C_g`` estimator computes anyway).

The factor is stored transposed, ``U = L^T`` (row-major ``U`` is column-major ``L``, the layout LAPACK's triangular
solve wants, so XLA passes it without a copy; and the mixing ``L^T R = U R`` is a plain product).

``L`` is the Cholesky factor of ``M + blockdiag(delta_t I)``, ``delta_t = JITTER tr(g^tT g^t)/N``: successive
signals are nearly collinear (``g^t - g^{t-1} = O(dt)``), so ``M`` is numerically singular at long horizons; the
jitter adds independent noise of relative variance ``JITTER`` (1e-10) to each step's output and keeps every
triangular solve bounded (``|c| <= |g^t|``).  Both routes are exact in law; they use different random numbers.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

JITTER = 1e-10  # relative diagonal jitter of each new Cholesky block (see module docstring)
_TAG = 104729  # separates these random numbers from the stored Xi's (tag 7919) and the samples'


def fresh_normals(seed: int, S: int, T: int, N: int, dtype) -> jax.Array:
    """``Z`` (S, T N), i.i.d. ``N(0, 1/S)``; column block ``t`` from numpy's generator seeded ``(seed, tag, t)``,
    so a longer horizon extends the draws of a shorter one (results at early ``t`` do not depend on ``T``)."""
    out = np.empty((S, T * N), dtype=np.dtype(dtype))
    scale = 1.0 / math.sqrt(S)
    for t in range(T):
        out[:, t * N:(t + 1) * N] = np.random.default_rng([seed, _TAG, t]).standard_normal((S, N)) * scale
    return jnp.asarray(out)


def initial_factor(T: int, N: int) -> jax.Array:
    """``U = L^T`` before any signal: identity (blocks of future steps stay identity until written, so
    triangular solves leave their entries untouched)."""
    return jnp.eye(T * N, dtype=jnp.float64)


def extend_factor(U, t, cross, gram_tt):
    """``U`` with block column ``t`` written (:func:`factor_column`, :func:`set_factor_column`)."""
    return set_factor_column(U, t, factor_column(U, t, cross, gram_tt))


def set_factor_column(U, t, col):
    N = col.shape[1]
    return jax.lax.dynamic_update_slice(U, col, (0, t * N))


def factor_column(U, t, cross, gram_tt):
    """Block row ``t`` of ``L`` (block column ``t`` of ``U = L^T``, (T N, N)) for the new signal ``g^t`` (S x N).

    ``cross`` (T N, N) = ``G^T g^t`` with the rows of steps ``>= t`` zero, ``gram_tt`` (N, N) = ``g^tT g^t``,
    both float64.  ``c = L^{-1} cross`` (future rows stay zero), Schur complement ``gram_tt - c^T c`` plus the
    jitter; where round-off still leaves it indefinite its smallest eigenvalue is lifted to the jitter."""
    N = gram_tt.shape[0]
    c = jax.scipy.linalg.solve_triangular(U.T, cross, lower=True)
    schur = gram_tt - c.T @ c
    schur = 0.5 * (schur + schur.T)
    delta = jnp.maximum(JITTER * jnp.trace(gram_tt) / N, 1e-200)  # floor: an all-zero signal (Picard's start)
    lam_min = jnp.linalg.eigvalsh(schur)[0]
    shift = jnp.maximum(delta, delta - lam_min)
    L22 = jnp.linalg.cholesky(schur + shift * jnp.eye(N, dtype=schur.dtype))
    return jax.lax.dynamic_update_slice(c, L22.T, (t * N, 0))  # block row t of L, transposed


def cross_gram(G_flat, g_t, t, N: int):
    """``G^T g^t`` (T N, N) from the sample-major history ``G_flat`` (S, T N), rows of steps ``>= t`` zeroed."""
    cross = G_flat.T @ g_t
    keep = (jnp.arange(G_flat.shape[1]) < t * N)[:, None]
    return jnp.where(keep, cross, 0.0)


def mixing_coefficients(U, R):
    """``L^T R = U R``: the noise ``Xi^T G R`` of any combination ``G R`` (``R`` (T N, k), rows of future steps
    zero) is ``Z @ (U R)``."""
    return U @ R


def step_noise(Z, U, t, N: int):
    """``Xi^T g^t = Z L[t]^T`` (S, N) once block ``t`` of the factor is written."""
    return Z @ jax.lax.dynamic_slice_in_dim(U, t * N, N, 1)


def factor_of_history(G):
    """``U = L^T`` for a whole signal history ``G`` (T, S, N) (time-major), built with the same block steps as the
    marching solvers, so that it equals theirs to round-off."""
    T, S, N = G.shape
    G_flat = jnp.transpose(G, (1, 0, 2)).reshape(S, T * N)

    def body(t, U):
        g_t = jax.lax.dynamic_index_in_dim(G, t, 0, keepdims=False)
        return extend_factor(U, t, cross_gram(G_flat, g_t, t, N), g_t.T @ g_t)

    return jax.lax.fori_loop(0, T, body, initial_factor(T, N))


@jax.jit
def noise_of_history(G, Z):
    """``Xi^T g^s`` for every step of a history ``G`` (T, S, N) with the conditional route's draws ``Z``:
    ``Z L^T``, returned time-major (T, S, N) (without the ``a^{-1/2}``)."""
    T, S, N = G.shape
    U = factor_of_history(G.astype(jnp.float64))
    return jnp.transpose((Z.astype(jnp.float64) @ U).reshape(S, T, N), (1, 0, 2))
