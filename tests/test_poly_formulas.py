"""Closed forms of the committee machine against independent routes (autodiff, Monte Carlo, eigensolvers)."""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import grokjax as gj


# Each test computes its routes inside one jax.jit: one compiled program instead of one per operation (op-by-op
# dispatch compiles every operation, and that was most of this file's time).
@partial(jax.jit, static_argnames=("N", "D", "trained"))
def _random_state(key, N=7, D=5, trained=False):
    k1, k2, k3 = jax.random.split(key, 3)
    params = gj.init_params(k1, N, D, trained_readouts=trained, dtype=jnp.float64)
    params["W"] = params["W"] + 0.7 * jax.random.normal(k2, (N, D), jnp.float64) + 0.3  # wbar != 0
    X = jax.random.normal(k3, (9, D), jnp.float64) / np.sqrt(D)
    return params, X


def test_autodiff_ntk_equals_closed_form(x64):
    params, X = _random_state(jax.random.PRNGKey(0))
    alpha, eps = 1.7, 0.4
    f = lambda p, Xs: gj.committee(p, Xs, alpha, eps)  # noqa: E731
    p2, X2 = _random_state(jax.random.PRNGKey(1), trained=True)

    @jax.jit
    def routes(params, X, p2, X2):
        return (gj.empirical_ntk(f, params, X, X[:4]),
                gj.ntk_closed_form(X, X[:4], gj.sufficient_stats(params), alpha, eps, params["W"].shape[0]),
                gj.ntk_features(params, X, X[:4], alpha, eps), gj.empirical_ntk(f, p2, X2, X2),
                gj.ntk_features(p2, X2, X2, alpha, eps))

    K_auto, K_closed, K_features, K2, K2_features = routes(params, X, p2, X2)
    rel = np.max(np.abs(K_auto - K_closed)) / np.max(np.abs(K_auto))
    assert rel <= 1e-10, rel
    # feature form (used for trained readouts) agrees too, with and without readouts
    assert np.allclose(K_features, K_auto, rtol=1e-12, atol=0)
    assert np.allclose(K2_features, K2, rtol=1e-10, atol=1e-14)


def test_ntk_vector_product_matches_gram(x64):
    params, X = _random_state(jax.random.PRNGKey(2))
    f = lambda p, Xs: gj.committee(p, Xs, 0.9, 0.3)  # noqa: E731
    v = jnp.arange(X.shape[0], dtype=jnp.float64)
    nvp, gram = jax.jit(lambda params, X: (gj.ntk_vector_product(f, params, X, v), gj.empirical_ntk(f, params, X, X)))(
        params, X)
    assert np.allclose(nvp, gram @ v, rtol=1e-12)


def test_initial_ntk_gram_spectrum_matches_mercer_eigenvalues(x64):
    D, n, eps = 6, 2500, 1.0
    X = jax.random.normal(jax.random.PRNGKey(3), (n, D), jnp.float64) / np.sqrt(D)
    wide = gj.Stats(jnp.zeros(D), jnp.eye(D))  # N -> infinity initial statistics
    lam = np.asarray(gj.ntk_spectrum(gj.ntk_closed_form(X, X, wide, 1.0, eps, 1)))
    n_quad = D * (D + 1) // 2 - 1
    expected_top = eps**2 * (D + 2) / D**2  # |x|^2 direction
    assert abs(lam[0] - expected_top) / expected_top < 0.1
    assert np.allclose(lam[1:1 + D], 1 / D, rtol=0.12)
    assert np.allclose(lam[1 + D:1 + D + n_quad], 2 * eps**2 / D**2, rtol=0.25)
    assert np.all(np.abs(lam[1 + D + n_quad:]) < 1e-9)  # higher degrees carry no power


