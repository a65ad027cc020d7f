"""The sampled data-side process shared by the finite-``a`` solvers (``dmft._finite``, ``dmft._blocked``): the
frozen random numbers (samples, ``Xi`` blocks, the noise mixer), the per-sample residual and Jacobian pieces, the
control-variate estimators, the loss records and the closed weight-side row.  Imports no other solver module, so
the solvers can share it without an import cycle.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from dmft import _noise
from dmft._config import ModelConfig, SolverConfig
from dmft._losses import closed_form_test_loss, dphi, phi, target


# ----------------------------------------------------------------------------------------------------------
# random numbers (identical for both solvers)


def _samples(p: ModelConfig, sc: SolverConfig):
    """Frozen samples: ``zeta0`` (S, N) and stratified ``h*`` (S,) with the law of ``(w^0, beta)``; ``xi``."""
    m0 = p.m0_array()
    chol = np.linalg.cholesky(p.Q0_array() - np.outer(m0, m0) / p.rho)
    return _draw(jax.random.PRNGKey(sc.seed), jnp.asarray(m0), jnp.asarray(chol), p.rho, S=sc.S)


@functools.partial(jax.jit, static_argnames=("S",))
def _draw(key, m0, chol, rho, S):
    k_perm, k_u, k_n, k_xi = jax.random.split(key, 4)
    N = m0.shape[0]
    strata = (jax.random.permutation(k_perm, S) + jax.random.uniform(k_u, (S,), jnp.float64)) / S
    hstar = jnp.sqrt(rho) * jax.scipy.special.ndtri(strata)
    zeta0 = hstar[:, None] * m0[None, :] / rho + jax.random.normal(k_n, (S, N), jnp.float64) @ chol.T
    xi = jax.random.normal(k_xi, (S,), jnp.float64)
    return zeta0, hstar, xi


def _chunks(S: int, chunk: int):
    return [(i, min(S, i + chunk)) for i in range(0, S, chunk)]


def _xi_block(sc: SolverConfig, index: int, lo: int, hi: int):
    """Columns ``lo:hi`` of the noise-mixing matrix ``Xi`` (S x S, entries N(0, 1/S)); numpy's generator
    (much faster than threefry on CPU), seeded by ``(seed, chunk index)``."""
    return jnp.asarray(_xi_block_np(sc, index, lo, hi))


def _xi_block_np(sc: SolverConfig, index: int, lo: int, hi: int) -> np.ndarray:
    rng = np.random.default_rng([sc.seed, 7919, index])
    return rng.standard_normal((sc.S, hi - lo)) / math.sqrt(sc.S)


# ----------------------------------------------------------------------------------------------------------
# shared pieces


def _delta(h, h0, hstar, xi, p):
    """Training residual ``Delta`` for preactivations ``h`` (..., N)."""
    out = p.alpha / p.N * jnp.sum(phi(h, p.eps), -1)
    if p.centered:
        out = out - p.alpha / p.N * jnp.sum(phi(h0, p.eps), -1)
    return out - target(hstar, p) - p.sigma * xi


def _jac_parts(h, h0, delta, p):
    """Per-sample ``A = dG/dh^t`` and ``B = dG/dh^0`` (..., N, N) and ``p_t = phi'(h^t)``."""
    pt, p0 = dphi(h, p.eps), dphi(h0, p.eps)
    eye = jnp.eye(p.N, dtype=h.dtype)
    A = -p.kappa * (p.alpha / p.N * pt[..., :, None] * pt[..., None, :] + p.eps * delta[..., None, None] * eye)
    B = p.kappa * p.alpha / p.N * pt[..., :, None] * p0[..., None, :] * (1.0 if p.centered else 0.0)
    return A, B, pt


def _moments(F, C):
    """Sample sums (axis 0) needed by the regression control variate."""
    return (jnp.sum(F, 0), jnp.sum(C, 0), jnp.sum(F * C, 0), jnp.sum(C * C, 0))


def _cv_estimate(mom, S, EC, mode):
    """``mean F - beta (mean C - E C)`` with ``beta = Cov(F, C)/Var(C)`` (regression), 1 or 0."""
    sF, sC, sFC, sCC = mom
    mF, mC = sF / S, sC / S
    if mode == "none":
        return mF
    if mode == "one":
        return mF - (mC - EC)
    var = sCC / S - mC * mC
    cov = sFC / S - mF * mC
    beta = jnp.where(var > 1e-14 * (mC * mC + 1e-30), cov / jnp.where(var > 0, var, 1.0), 1.0)
    return mF - beta * (mC - EC)


