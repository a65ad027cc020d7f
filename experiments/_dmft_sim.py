"""Finite-D full-batch GD of the centred committee machine, in the DMFT conventions (spec §0.1).

``x ~ N(0, I_D)``, ``P = round(a D)``, ``h = W x/sqrt(D)``, ``h* = beta.x/sqrt(D)``; exact-overlap
initialisation (``W0 W0^T/D = Q0``, ``W0 beta/D = m0``, ``|beta|^2 = rho D`` exactly, via a QR-orthonormal
frame); target ``c0 + c1 h* + c2 h*^2`` (+ ``sigma xi`` on training labels); GD
``w_i <- w_i + dt/(a sqrt D) sum_mu g_{i,mu} x_mu``, ``g = -kappa Delta phi'(h)``, i.e.
``W <- W - dt (eta D/alpha^2) grad_W (1/2P) sum (f~ - y)^2``: one simulator step is ``dt`` of DMFT time.
Test loss: exact Gaussian formula of the overlaps (no Monte-Carlo error, implemented here independently of
``dmft``); train loss: ``mean_mu Delta^2`` with the t = 0 control variate and a fitted coefficient
(:func:`fitted_cv`).  This side simulator is the second reference of ``grokjax compare dmft --sim side``
(it supports ``c1`` and label noise); the default route is the library's own simulator (:func:`simulate_library`).
Seeds are vmapped (in batches of ``seed_batch``); the forward pass and the loop are the library's (:func:`run`).
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


def fitted_cv(train_raw: np.ndarray, expected0: np.ndarray) -> np.ndarray:
    """Train loss with the t = 0 control variate and its fitted coefficient (per t, over seeds).

    ``train_raw[:, 0]`` (seeds, T+1) fluctuates around its known mean ``expected0`` (the population loss at
    initialisation); ``train[t] = train_raw[t] - c_t (train_raw[0] - expected0)`` with
    ``c_t = Cov(train_raw[t], train_raw[0]) / Var(train_raw[0])`` (the variance-optimal coefficient; the
    fixed ``c = 1`` of a plain difference inflates the standard error once the curves decorrelate).
    """
    x = train_raw[:, 0] - expected0
    if train_raw.shape[0] < 3 or np.var(x) == 0:
        return train_raw - x[:, None]
    xc = x - x.mean()
    yc = train_raw - train_raw.mean(0)
    coef = (xc @ yc) / (xc @ xc)
    return train_raw - coef[None, :] * x[:, None]


def exact_overlap_init(key, D, Q0, m0, rho, dtype=jnp.float32):
    """``(W0, beta)`` with ``W0 W0^T/D = Q0``, ``W0 beta/D = m0``, ``beta.beta/D = rho`` exactly."""
    N = Q0.shape[0]
    G = jax.random.normal(key, (D, N + 1), jnp.float64 if dtype == jnp.float64 else jnp.float32)
    frame, _ = jnp.linalg.qr(G)  # (D, N+1) orthonormal columns
    sigma = np.block([[np.array([[rho]]), m0[None, :]], [m0[:, None], Q0]])
    L = jnp.asarray(np.linalg.cholesky(sigma), frame.dtype)
    V = L @ (math.sqrt(D) * frame.T)
    return V[1:].astype(dtype), V[0].astype(dtype)


def draw(key, p, D: int, P: int, dtype=jnp.float32):
    """One seed's problem: ``(W0, beta, X, y)`` with exact overlaps, ``X`` (P, D) ~ N(0, 1) entries and the
    training labels ``y = c0 + c1 h* + c2 h*^2 + sigma xi`` (``h* = X beta/sqrt(D)``)."""
    k_init, k_x, k_xi = jax.random.split(key, 3)
    W0, beta = exact_overlap_init(k_init, D, p.Q0_array(), p.m0_array(), p.rho, dtype)
    X = jax.random.normal(k_x, (P, D), dtype)
    hs = X @ beta / math.sqrt(D)
    y = p.c0 + p.c1 * hs + p.c2 * hs * hs + p.sigma * jax.random.normal(k_xi, (P,), dtype)
    return W0, beta, X, y


def run(W0, beta, X, y, p):
    """GD in the DMFT conventions from a given problem; observations at steps ``0..T``.

    The forward pass is the library's committee machine on ``x / sqrt(D)`` and the step runs on the library's
    loop (:func:`grokjax.run_logged`, one step per logged interval).  The DMFT step
    ``w_i <- w_i + dt/(a sqrt D) sum_mu g_{i,mu} x_mu`` with ``g = -kappa Delta phi'(h)`` is
    ``W <- W - (dt N kappa / (a alpha)) d/dW [sum_mu Delta_mu f_mu]`` at fixed ``Delta`` (one VJP).
    """
    from grokjax import committee, run_logged

    N, dt, a = p.N, p.dt, p.a
    D = X.shape[1]
    dtype = X.dtype
    Xs = X / math.sqrt(D)
    forward = lambda W: committee({"W": W}, Xs, p.alpha, p.eps)
    f0 = forward(W0) if p.centered else 0.0
    Q0j, m0j = jnp.asarray(p.Q0_array(), dtype), jnp.asarray(p.m0_array(), dtype)
    scale = dt * N * p.kappa / (a * p.alpha)

    def observe(W):
        delta = forward(W) - f0 - y
        Q = W @ W.T / D
        Qt0 = W @ W0.T / D
        m = W @ beta / D
        return dict(train_raw=jnp.mean(delta * delta), test=_overlap_test_loss(Q, Qt0, Q0j, m, m0j, p),
                    m=m, Q=Q, Qt0=Qt0)

    def step(W):
        f, vjp = jax.vjp(forward, W)
        return None, W - scale * vjp(f - f0 - y)[0]

    _, obs, _ = run_logged(step, observe, W0, np.arange(p.T + 1))
    return obs


def _one_seed(key, p, D, P, dtype):
    return run(*draw(key, p, D, P, dtype), p)


def simulate_side(p, D: int, seeds, seed_batch: int = 4, dtype=jnp.float32) -> dict:
    """The independent DMFT-convention ("side") simulator: GD for every seed in ``seeds``; numpy arrays with a
    leading seed axis.

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
    out["train"] = fitted_cv(out["train_raw"], out["test"][:, 0] + p.sigma ** 2)
    out["time"] = np.arange(p.T + 1) * p.dt
    out["D"], out["P"] = D, P
    return out