@pytest.mark.parametrize("c0", [0.0, pytest.param(-0.37, marks=pytest.mark.slow)])  # same route, c0 != 0 slow
def test_decomposition_equals_monte_carlo(x64, c0):
    D, N, alpha, eps = 6, 5, 1.3, 0.4
    params, _ = _random_state(jax.random.PRNGKey(4), N=N, D=D)
    beta = jax.random.normal(jax.random.PRNGKey(5), (D,), jnp.float64)
    stats = gj.sufficient_stats(params)
    c2 = 0.5
    dec = gj.decompose_test_loss(stats, beta, c0, c2, alpha, eps)
    params0, _ = _random_state(jax.random.PRNGKey(7), N=N, D=D)

    @jax.jit
    def monte_carlo(params, params0):  # (mean, standard error) of the squared error, plain and centred predictor
        X = jax.random.normal(jax.random.PRNGKey(6), (2_000_000, D), jnp.float64) / np.sqrt(D)
        sq = (gj.committee(params, X, alpha, eps) - gj.target_fn(X, beta, c0, c2)) ** 2
        pred = gj.committee(params, X, alpha, eps) - gj.committee(params0, X, alpha, eps)
        sq_centred = (pred - gj.target_fn(X, beta, c0, c2)) ** 2
        return [(jnp.mean(s), jnp.std(s) / np.sqrt(X.shape[0])) for s in (sq, sq_centred)]

    (mc, se), (mc_centred, se_centred) = [tuple(map(float, pair)) for pair in monte_carlo(params, params0)]
    assert abs(float(dec.total) - mc) < 4 * se, (float(dec.total), mc, se)
    # centred predictor: f(W) - f(W0) has statistics (wbar - wbar0, M - M0)
    dstats = gj.Stats(*(a - b for a, b in zip(stats, gj.sufficient_stats(params0))))
    assert abs(float(gj.population_test_loss(dstats, beta, c0, c2, alpha, eps)) - mc_centred) < 4 * se_centred


def test_stats_prediction_equals_network(x64):
    params, X = _random_state(jax.random.PRNGKey(8), trained=True)
    direct, via_stats = jax.jit(lambda params, X: (gj.committee(params, X, 2.0, 0.7),
                                                   gj.predict_from_stats(gj.sufficient_stats(params), X, 2.0, 0.7)))(
        params, X)
    assert np.allclose(direct, via_stats, rtol=1e-12)


def test_lazy_statistics_are_the_exact_linearisation(x64):
    """jvp of the statistics reproduces jax.linearize of the network (trained readouts included)."""
    params, X = _random_state(jax.random.PRNGKey(9), trained=True)

    @jax.jit
    def routes(params, X):
        delta = jax.tree.map(lambda v: 0.3 * jnp.cos(jnp.arange(v.size).reshape(v.shape)), params)
        f0, lin = jax.linearize(lambda p: gj.committee(p, X, 1.1, 0.5), params)
        dstats = jax.jvp(gj.sufficient_stats, (params,), (delta,))[1]
        return lin(delta), gj.predict_from_stats(dstats, X, 1.1, 0.5)

    linearized, via_stats = routes(params, X)
    assert np.allclose(linearized, via_stats, rtol=1e-12)


def test_cka_variants():
    @jax.jit
    def values(key):
        Z = jax.random.normal(key, (30, 4))
        y = Z[:, 0] * 2 + 1
        K = Z @ Z.T
        Kc = K - K.mean(0, keepdims=True)
        yc = y - y.mean()
        H = jnp.eye(30) - 1 / 30
        return (gj.cka_paper(K, y), yc @ H @ K @ H @ yc / (jnp.linalg.norm(Kc) * yc @ yc),
                gj.cka_cortes(K, y), yc @ H @ K @ H @ yc / (jnp.linalg.norm(H @ K @ H) * yc @ yc),
                gj.cka_cortes(jnp.outer(yc, yc) + 5.0, y), gj.cka_paper(3.0 * K, y))

    paper, paper_ref, cortes, cortes_ref, aligned, paper_scaled = values(jax.random.PRNGKey(10))
    # paper variant: numerator equals ybar^T H K H ybar, denominator uses the one-sided centred K
    assert np.isclose(paper, paper_ref, rtol=1e-5)
    assert np.isclose(cortes, cortes_ref, rtol=1e-5)
    assert np.isclose(aligned, 1.0, rtol=1e-5)  # perfectly aligned kernel
    assert np.isclose(paper_scaled, paper, rtol=1e-5)  # scale invariant


def test_grokking_metrics():
    steps = np.array([0, 1, 10, 100, 1000])
    train = np.array([[1.0, 0.5, 0.05, 0.01, 0.0], [1.0, 0.9, 0.9, 0.9, 0.9]])
    test = np.array([[1.0, 1.2, 0.9, 0.08, 0.01], [1.0, 0.9, 0.9, 0.9, 0.9]])
    m = gj.grokking_metrics(steps, train, test, 0.1)
    assert m["t_train"][0] == 10 and m["t_test"][0] == 100 and m["delay"][0] == 90
    assert np.isnan(m["delay"][1])
    assert np.isclose(m["bump"][0], 0.2) and np.isclose(m["bump"][1], 0.0)
