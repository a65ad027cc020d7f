"""Finite ``a = P/D`` DMFT of full-batch GD (spec §0.2, §7): sampled data-point process, closed weight side.

Order parameters (time indices ``t, s = 0..T``; ``N x N`` blocks):

* weight side (closed form): ``Psi_t = dw^t/dw^0``, ``R_w[t, s]`` (``R_w[s+1, s] = I``), ``b_t``,
  ``m[t] = Psi_t m0 + rho b_t`` and ``C_w[t,t], C_w[t,0]``;
* data side (``S`` Monte-Carlo copies): ``h^t = theta^t + (dt/a) sum_{s<t} R_w[t,s] g^s`` with
  ``theta^t = Psi_t zeta0 + b_t h* + dt sum_{s<t} R_w[t,s] v^s``, ``v^s = a^{-1/2} Xi^T g^s`` (spec §7.2;
  ``Xi`` stored or, by default, realised through its exact conditional law: ``dmft._noise``);
  ``R_g[t,s] = E dg^t/dtheta^s`` (forward-mode tangents), ``mu_g[t] = E dg^t/dh*``, ``C_g = E g g^T``,
  with the memory-free control variates of spec §7.4 and stratified ``h*``.

Solver A (``method="march"``) marches causally in time (one sweep); its responses come from every per-sample
tangent (``responses="pathwise"``, memory ``S T^2 N^2``, the reference) or from the blocked estimator of
``dmft._blocked`` (default; memory independent of ``T^2``).  Solver B
(``method="picard"``) is the damped fixed-point iteration started from the online solution; it processes
the samples in chunks (memory ``chunk T^2 N^2`` for the Jacobians, obtained with ``jax.jacfwd`` of the
per-sample process), and returns one relative residual per sweep.  With the same ``seed`` and ``chunk``
both solvers use identical random numbers, so their fixed points coincide.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from dmft import _blocked, _noise
from dmft._config import ModelConfig, SolverConfig
from dmft._errors import ConfigError, DMFTConvergenceError
from dmft._losses import closed_form_test_loss, dphi, dtarget, online_coeffs
from dmft._online import online_arrays
from dmft._params import Params, to_params
from dmft._result import DMFTResult
from dmft._sampled import (_chunks, _cg_row, _cg_set_row, _cv_estimate, _delta, _jac_parts, _mixer, _moments,
                           _public_layout, _rw_set_row, _samples, _weight_row, _xi_block, record_losses)


# ----------------------------------------------------------------------------------------------------------
# solver A: causal time marching


def _march_init(p: ModelConfig, S: int, jdtype):
    """Solver A's zero state, built by one compiled program per shape (not one per ``jnp.zeros`` call)."""
    return _zero_march_state(p.T, p.N, S, jnp.dtype(jdtype).name)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _zero_march_state(T: int, N: int, S: int, jdtype: str):
    z = lambda *shape: jnp.zeros(shape, jnp.float64)
    return dict(
        Psi=z(T + 1, N, N), Rw=z(T + 1, N, T, N), bvec=z(T + 1, N), m=z(T + 1, N), Q=z(T + 1, N, N),
        Qt0=z(T + 1, N, N), Rg=z(T, T, N, N), mug=z(T, N), Cg=z(T, N, T, N), v=z(T, S, N), g=z(T, S, N),
        K=z(T, S, N), J=jnp.zeros((S, T, N, T, N), jdtype), train=z(T + 1), train_cv1=z(T + 1),
        train_raw=z(T + 1), test=z(T + 1), chol=_noise.initial_factor(T, N),
    )