def _sigma0(p):
    m0 = jnp.asarray(p.m0_array())
    return jnp.block([[jnp.asarray(p.Q0_array()), m0[:, None]], [m0[None, :], jnp.full((1, 1), p.rho)]])


def record_losses(st, t, h, theta, samples, cw_tt, cw_t0, m_t, p, mode):
    """Write test (closed form) and the train estimators at step ``t`` into ``st`` (in place, a dict); return the
    residuals ``Delta(h)`` and ``Delta(theta)`` of the samples."""
    zeta0, hstar, xi = samples
    d_h = _delta(h, zeta0, hstar, xi, p)
    d_th = _delta(theta, zeta0, hstar, xi, p)
    test = closed_form_test_loss(cw_tt, cw_t0, jnp.asarray(p.Q0_array()), m_t, jnp.asarray(p.m0_array()), p.rho, p)
    mom = _moments(d_h ** 2, d_th ** 2)
    EC = test + p.sigma ** 2
    S = zeta0.shape[0]
    st["test"] = st["test"].at[t].set(test)
    st["train"] = st["train"].at[t].set(_cv_estimate(mom, S, EC, mode))
    st["train_cv1"] = st["train_cv1"].at[t].set(_cv_estimate(mom, S, EC, "one"))
    st["train_raw"] = st["train_raw"].at[t].set(_cv_estimate(mom, S, EC, "none"))
    return d_h, d_th


def _cg_set_row(Cg, t, row):
    """Write ``C_g[t, s] = row[s]`` (``row`` (T, N, N) by ``s``; entries ``s > t`` must be zero) and the symmetric
    ``C_g[s, t] = row[s]^T`` into ``Cg`` stored ``(T, N, T, N)``, ``Cg[s, j, u, k] = C_g[s, u]_{jk}``: the layout in
    which the weight side's ``sum_{s,u} R_w[t,s] C_g[s,u] R_w[t,u]^T`` is two plain matrix products."""
    Cg = jax.lax.dynamic_update_slice(Cg, jnp.transpose(row, (1, 0, 2))[None], (t, 0, 0, 0))
    return jax.lax.dynamic_update_slice(Cg, jnp.transpose(row, (0, 2, 1))[:, :, None, :], (0, 0, t, 0))


def _cg_row(cross, gram_tt, t, S: int):
    """Row ``C_g[t, s]`` (T, N, N) by ``s`` from the cross Gram ``cross[(s, k), i] = sum_b g^s_bk g^t_bi`` (rows of
    steps ``>= t`` zero) and ``gram_tt = g^tT g^t``; the same ``cross`` extends the conditional noise's factor."""
    N = gram_tt.shape[0]
    row = jnp.transpose(cross.reshape(-1, N, N), (0, 2, 1)) / S
    return jax.lax.dynamic_update_index_in_dim(row, gram_tt / S, t, 0)


def _rw_set_row(Rw, t, rw_t):
    """Write ``R_w[t, s] = rw_t[s]`` into ``Rw`` stored ``(T+1, N, T, N)``."""
    return Rw.at[t].set(jnp.transpose(rw_t, (1, 0, 2)))


def _public_layout(st: dict) -> dict:
    """``Rw`` (T+1, T, N, N) and ``Cg`` (T, T, N, N) indexed ``[t, s, i, k]``, from the solvers' layouts."""
    st = dict(st)
    st["Rw"] = jnp.transpose(st["Rw"], (0, 2, 1, 3))
    st["Cg"] = jnp.transpose(st["Cg"], (0, 2, 1, 3))
    return st