def library_config(p, D: int):
    """The :class:`grokjax.PolyConfig` whose GD step is one DMFT step ``dt`` of ``p`` (same problem sizes).

    grokjax uses ``x ~ N(0, I/D)``, ``h = w.x`` (the same preactivations), plain MSE without 1/2 and
    ``lr = eta0 N/alpha^2``, so one step is ``dt`` when ``eta0 = dt eta P/(2 N a)`` (spec ``dmft.md`` §0.1).
    Its targets are ``c0 + c2 h*^2``: ``c1 != 0`` or label noise need ``--sim side``.
    """
    import grokjax as gj
    from dmft import ConfigError

    if p.c1 != 0:
        raise ConfigError("c1", "grokjax's simulator has targets c0 + c2 h*^2 only; use --sim side for c1 != 0")
    if p.sigma != 0:
        raise ConfigError("sigma", "grokjax's simulator has no label noise; use --sim side for sigma > 0")
    P = int(round(p.a * D))
    eta0 = p.dt * p.eta * P / (2.0 * p.N * p.a)
    return gj.PolyConfig(D=D, N=p.N, P=P, P_test=2, alpha=p.alpha, eps=p.eps, eta0=eta0, steps=p.T, n_log=p.T,
                         log_schedule="linear", centered=p.centered, optimizer="gd", lazy=False,
                         kernel_regression=False, n_align=0, engine="weights", dtype="float32")


def simulate_library(p, D: int, seeds, seed_batch: int = 4) -> dict:
    """GD with the library's own simulator (:func:`grokjax.simulate_from`) from exact-overlap initialisations.

    Same draws as :func:`simulate_side` (``draw``): the two routes see identical problems.  Returns ``train``
    (fitted t = 0 control variate), ``train_raw``, ``test`` (the library's exact population loss) with a leading
    seed axis; ``time = step * p.dt``.
    """
    import grokjax as gj

    cfg = library_config(p, D)
    P = cfg.P
    steps = gj.logged_steps(cfg)
    if not np.array_equal(steps, np.arange(p.T + 1)):
        raise RuntimeError("the linear log schedule must log every step 0..T")
    sq = math.sqrt(D)

    def one(key):
        W0, beta, X, y = draw(key, p, D, P)
        Xl = X / sq
        Xt = Xl[:2]
        data = gj.PolyData(Xl, y, Xt, p.c0 + p.c2 * (Xt @ beta) ** 2, beta, jnp.asarray(p.c0, X.dtype),
                           jnp.asarray(p.c2, X.dtype))
        out = gj.simulate_from(cfg, None, data, {"W": W0})
        return {"train_raw": out["train_loss"], "test": out["pop_test_loss"]}

    fn = jax.jit(jax.vmap(one))
    seeds = list(seeds)
    outs = []
    for i in range(0, len(seeds), seed_batch):
        keys = jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds[i:i + seed_batch]])
        outs.append(jax.tree_util.tree_map(np.asarray, fn(keys)))
    out = {k: np.concatenate([o[k] for o in outs], 0).astype(np.float64) for k in outs[0]}
    out["train"] = fitted_cv(out["train_raw"], out["test"][:, 0])
    out["time"] = np.arange(p.T + 1) * p.dt
    out["D"], out["P"] = D, P
    return out