def _march_step(t, st, samples, mixer, p: ModelConfig, mode: str, L: int, signals: bool, noise: str):
    """Weight row ``t``, losses at ``t`` and (if ``signals``) the data-side kernels at ``t`` (indices < L).
    ``mixer`` is ``Xi^T`` (``noise="stored"``) or the conditional route's draws ``Z`` (``dmft._noise``)."""
    zeta0, hstar, xi = samples
    S = zeta0.shape[0]
    N, dt, a = p.N, p.dt, p.a
    Q0 = jnp.asarray(p.Q0_array())
    psi_t, rw_t, b_t, m_t, cw_tt, cw_t0 = _weight_row(t, st["Psi"], st["Rw"], st["Rg"], st["mug"], st["Cg"], p)
    st = dict(st)
    st["Psi"] = st["Psi"].at[t].set(psi_t)
    st["Rw"] = _rw_set_row(st["Rw"], t, rw_t)
    st["bvec"] = st["bvec"].at[t].set(b_t)
    st["m"] = st["m"].at[t].set(m_t)
    st["Q"] = st["Q"].at[t].set(cw_tt)
    st["Qt0"] = st["Qt0"].at[t].set(cw_t0)
    rwL = rw_t[:L]
    base = zeta0 @ psi_t.T + hstar[:, None] * b_t[None, :]
    theta = base + dt * jnp.einsum("sij,sbj->bi", rwL, st["v"][:L])
    h = theta + dt / a * jnp.einsum("sij,sbj->bi", rwL, st["g"][:L])
    d_h, d_th = record_losses(st, t, h, theta, samples, cw_tt, cw_t0, m_t, p, mode)
    if not signals:
        return st
    A_on, B_on, c_on = online_coeffs(cw_tt, cw_t0, Q0, m_t, p)
    A, B, pt = _jac_parts(h, zeta0, d_h, p)
    Ath, Bth, pth = _jac_parts(theta, zeta0, d_th, p)
    g_t = -p.kappa * d_h[:, None] * pt
    # tangents: H[t,s] = delta_ts I + (dt/a) sum_r R_w[t,r] J[r,s];  J[t,s] = A_t H[t,s] + delta_s0 B_t
    Jold = st["J"][:, :L, :, :L, :]
    H = (dt / a) * jnp.einsum("rij,brjsk->bisk", rwL.astype(Jold.dtype), Jold).astype(jnp.float64)
    onehot_t = (jnp.arange(L) == t).astype(jnp.float64)
    onehot_0 = (jnp.arange(L) == 0).astype(jnp.float64)
    H = H + onehot_t[None, None, :, None] * jnp.eye(N)[None, :, None, :]
    Jrow = jnp.einsum("bim,bmsk->bisk", A, H) + onehot_0[None, None, :, None] * B[:, :, None, :]
    st["J"] = jax.lax.dynamic_update_slice(st["J"], Jrow[:, None].astype(st["J"].dtype), (0, t, 0, 0, 0))
    Kmem = (dt / a) * jnp.einsum("rij,rbj->bi", rwL, st["K"][:L])
    K_t = jnp.einsum("bim,bm->bi", A, Kmem) + p.kappa * dtarget(hstar, p)[:, None] * pt
    K_th = p.kappa * dtarget(hstar, p)[:, None] * pth
    # estimators with control variates
    row = jnp.transpose(jnp.mean(Jrow, 0), (1, 0, 2))  # (L, N, N): [s, i, k]
    first = t == 0
    C_diag = Ath + jnp.where(first, 1.0, 0.0) * Bth
    EC_diag = A_on + jnp.where(first, 1.0, 0.0) * B_on
    J_tt = jnp.take(Jrow, t, axis=2)
    est_diag = _cv_estimate(_moments(J_tt, C_diag), S, EC_diag, mode)
    est_0 = _cv_estimate(_moments(Jrow[:, :, 0, :], Bth), S, B_on, mode)
    row = row.at[0].set(jnp.where(first, row[0], est_0))
    row = jax.lax.dynamic_update_slice(row, est_diag[None], (t, 0, 0))
    st["Rg"] = jax.lax.dynamic_update_slice(st["Rg"], row[None], (t, 0, 0, 0))
    st["mug"] = st["mug"].at[t].set(_cv_estimate(_moments(K_t, K_th), S, c_on, mode))
    st["K"] = st["K"].at[t].set(K_t)
    # the cross Gram exactly as _noise.factor_of_history forms it (the test rebuilds the noise that way)
    cross = _noise.cross_gram(jnp.transpose(st["g"], (1, 0, 2)).reshape(S, -1), g_t, t, N)
    gram_tt = g_t.T @ g_t
    st["g"] = st["g"].at[t].set(g_t)
    st["Cg"] = _cg_set_row(st["Cg"], t, _cg_row(cross, gram_tt, t, S))
    if noise == "stored":
        v_t = mixer @ g_t
    else:  # Xi^T g^t = Z L[t]^T once block row t of the Gram factor is written
        st["chol"] = _noise.extend_factor(st["chol"], t, cross, gram_tt)
        v_t = _noise.step_noise(mixer, st["chol"], t, N)
    st["v"] = st["v"].at[t].set(v_t / jnp.sqrt(a))
    return st


