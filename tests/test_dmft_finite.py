"""Finite-a DMFT: solver A == solver B, a -> inf limit, responses vs finite differences and Stein, 1/a gap."""
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmft import DMFTConvergenceError, ModelConfig, SolverConfig, first_order_gap, solve_dmft, solve_online
from dmft import _finite, _sampled
from dmft._params import to_params

SET_A = ModelConfig(N=4, a=8.0, alpha=2.0, eps=0.5, eta=4.0, dt=0.25, T=12)


# the default suite keeps the stored-noise case (half the time; the conditional route reproduces a stored Xi in
# tests/test_dmft_noise.py)
@pytest.fixture(scope="module", params=[pytest.param("conditional", marks=pytest.mark.slow), "stored"])
def both_solvers(request):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc = dict(S=400, chunk=200, seed=3, responses="pathwise", jac_dtype="float64", noise=request.param)
        return (solve_dmft(SET_A, SolverConfig(method="march", **sc)),
                solve_dmft(SET_A, SolverConfig(method="picard", tol=1e-11, **sc)))


def test_solver_a_equals_solver_b(both_solvers):
    a, b = both_solvers
    for name in ("train", "test", "m", "Q", "Qt0"):
        assert np.max(np.abs(getattr(a, name) - getattr(b, name))) < 1e-9, name
    for name in ("Rg", "mug", "Cg"):
        assert np.max(np.abs(a.extras[name] - b.extras[name])) < 1e-9, name
    res = np.asarray(b.residuals)
    assert res[-1] < 1e-11 and res[0] > 1e-3 and len(res) <= SET_A.T + 2
    assert a.residuals == ()
    assert np.all(a.gap[3:] < 0)  # memorisation: train below test


def test_nonconvergence_raises_with_history():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DMFTConvergenceError) as info:
            solve_dmft(SET_A, SolverConfig(method="picard", S=400, chunk=200, max_iter=3, damping=0.5,
                                           responses="pathwise"))
    assert len(info.value.residuals) == 3 and "residual" in str(info.value)