def _weight_row(t, Psi, Rw, Rg, mug, Cg, p: ModelConfig):
    """Row ``t`` of the closed weight side from rows ``< t`` and the data-side kernels at times ``< t``.

    ``Psi_t = Psi_{t-1} + dt sum_s R_g[t-1,s] Psi_s``; ``R_w[t,s] = R_w[t-1,s] + dt sum_r R_g[t-1,r] R_w[r,s]``,
    ``R_w[t,t-1] = I``; ``b_t = dt sum_s R_w[t,s] mu_g[s]``; returns ``Psi_t, R_w[t,:], b_t, m_t, C_w[t,t],
    C_w[t,0]``.  ``Rw`` is stored ``(T+1, N, T, N)``, ``Rw[r, i, s, k] = R_w[r, s]_{ik}`` (:func:`_rw_set_row`),
    and ``Cg`` ``(T, N, T, N)``, ``Cg[s, j, u, k] = C_g[s, u]_{jk}`` (:func:`_cg_set_row`): in these layouts the
    recursions are plain matrix products (the ``(T, T, N, N)`` layout made XLA transpose both arrays every step).
    """
    T, N, dt = p.T, p.N, p.dt
    eye = jnp.eye(N, dtype=Psi.dtype)
    prev = jnp.maximum(t - 1, 0)
    first = t == 0
    psi_t = Psi[prev] + dt * jnp.einsum("sij,sjk->ik", Rg[prev], Psi[:T])
    psi_t = jnp.where(first, eye, psi_t)
    lhs = jnp.transpose(Rg[prev], (1, 0, 2)).reshape(N, T * N)  # [i, (r, j)]
    lhs = jnp.concatenate([lhs, jnp.zeros((N, N), lhs.dtype)], axis=1)  # r = T: zero (the whole Rw, no sliced copy)
    rw_t = Rw[prev] + dt * (lhs @ Rw.reshape((T + 1) * N, T * N)).reshape(N, T, N)  # [i, s, k]: one plain product
    rw_t = jnp.transpose(rw_t, (1, 0, 2))  # [s, i, k]
    rw_t = jnp.where((jnp.arange(T) == prev)[:, None, None], eye, rw_t)
    rw_t = jnp.where(first, jnp.zeros_like(rw_t), rw_t)
    b_t = dt * jnp.einsum("sij,sj->i", rw_t, mug)
    m0 = jnp.asarray(p.m0_array())
    m_t = psi_t @ m0 + p.rho * b_t
    P = jnp.concatenate([psi_t, b_t[:, None]], axis=1)
    R = jnp.transpose(rw_t, (1, 0, 2)).reshape(N, T * N)  # [i, (s, j)]
    noise = R @ Cg.reshape(T * N, T * N) @ R.T  # Cg stored [s, j, u, k]: two plain products, no transposed copy
    cw_tt = P @ _sigma0(p) @ P.T + dt * dt / p.a * noise
    cw_tt = 0.5 * (cw_tt + cw_tt.T)
    cw_t0 = psi_t @ jnp.asarray(p.Q0_array()) + b_t[:, None] * m0[None, :]
    return psi_t, rw_t, b_t, m_t, cw_tt, cw_t0


def _full_xi(sc: SolverConfig, dtype=jnp.float64):
    """The whole ``Xi`` (S x S) in ``dtype``, built block by block (no float64 copy when ``dtype`` is float32)."""
    return _full_xi_t(sc, dtype).T


def _full_xi_t(sc: SolverConfig, dtype=jnp.float64):
    """``Xi^T`` stored row-major (same random numbers as :func:`_full_xi`): the solvers form the weight noise as
    ``Xi^T @ u``, and a row-major product is ~8x faster on CPU than contracting ``Xi``'s first axis
    (S = 16000: 0.03 s vs 0.24 s per step)."""
    out = jnp.zeros((sc.S, sc.S), dtype)  # rows written in place (donated): no second S x S copy
    for i, (lo, hi) in enumerate(_chunks(sc.S, sc.chunk)):
        out = _set_rows(out, jnp.asarray(_xi_block_np(sc, i, lo, hi).T, dtype), jnp.asarray(lo))
    return out


def _noise_of_history(sc: SolverConfig, g):
    """``Xi^T g^s`` (without ``a^{-1/2}``) for a time-major signal history ``g`` (T, S, N), with the random numbers
    of a solve with these settings: rebuilds the weight noise a solver used (the blocked one keeps no ``v``)."""
    if sc.noise == "stored":
        return jnp.einsum("cb,tci->tbi", _full_xi(sc), g)
    T, S, N = g.shape
    return _noise.noise_of_history(g, _noise.fresh_normals(sc.seed, S, T, N, jnp.float64))


_set_rows = jax.jit(lambda out, rows, lo: jax.lax.dynamic_update_slice(out, rows, (lo, 0)), donate_argnums=(0,))


def _mixer(sc: SolverConfig, T: int, N: int, dtype):
    """What the marching solvers mix the signals with: ``Xi^T`` (stored) or the draws ``Z`` (conditional)."""
    if sc.noise == "stored":
        return _full_xi_t(sc, dtype)
    return _noise.fresh_normals(sc.seed, sc.S, T, N, dtype)