def _march_block(st, t0, t1, samples, mixer, p, mode, L, noise):
    body = lambda t, s: _march_step(t, s, samples, mixer, p, mode, L, True, noise)
    return jax.lax.fori_loop(t0, t1, body, st)


_march_block_jit = jax.jit(_march_block, static_argnames=("mode", "L", "noise"), donate_argnums=(0,))
_march_last_jit = jax.jit(
    lambda st, samples, mixer, p, mode, noise: _march_step(p.T, st, samples, mixer, p, mode, p.T, False, noise),
    static_argnames=("mode", "noise"), donate_argnums=(0,))


def _solve_march(cfg: ModelConfig, p: Params, sc: SolverConfig, blocks: int | None = None):
    if blocks is None:
        blocks = 1 if p.T <= 24 else 4
    samples = _samples(cfg, sc)
    mixer = _mixer(sc, p.T, p.N, jnp.float64)
    st = _march_init(p, sc.S, jnp.dtype(sc.jac_dtype))
    edges = sorted({int(math.ceil(p.T * k / blocks)) for k in range(blocks + 1)})
    for t0, t1 in zip(edges[:-1], edges[1:]):
        st = _march_block_jit(st, t0, t1, samples, mixer, p, mode=sc.cv, L=t1, noise=sc.noise)
    st = _march_last_jit(st, samples, mixer, p, mode=sc.cv, noise=sc.noise)
    st.pop("J")
    st.pop("chol")
    return _public_layout(st), ()


# ----------------------------------------------------------------------------------------------------------
# solver B: damped fixed-point iteration, chunked over samples


def _weight_side(Rg, mug, Cg, p: ModelConfig):
    """All rows of the closed weight side for given data-side kernels."""
    T, N = p.T, p.N
    z = lambda *shape: jnp.zeros(shape, jnp.float64)
    init = (z(T + 1, N, N), z(T + 1, N, T, N), z(T + 1, N), z(T + 1, N), z(T + 1, N, N), z(T + 1, N, N))

    def body(t, carry):
        Psi, Rw, bv, m, Q, Qt0 = carry
        psi_t, rw_t, b_t, m_t, q_t, q0_t = _weight_row(t, Psi, Rw, Rg, mug, Cg, p)
        return (Psi.at[t].set(psi_t), _rw_set_row(Rw, t, rw_t), bv.at[t].set(b_t), m.at[t].set(m_t),
                Q.at[t].set(q_t), Qt0.at[t].set(q0_t))

    return jax.lax.fori_loop(0, T + 1, body, init)


def _process(theta, zeta0, hstar, xi, Rw, p: ModelConfig):
    """One training point: ``g^t`` (T, N) and ``Delta^t`` (T+1,) from its fields ``theta`` (T+1, N)."""
    T = p.T

    def step(ghist, t):
        h = theta[t] + p.dt / p.a * jnp.einsum("sij,sj->i", Rw[t], ghist)
        d = _delta(h, theta[0], hstar, xi, p)
        g = -p.kappa * d * dphi(h, p.eps)
        ghist = jnp.where((jnp.arange(T) == t)[:, None], g[None, :], ghist)
        return ghist, d

    ghist, deltas = jax.lax.scan(step, jnp.zeros((T, p.N), theta.dtype), jnp.arange(T + 1))
    return ghist, deltas


