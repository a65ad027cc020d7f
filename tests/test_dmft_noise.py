"""The weight noise's conditional route (``dmft._noise``) against the stored ``Xi`` of spec §7.2."""
import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmft import ModelConfig, SolverConfig, solve_dmft
from dmft import _blocked, _noise, _sampled
from dmft._params import to_params


# The model, sample count and blocked-estimator settings (window 3, blocks of 4, float64) of the marches below:
# those of tests/test_dmft_blocked.py (SET, S = 300, test_spread_approximation_is_small), so the conditional march's
# compiled steps are shared through the session's XLA cache; test_longer_horizon_extends_a_shorter_one reuses them.
_NOISE_SET = ModelConfig(N=4, a=8.0, alpha=2.0, eps=0.5, eta=4.0, dt=0.25, T=16)
_S, _WINDOW, _BLOCK = 300, 3, 4


def _smooth_history(rng, T, S, N, step=0.01):
    """Nearly collinear signals, like a real ``g`` history (``g^t - g^{t-1} = O(dt)``)."""
    g = [rng.standard_normal((S, N))]
    for _ in range(T - 1):
        g.append(g[-1] + step * rng.standard_normal((S, N)))
    return np.stack(g)


def test_factor_is_the_cholesky_of_the_jittered_gram():
    """``L L^T = G^T G + blockdiag(delta_t I)`` for an ill-conditioned history (block steps, not a library
    Cholesky of the whole matrix)."""
    rng = np.random.default_rng(0)
    T, S, N = 25, 120, 3
    G = _smooth_history(rng, T, S, N, step=0.001)
    with jax.enable_x64(True):
        L = np.asarray(jax.jit(_noise.factor_of_history)(jnp.asarray(G))).T  # stored as U = L^T
    flat = np.transpose(G, (1, 0, 2)).reshape(S, T * N)
    M = flat.T @ flat
    delta = np.repeat([_noise.JITTER * np.trace(M[t * N:(t + 1) * N, t * N:(t + 1) * N]) / N for t in range(T)], N)
    assert np.allclose(L, np.tril(L))
    assert np.max(np.abs(L @ L.T - M - np.diag(delta))) < 1e-12 * np.max(np.abs(M))
    assert np.linalg.cond(M) > 1e9  # the jitter matters: M alone is close to singular


def test_conditional_route_reproduces_a_stored_xi():
    """Exactness on the same random numbers: with ``Z = Xi^T G L^{-T}`` built from a stored ``Xi`` and the signal
    history that the stored-noise solve produced, the conditional-noise solve retraces that solve (``Z L^T = Xi^T
    G`` step by step, by induction over t).  A wrong factor, a wrong block order or an acausal row breaks it."""
    cfg = _NOISE_SET
    sc = SolverConfig(S=_S, seed=4, noise="stored")
    edges = tuple(map(tuple, _blocked.block_edges(cfg.T, _BLOCK).tolist()))
    with jax.enable_x64(True):
        p = to_params(cfg)
        samples = _sampled._samples(cfg, sc)
        XiT = _sampled._full_xi_t(sc)
        ref = _blocked.march(samples, XiT, p, "regression", _WINDOW, edges, "stored", histories=True)
        G = ref["g"]  # (S, T, N)
        L = _noise.factor_of_history(jnp.transpose(G, (1, 0, 2))).T
        Q = jax.scipy.linalg.solve_triangular(L, G.reshape(sc.S, -1).T, lower=True).T
        new = _blocked.march(samples, XiT @ Q, p, "regression", _WINDOW, edges, "conditional")
        fresh = _blocked.march(samples, _noise.fresh_normals(sc.seed, sc.S, cfg.T, cfg.N, jnp.float64), p,
                               "regression", _WINDOW, edges, "conditional")
    for name in ("train", "test", "m", "Q", "Rg", "mug", "Cg"):
        scale = np.max(np.abs(np.asarray(ref[name])))
        assert np.max(np.abs(np.asarray(new[name]) - np.asarray(ref[name]))) < 1e-8 * scale, name
    # and fresh draws are different random numbers (the comparison above is not vacuous)
    assert np.max(np.abs(np.asarray(fresh["test"]) - np.asarray(ref["test"]))) > 1e-4


def test_noise_has_the_empirical_signal_covariance():
    """Law check for a fixed history: the rows of ``Xi^T G`` are i.i.d. with covariance ``G^T G/S``; the
    conditional route's rows (``Z L^T``) must have the same (5 standard errors on every entry)."""
    rng = np.random.default_rng(1)
    T, S, N = 6, 20000, 2
    G = _smooth_history(rng, T, S, N, step=0.3)
    with jax.enable_x64(True):
        Z = _noise.fresh_normals(7, S, T, N, jnp.float64)
        Y = np.asarray(_noise.noise_of_history(jnp.asarray(G), Z))  # (T, S, N)
    rows = np.transpose(Y, (1, 0, 2)).reshape(S, T * N)  # i.i.d. rows, covariance G^T G/S
    flat = np.transpose(G, (1, 0, 2)).reshape(S, T * N)
    target = flat.T @ flat / S
    emp = rows.T @ rows / S
    se = np.sqrt((target ** 2 + np.outer(np.diag(target), np.diag(target))) / S)
    assert np.max(np.abs(emp - target) / se) < 5.0


@pytest.mark.parametrize("noise", ["conditional", pytest.param("stored", marks=pytest.mark.slow)])
def test_longer_horizon_extends_a_shorter_one(noise):
    """The random numbers of step t do not depend on T: a T = 8 solve is the start of a T = 16 solve.

    The long solve has the shapes and static settings of the marches in
    test_conditional_route_reproduces_a_stored_xi, so its compiled steps are reused; with window 3 < t the blocked
    estimator's block spreading is in play too (the blocks of the T = 8 solve are the first blocks of the T = 16
    one)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc = SolverConfig(S=_S, seed=3, noise=noise, jac_dtype="float64", window=_WINDOW, block=_BLOCK)
        short = solve_dmft(dataclasses.replace(_NOISE_SET, T=8), sc)
        long = solve_dmft(_NOISE_SET, sc)
    assert np.max(np.abs(long.test[:9] - short.test)) < 1e-9
    assert np.max(np.abs(long.train[:9] - short.train)) < 1e-9
    assert np.max(np.abs(long.extras["Rg"][:8, :8] - short.extras["Rg"])) < 1e-9


def test_conditional_noise_needs_no_square_matrix():
    """The point of the route: its noise source is S T N + (T N)^2 numbers against S^2."""
    from dmft._finite import state_gb

    p = ModelConfig(T=400)
    cond = state_gb(p, SolverConfig(S=8000, block=32))
    stored = state_gb(p, SolverConfig(S=8000, block=32, noise="stored"))
    assert stored - cond > 0.15  # GB: Xi is 0.256 GB in float32, Z + L 0.07 GB