# T = 4, S = 4000: the shapes and settings of the default-solver solves in
# test_first_order_gap_error_falls_like_inverse_square (only N, T, centered and the solver's static settings are
# compiled in; a is an argument), so the default case reuses their compiled march.  The uncentred predictor is
# another variant of the same check (slow suite).
@pytest.mark.parametrize("centered", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_huge_a_is_online(centered):
    p = ModelConfig(a=1e5, T=4, centered=centered)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = solve_dmft(p, SolverConfig(S=4000, seed=0))
    on = solve_online(p)
    assert np.max(np.abs(r.m - on.m)) < 1e-4
    assert np.max(np.abs(r.test - on.test)) < 1e-4
    assert np.max(np.abs(r.train - on.test)) < 1e-4
    assert np.max(np.abs(on.m[-1] - on.m[0])) > 0.01


# The per-sample process of every sample, compiled once for the cases below (R_w and the parameters are arguments,
# not constants baked into the program).
_sampled_process = jax.jit(jax.vmap(lambda th, z0, hs, x, Rw, p: _finite._process(th, z0, hs, x, Rw, p)[0],
                                    in_axes=(0, 0, 0, 0, None, None)))


# block = 1 (slow suite): the blocked estimator is then exact, and equal to the pathwise one on the same random
# numbers (tests/test_dmft_blocked.py, test_exact_cases_equal_pathwise[3-1-conditional]), which the pathwise case
# here checks against finite differences and Stein; block = 3 checks the block sums themselves.
@pytest.mark.parametrize("responses,window,block", [("pathwise", 16, 16),
                                                    pytest.param("blocked", 2, 1, marks=pytest.mark.slow),
                                                    ("blocked", 2, 3)])
def test_responses_match_finite_differences_and_stein(responses, window, block):
    """Forward-mode tangents of solver A vs central finite differences of the sampled process (raw means, no
    control variates), and the Stein identity E[g^t h*] = sum_s R_g[t,s] m[s] + rho mu_g[t].  The blocked
    estimator with block > 1 is exact for lags <= window, for s = 0 and for the sum over each block's older
    lags (spread uniformly inside the block): those are the entries compared."""
    cfg = ModelConfig(T=8, a=4.0, eps=1.0)
    sc = SolverConfig(S=400, cv="none", seed=1, responses=responses, window=window, block=block,
                      jac_dtype="float64")
    with jax.enable_x64(True):
        p = to_params(cfg)
        if responses == "pathwise":
            st, _ = _finite._solve_march(cfg, p, sc)
        else:
            st, _ = _finite._solve_blocked(cfg, p, sc, histories=True)
        zeta0, hstar, xi = _finite._samples(cfg, sc)
        T, N, dt = cfg.T, cfg.N, cfg.dt
        # v^s = a^{-1/2} Xi^T g^s from the stored g history (the blocked solver never stores v)
        v = _sampled._noise_of_history(sc, st["g"]) / jnp.sqrt(cfg.a)
        theta = (jnp.einsum("tij,bj->bti", st["Psi"], zeta0) + hstar[:, None, None] * st["bvec"][None]
                 + dt * jnp.einsum("tsij,sbj->bti", st["Rw"], v))
        Rw = st["Rw"]
        proc = lambda th, hs: _sampled_process(th, zeta0, hs, xi, Rw, p)
        g = proc(theta, hstar)
        assert np.max(np.abs(np.asarray(g) - np.transpose(np.asarray(st["g"]), (1, 0, 2)))) < 1e-12
        delta = 1e-5
        fd = np.zeros((T, T, N, N))
        for s in range(T):
            for k in range(N):
                e = jnp.zeros((T + 1, N)).at[s, k].set(delta)
                diff = (proc(theta + e, hstar) - proc(theta - e, hstar)) / (2 * delta)
                fd[:, s, :, k] = np.asarray(jnp.mean(diff, 0))
        fd_mu = np.asarray(jnp.mean((proc(theta, hstar + delta) - proc(theta, hstar - delta)) / (2 * delta), 0))
        Rg = np.asarray(st["Rg"])
        if responses == "blocked" and block > 1:
            from dmft._blocked import block_edges

            lo, hi = block_edges(T, block)
            for t in range(T):
                for k in range(1, len(lo)):
                    old = [s for s in range(lo[k], min(hi[k], T)) if t - s > window]
                    if old:
                        np.testing.assert_allclose(Rg[t, old].sum(0), fd[t, old].sum(0), atol=1e-7)
                        fd[t, old] = Rg[t, old]  # the spread inside a block is the approximation
        assert np.max(np.abs(fd - Rg)) < 1e-7
        assert np.max(np.abs(fd_mu - np.asarray(st["mug"]))) < 1e-7
        # Stein / Novikov: correlation route vs response route (statistical, same samples)
        lhs = np.asarray(jnp.mean(g * hstar[:, None, None], 0))
        rhs = np.einsum("tsij,sj->ti", np.asarray(st["Rg"]), np.asarray(st["m"][:T])) + cfg.rho * np.asarray(st["mug"])
        se = np.asarray(jnp.std(g * hstar[:, None, None], 0)) / np.sqrt(sc.S)
        assert np.max(np.abs(lhs - rhs) / (se + 1e-3)) < 5.0
        assert np.max(np.abs(lhs)) > 0.05


def test_first_order_gap_error_falls_like_inverse_square():
    """a * (gap_DMFT - gap_first_order) = c_MC + b/a: its successive differences over a = 8, 16, 32 halve
    (1/a^2 decay of the gap error; c_MC is the common Monte-Carlo error of the sampled gap, same seed)."""
    d = []
    for a in (8.0, 16.0, 32.0):
        p = ModelConfig(T=4, a=a)
        r = solve_dmft(p, SolverConfig(S=4000, seed=0))
        _, g1 = first_order_gap(p)
        d.append(a * (r.gap[-1] - g1[-1]))
        assert abs(r.gap[-1] - g1[-1]) < 0.1 * abs(g1[-1])
    ratio = (d[0] - d[1]) / (d[1] - d[2])
    assert 1.6 < ratio < 3.4, (d, ratio)


def test_first_order_gap_small_t():
    """At small t the gap is -(2 eta t/(a N^2)) E[Delta_0^2 |phi'_0|^2] (spec §6), negative and ~ 1/a."""
    # T = 4 like test_first_order_gap_error_falls_like_inverse_square (same compiled recursion; step 2 does not
    # depend on T)
    _, g8 = first_order_gap(ModelConfig(T=4, a=8.0, dt=0.01))
    _, g16 = first_order_gap(ModelConfig(T=4, a=16.0, dt=0.01))
    assert g8[0] == 0 and g8[2] < 0
    assert abs(g8[2] / g16[2] - 2.0) < 1e-9