def _chunk_stats(v, zeta0, hstar, xi, Psi, Rw, bv, Q, Qt0, m, p: ModelConfig):
    """Sample sums of one chunk for all estimators (the chunk's Jacobians are reduced here); ``v`` (c, T, N) is
    the chunk's weight noise."""
    T, dt = p.T, p.dt
    theta = (jnp.einsum("tij,bj->bti", Psi, zeta0) + hstar[:, None, None] * bv[None]
             + dt * jnp.einsum("tsij,bsj->bti", Rw, v))

    def one(th, z0, hs, x):
        g, d = _process(th, z0, hs, x, Rw, p)
        J = jax.jacfwd(lambda u: _process(u, z0, hs, x, Rw, p)[0])(th)  # (T, N, T+1, N)
        K = jax.jvp(lambda u: _process(th, z0, u, x, Rw, p)[0], (hs,), (jnp.ones_like(hs),))[1]
        return g, d, J[:, :, :T, :], K

    g, d_h, J, K = jax.vmap(one)(theta, zeta0, hstar, xi)
    d_th = _delta(theta, zeta0[:, None, :], hstar[:, None], xi[:, None], p)  # (c, T+1)
    Ath, Bth, pth = _jac_parts(theta[:, :T], zeta0[:, None, :], d_th[:, :T], p)
    idx = jnp.arange(T)
    J_tt = J[:, idx, :, idx, :].transpose(1, 0, 2, 3)  # (c, T, N, N)
    first = (idx == 0)[None, :, None, None]
    C_diag = Ath + jnp.where(first, Bth, 0.0)
    K_th = p.kappa * dtarget(hstar, p)[:, None, None] * pth
    return dict(
        J=jnp.sum(J, 0).transpose(0, 2, 1, 3),  # (T, T, N, N): [t, s, i, k]
        diag=_moments(J_tt, C_diag), col0=_moments(J[:, :, :, 0, :], Bth), K=_moments(K, K_th),
        train=_moments(d_h ** 2, d_th ** 2), Cg=jnp.einsum("bti,bsk->tisk", g, g),
        g=jnp.transpose(g, (1, 0, 2)),
    )


_chunk_stats_jit = jax.jit(_chunk_stats)
_stored_noise_jit = jax.jit(lambda xi_cols, g, a: jnp.einsum("cb,tci->bti", xi_cols, g) / jnp.sqrt(a))
_conditional_noise_jit = jax.jit(lambda g, Z, a: jnp.transpose(_noise.noise_of_history(g, Z), (1, 0, 2)) / jnp.sqrt(a))
_weight_side_jit = jax.jit(_weight_side)


def _combine(stats, S, Q, Qt0, m, p: ModelConfig, mode: str):
    """Estimates ``R_g, mu_g, C_g`` and the losses from the pooled chunk sums."""
    T = p.T
    tot = jax.tree_util.tree_map(lambda *xs: sum(xs), *[{k: v for k, v in s.items() if k != "g"} for s in stats])
    Q0 = jnp.asarray(p.Q0_array())
    m0 = jnp.asarray(p.m0_array())
    A_on, B_on, c_on = jax.vmap(lambda q, q0, mm: online_coeffs(q, q0, Q0, mm, p))(Q[:T], Qt0[:T], m[:T])
    first = (jnp.arange(T) == 0)[:, None, None]
    Rg = tot["J"] / S
    diag = _cv_estimate(tot["diag"], S, A_on + jnp.where(first, B_on, 0.0), mode)
    col0 = _cv_estimate(tot["col0"], S, B_on, mode)
    Rg = Rg.at[1:, 0].set(col0[1:])
    idx = jnp.arange(T)
    Rg = Rg.at[idx, idx].set(diag)
    mug = _cv_estimate(tot["K"], S, c_on, mode)
    Cg = tot["Cg"] / S
    test = jax.vmap(lambda q, q0, mm: closed_form_test_loss(q, q0, Q0, mm, m0, p.rho, p))(Q, Qt0, m)
    EC = test + p.sigma ** 2
    losses = dict(test=test, train=_cv_estimate(tot["train"], S, EC, mode),
                  train_cv1=_cv_estimate(tot["train"], S, EC, "one"),
                  train_raw=_cv_estimate(tot["train"], S, EC, "none"))
    return Rg, mug, Cg, losses


