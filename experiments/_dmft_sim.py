"""Finite-D full-batch GD of the centred committee machine, in the DMFT conventions (spec §0.1).

``x ~ N(0, I_D)``, ``P = round(a D)``, ``h = W x/sqrt(D)``, ``h* = beta.x/sqrt(D)``; exact-overlap
initialisation (``W0 W0^T/D = Q0``, ``W0 beta/D = m0``, ``|beta|^2 = rho D`` exactly, via a QR-orthonormal
frame); target ``c0 + c1 h* + c2 h*^2`` (+ ``sigma xi`` on training labels); GD
``w_i <- w_i + dt/(a sqrt D) sum_mu g_{i,mu} x_mu``, ``g = -kappa Delta phi'(h)``, i.e.
``W <- W - dt (eta D/alpha^2) grad_W (1/2P) sum (f~ - y)^2``: one simulator step is ``dt`` of DMFT time.
Test loss: exact Gaussian formula of the overlaps (no Monte-Carlo error, implemented here independently of
``dmft``); train loss: ``mean_mu Delta^2`` with the t = 0 control variate (``train - train[0] + E train[0]``).
Seeds are vmapped (in batches of ``seed_batch``) and the whole trajectory is one jitted ``lax.scan``.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np


def _overlap_test_loss(Q, Qt0, Q0, m, m0, p):
    """Exact ``E (f~ - y)^2`` for a fresh Gaussian input from the overlaps (own implementation)."""
    N = Q.shape[-1]
    c = p.alpha / N
    e = p.alpha * p.eps / (2 * N)
    s0 = 1.0 if p.centered else 0.0
    # f~ - y = c.1^T (h - s0 h0) + e (|h|^2 - s0 |h0|^2) - c0 - c1 h* - c2 h*^2, (h, h0, h*) Gaussian
    trQ, trQ0 = jnp.trace(Q), jnp.trace(Q0)
    mean = e * (trQ - s0 * trQ0) - p.c0 - p.c2 * p.rho
    one = jnp.ones(N, Q.dtype)
    lin = (c * c * (one @ Q @ one - 2 * s0 * one @ Qt0 @ one + s0 * one @ Q0 @ one)
           - 2 * c * p.c1 * (one @ m - s0 * one @ m0) + p.c1 ** 2 * p.rho)
    quad = 2 * (e * e * (jnp.sum(Q * Q) - 2 * s0 * jnp.sum(Qt0 * Qt0) + s0 * jnp.sum(Q0 * Q0))
                - 2 * e * p.c2 * (m @ m - s0 * m0 @ m0) + p.c2 ** 2 * p.rho ** 2)
    return mean ** 2 + lin + quad


def exact_overlap_init(key, D, Q0, m0, rho, dtype=jnp.float32):
    """``(W0, beta)`` with ``W0 W0^T/D = Q0``, ``W0 beta/D = m0``, ``beta.beta/D = rho`` exactly."""
    N = Q0.shape[0]
    G = jax.random.normal(key, (D, N + 1), jnp.float64 if dtype == jnp.float64 else jnp.float32)
    frame, _ = jnp.linalg.qr(G)  # (D, N+1) orthonormal columns
    sigma = np.block([[np.array([[rho]]), m0[None, :]], [m0[:, None], Q0]])
    L = jnp.asarray(np.linalg.cholesky(sigma), frame.dtype)
    V = L @ (math.sqrt(D) * frame.T)
    return V[1:].astype(dtype), V[0].astype(dtype)


def _one_seed(key, p, D, P, dtype):
    N, dt, a = p.N, p.dt, p.a
    Q0 = p.Q0_array()
    m0 = p.m0_array()
    k_init, k_x, k_xi = jax.random.split(key, 3)
    W0, beta = exact_overlap_init(k_init, D, Q0, m0, p.rho, dtype)
    X = jax.random.normal(k_x, (P, D), dtype)
    sq = math.sqrt(D)
    hs = X @ beta / sq
    y = p.c0 + p.c1 * hs + p.c2 * hs * hs + p.sigma * jax.random.normal(k_xi, (P,), dtype)
    H0 = X @ W0.T / sq
    f0 = (p.alpha / N) * jnp.sum(H0 + 0.5 * p.eps * H0 * H0, 1) if p.centered else 0.0
    Q0j, m0j = jnp.asarray(Q0, dtype), jnp.asarray(m0, dtype)

    def observe(W, delta):
        Q = W @ W.T / D
        Qt0 = W @ W0.T / D
        m = W @ beta / D
        return dict(train_raw=jnp.mean(delta * delta), test=_overlap_test_loss(Q, Qt0, Q0j, m, m0j, p),
                    m=m, Q=Q, Qt0=Qt0)

    def residual(W):
        H = X @ W.T / sq
        return H, (p.alpha / N) * jnp.sum(H + 0.5 * p.eps * H * H, 1) - f0 - y

    def step(W, _):
        H, delta = residual(W)
        g = -p.kappa * delta[:, None] * (1.0 + p.eps * H)
        W_new = W + (dt / (a * sq)) * (X.T @ g).T
        return W_new, observe(W, delta)

    W_T, obs = jax.lax.scan(step, W0, None, length=p.T)
    last = observe(W_T, residual(W_T)[1])
    return jax.tree_util.tree_map(lambda xs, x: jnp.concatenate([xs, x[None]], 0), obs, last)


def simulate(p, D: int, seeds, seed_batch: int = 4, dtype=jnp.float32) -> dict:
    """Run GD for every seed in ``seeds``; returns numpy arrays with a leading seed axis.

    Keys: ``train`` (t = 0 control variate), ``train_raw``, ``test``, ``m`` (S, T+1, N), ``Q``, ``Qt0``;
    ``time = step * p.dt``.  ``p`` is a :class:`dmft.ModelConfig` (only its fields are read).
    """
    P = int(round(p.a * D))
    fn = jax.jit(jax.vmap(lambda k: _one_seed(k, p, D, P, dtype)))
    outs = []
    seeds = list(seeds)
    for i in range(0, len(seeds), seed_batch):
        keys = jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds[i:i + seed_batch]])
        outs.append(jax.tree_util.tree_map(np.asarray, fn(keys)))
    out = {k: np.concatenate([o[k] for o in outs], 0).astype(np.float64) for k in outs[0]}
    out["train"] = out["train_raw"] - out["train_raw"][:, :1] + (out["test"][:, :1] + p.sigma ** 2)
    out["time"] = np.arange(p.T + 1) * p.dt
    out["D"], out["P"] = D, P
    return out