_combine_jit = jax.jit(_combine, static_argnames=("S", "mode"))


def _rel(new, old):
    return float(jnp.max(jnp.abs(new - old)) / jnp.maximum(jnp.max(jnp.abs(new)), 1e-300))


def _solve_picard(cfg: ModelConfig, p: Params, sc: SolverConfig):
    T, N, S = p.T, p.N, sc.S
    zeta0, hstar, xi = _samples(cfg, sc)
    on = online_arrays(cfg)
    idx = np.arange(T)
    Rg = np.zeros((T, T, N, N))
    Rg[idx, idx] = on["A"][:T]
    Rg[:, 0] += on["B"][:T]
    Rg, mug, Cg = jnp.asarray(Rg), jnp.asarray(on["c"][:T]), jnp.zeros((T, N, T, N))
    g = jnp.zeros((T, S, N))
    chunks = _chunks(S, sc.chunk)
    Z = None if sc.noise == "stored" else _noise.fresh_normals(sc.seed, S, T, N, jnp.float64)
    residuals = []
    d = sc.damping
    for _ in range(sc.max_iter):
        Psi, Rw, bv, m, Q, Qt0 = _weight_side_jit(Rg, mug, Cg, p)
        Rw_ts = jnp.transpose(Rw, (0, 2, 1, 3))  # [t, s, i, k] for the per-sample process
        v_all = None if Z is None else _conditional_noise_jit(g, Z, p.a)
        noise = lambda i, lo, hi: (_stored_noise_jit(_xi_block(sc, i, lo, hi), g, p.a) if Z is None else v_all[lo:hi])
        stats = [_chunk_stats_jit(noise(i, lo, hi), zeta0[lo:hi], hstar[lo:hi], xi[lo:hi],
                                  Psi, Rw_ts, bv, Q, Qt0, m, p) for i, (lo, hi) in enumerate(chunks)]
        Rg_new, mug_new, Cg_new, losses = _combine_jit(stats, S, Q, Qt0, m, p, mode=sc.cv)
        g_new = jnp.concatenate([s["g"] for s in stats], axis=1)
        res = max(_rel(Rg_new, Rg), _rel(mug_new, mug), _rel(Cg_new, Cg))
        residuals.append(res)
        Rg, mug, Cg = ((1 - d) * x + d * y for x, y in ((Rg, Rg_new), (mug, mug_new), (Cg, Cg_new)))
        g = (1 - d) * g + d * g_new
        if res < sc.tol:
            break
    else:
        raise DMFTConvergenceError(f"damped fixed-point iteration did not reach tol={sc.tol:g} in "
                                   f"{sc.max_iter} sweeps (damping={d:g})", residuals)
    st = dict(Psi=Psi, Rw=Rw, bvec=bv, m=m, Q=Q, Qt0=Qt0, Rg=Rg, mug=mug, Cg=Cg, **losses)
    return _public_layout(st), tuple(residuals)


def _solve_blocked(cfg: ModelConfig, p: Params, sc: SolverConfig, histories: bool = False):
    hd = jnp.dtype(sc.jac_dtype)
    W = min(sc.window, p.T)
    edges = sc.block_edges(p.T)
    samples = _samples(cfg, sc)
    st = _blocked.march(samples, _mixer(sc, p.T, p.N, hd), p, sc.cv, W, tuple(map(tuple, edges.tolist())),
                        sc.noise, histories)
    for key in ("g", "K"):  # time-major like the pathwise solver
        if key in st:
            st[key] = jnp.transpose(st[key], (1, 0, 2))
    return _public_layout(st), ()


def kernels_gb(p: ModelConfig) -> float:
    """Memory (GB) of the order-parameter kernels every route keeps: ``R_g, mu_g, C_g, R_w`` ((TN)^2 float64
    each) and one temporary of that size; it grows as T^2 whatever the noise route (the ``noise="stored"``
    estimate used to leave it out: a 51 GB allocation at large T)."""
    return 5 * (p.T * p.N) ** 2 * 8 / 1e9


def state_gb(p: ModelConfig, sc: SolverConfig) -> float:
    """Estimated memory (GB) of a solve: the per-sample state plus the kernels (:func:`kernels_gb`), checked
    against ``sc.memory_gb`` and the device's memory before compute."""
    item = np.dtype(sc.jac_dtype).itemsize
    if sc.responses == "blocked":
        return (_blocked.state_bytes(sc.S, p.T, p.N, min(sc.window, p.T), sc.block_edges(p.T), item, sc.noise) / 1e9
                + kernels_gb(p))
    rows = sc.S if sc.method == "march" else min(sc.S, sc.chunk)
    mix = sc.S * sc.S * 8 if sc.noise == "stored" else sc.S * p.T * p.N * 8 + (p.T * p.N) ** 2 * 8
    return (rows * p.T ** 2 * p.N ** 2 * item + mix + 3 * sc.S * p.T * p.N * 8) / 1e9 + kernels_gb(p)


# ----------------------------------------------------------------------------------------------------------


def solve_dmft(p: ModelConfig, sc: SolverConfig = SolverConfig()) -> DMFTResult:
    """Finite-``a`` DMFT (order parameters in float64); ``sc.method`` picks solver A (``"march"``) or B
    (``"picard"``), ``sc.responses`` the response estimator of solver A (``"blocked"`` or ``"pathwise"``).

    Returns train (control-variate estimator ``sc.cv``), test (closed form), ``m``, ``Q``, ``Qt0`` on the time
    axis ``t = step * dt`` (``step`` = GD step of the simulator with the same ``dt``).  ``extras`` holds
    ``train_cv1``, ``train_raw`` and the kernels ``R_g, mu_g, C_g, R_w``.  Solver B raises
    :class:`DMFTConvergenceError` (with the residual history) if it does not converge.
    """
    p.validate()
    sc.validate()
    need = state_gb(p, sc)
    from grokjax._memory import memory_limit_bytes

    budget = min(sc.memory_gb, memory_limit_bytes() / 1e9)  # the user's budget, and never more than the device
    if need > budget:
        hint = ("lower S, raise block or lower window" if sc.responses == "blocked" else
                "use responses='blocked', or method='picard' with a smaller chunk")
        field = "T" if kernels_gb(p) > need / 2 else "S"  # the T^2 kernels, or the per-sample state
        if field == "T":
            hint = "the (TN)^2 kernels dominate: lower T"
        raise ConfigError(field, f"this solve needs ~{need:.2f} GB of per-sample state and kernels, more than "
                                 f"memory_gb={budget:g} ({hint})")
    cfg = p
    solver = _solve_blocked if sc.responses == "blocked" else (_solve_march if sc.method == "march" else _solve_picard)
    with jax.enable_x64(True):
        p = to_params(cfg)
        st, residuals = solver(cfg, p, sc)
        st = {k: np.asarray(v) for k, v in st.items() if k not in ("v", "g", "K", "J", "chol")}
    steps = np.arange(p.T + 1)
    extras = {k: st[k] for k in ("train_cv1", "train_raw", "Rg", "mug", "Cg", "Rw", "Psi", "bvec")}
    return DMFTResult(time=steps * cfg.dt, step=steps, train=st["train"], test=st["test"], m=st["m"], Q=st["Q"],
                      Qt0=st["Qt0"], residuals=residuals, extras=extras, config=(cfg, sc))
