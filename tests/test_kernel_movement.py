"""Kernel movement (||K_t - K0||/||K0||, alignment of K_t with K0) and the after-kernel test loss:
closed form from the statistics (inside the compiled run) against the Jacobian route and explicit matrices."""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import grokjax as gj
from grokjax._kernels import (KERNEL_MOVEMENT, empirical_kernel_movement, kernel_kernel_alignment,
                              kernel_movement, kernel_regression_test_loss)


# Each test computes its routes inside one jax.jit: one compiled program instead of one per operation (op-by-op
# dispatch compiles every operation, and that was most of this file's time).
@partial(jax.jit, static_argnames=("N", "D", "n", "trained"))
def _problem(key, N=6, D=4, n=11, trained=False):
    k1, k2, k3 = jax.random.split(key, 3)
    params0 = gj.init_params(k1, N, D, trained_readouts=trained, dtype=jnp.float64)
    params = jax.tree.map(lambda v, z: v + 0.5 * z + 0.2, params0,
                          {k: jax.random.normal(k2, v.shape, jnp.float64) for k, v in params0.items()})
    X = jax.random.normal(k3, (n, D), jnp.float64) / np.sqrt(D)
    return params0, params, X


def _explicit(K, K0):
    """Independent route: centring matrix H, traces (numpy)."""
    K, K0 = np.asarray(K), np.asarray(K0)
    n = K.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    paper = np.trace(K @ H @ K0) / np.sqrt(np.trace(K @ H @ K) * np.trace(K0 @ H @ K0))
    cortes = np.trace(H @ K @ H @ K0) / np.sqrt(np.trace(H @ K @ H @ K) * np.trace(H @ K0 @ H @ K0))
    return {"kernel_movement": np.linalg.norm(K - K0) / np.linalg.norm(K0),
            "kernel_alignment_init_paper": paper, "kernel_alignment_init_cortes": cortes}


def test_kernel_target_alignment_is_kernel_kernel_alignment_with_yy(x64):
    _, params, X = _problem(jax.random.PRNGKey(0))

    @jax.jit
    def routes(params, X):
        K = gj.ntk_closed_form(X, X, gj.sufficient_stats(params), 1.3, 0.4, 6)
        y = jnp.sin(jnp.arange(X.shape[0], dtype=jnp.float64)) + 0.3
        yc = y - jnp.mean(y)
        L = jnp.outer(yc, yc)
        return (kernel_kernel_alignment(K, L, "paper"), gj.cka_paper(K, y), kernel_kernel_alignment(K, L, "cortes"),
                gj.cka_cortes(K, y))

    kka_paper, paper, kka_cortes, cortes = routes(params, X)
    assert abs(kka_paper - paper) < 1e-13
    assert abs(kka_cortes - cortes) < 1e-13
    assert abs(paper - cortes) > 1e-4  # the two centrings differ here


@pytest.mark.parametrize("trained", [False, True])
def test_closed_form_kernel_movement_equals_jacobian_route(x64, trained):
    alpha, eps = 1.7, 0.35
    params0, params, X = _problem(jax.random.PRNGKey(1), trained=trained)
    f = lambda p, Xs: gj.committee(p, Xs, alpha, eps)  # noqa: E731
    if trained:
        ntk = lambda p: gj.ntk_features(p, X, X, alpha, eps)  # noqa: E731
    else:
        ntk = lambda p: gj.ntk_closed_form(X, X, gj.sufficient_stats(p), alpha, eps, 6)  # noqa: E731

    @jax.jit
    def routes(params, params0):
        return (kernel_movement(ntk(params), ntk(params0)), empirical_kernel_movement(f, params, params0, X),
                ntk(params), ntk(params0), kernel_movement(ntk(params0), ntk(params0)))

    closed, jac, K, K0, same = routes(params, params0)
    explicit = _explicit(K, K0)
    for name in KERNEL_MOVEMENT:
        assert abs(closed[name] - jac[name]) <= 1e-10 * abs(jac[name]), (name, closed[name], jac[name])
        assert abs(closed[name] - explicit[name]) <= 1e-10 * abs(explicit[name]), name
    assert 0.05 < closed["kernel_movement"] and closed["kernel_alignment_init_paper"] < 0.9999
    assert abs(same["kernel_movement"]) < 1e-14 and abs(same["kernel_alignment_init_cortes"] - 1) < 1e-12


def test_after_kernel_loss_closed_form_equals_jacobian_route(x64):
    alpha, eps = 1.2, 0.3
    params0, params, X = _problem(jax.random.PRNGKey(2), n=16)
    Xt = X[:7] * 1.1 + 0.05
    y, yt = jnp.cos(X[:, 0] * 3), jnp.cos(Xt[:, 0] * 3)
    f = lambda p, Xs: gj.committee(p, Xs, alpha, eps)  # noqa: E731
    closed = lambda X1, X2: gj.ntk_closed_form(X1, X2, gj.sufficient_stats(params), alpha, eps, 6)  # noqa: E731
    jac = lambda X1, X2: gj.empirical_ntk(f, params, X1, X2)  # noqa: E731

    @jax.jit
    def routes(ridge, off):
        return (kernel_regression_test_loss(closed, X, y, Xt, yt, ridge, off, -off),
                kernel_regression_test_loss(jac, X, y, Xt, yt, ridge, off, -off), jac(X, X), jac(Xt, X))

    for ridge, off in [(1e-3, 0.0), (0.1, 0.2)]:
        a, b, K, Kt = routes(ridge, off)
        K = np.asarray(K)
        pred = np.asarray(Kt) @ np.linalg.solve(K + ridge * np.trace(K) / 16 * np.eye(16), y - off) - off
        assert abs(a - b) <= 1e-10 * b and abs(b - np.mean((pred - yt) ** 2)) <= 1e-10 * b


@pytest.mark.parametrize("engine,readouts,centered", [("reduced", "fixed", True), ("weights", "fixed", False),
                                                      ("weights", "trained", True)])
def test_tracked_kernel_metrics_equal_jacobian_route_on_independent_gd(x64, engine, readouts, centered):
    """simulate's logged kernel metrics = Jacobian route on parameters from a plain GD loop written here."""
    cfg = gj.PolyConfig(D=5, N=8, P=12, P_test=9, n_align=9, steps=30, n_log=3, log_schedule="linear",
                        alpha=0.8, eps=0.5, eta0=0.5, dtype="float64", engine=engine, readouts=readouts,
                        centered=centered, ridge=1e-3)
    s = gj.Scalars.from_config(cfg, jnp.float64)
    data = jax.jit(lambda k: gj.make_data(k, cfg.D, cfg.P, cfg.P_test, dtype=jnp.float64))(jax.random.PRNGKey(3))
    params0 = jax.jit(lambda k: gj.init_params(k, cfg.N, cfg.D, trained_readouts=readouts == "trained",
                                               dtype=jnp.float64))(jax.random.PRNGKey(4))
    out = jax.jit(lambda sc: gj.simulate_from(cfg, sc, data, params0))(s)
    f = lambda p, Xs: gj.committee(p, Xs, cfg.alpha, cfg.eps)  # noqa: E731
    f0 = f(params0, data.X) if centered else 0.0
    lr = cfg.eta0 * cfg.N / cfg.alpha**2
    grad = jax.jit(jax.grad(lambda p: jnp.mean((f(p, data.X) - f0 - data.y) ** 2)))
    step_fn = jax.jit(lambda p: jax.tree.map(lambda v, g: v - lr * g, p, grad(p)))

    @jax.jit
    def reference(params):  # the Jacobian route on the parameters reached
        ntk = lambda X1, X2: gj.empirical_ntk(f, params, X1, X2)  # noqa: E731
        off, toff = (0.0, 0.0) if centered else (f(params0, data.X), f(params0, data.X_test))
        return (empirical_kernel_movement(f, params, params0, data.X_test),
                kernel_regression_test_loss(ntk, data.X, data.y, data.X_test, data.y_test, cfg.ridge, off, toff))

    steps = gj.logged_steps(cfg)
    params, done = params0, 0
    kr0 = None
    for i, step in enumerate(steps):
        for _ in range(step - done):
            params = step_fn(params)
        done = step
        ref, after = reference(params)
        for name in KERNEL_MOVEMENT:
            assert abs(out[name][i] - ref[name]) <= 1e-10 * max(abs(ref[name]), 1e-3), (step, name)
        assert abs(out["after_kernel_test_loss"][i] - after) <= 1e-10 * after, step
        kr0 = after if step == 0 else kr0
    assert out["kernel_movement"][0] < 1e-12 and out["kernel_movement"][-1] > 1e-3
    assert abs(out["kernel_alignment_init_paper"][0] - 1) < 1e-12
    assert abs(out["after_kernel_test_loss"][0] - out["kr_test_loss"]) <= 1e-10 * kr0  # after kernel at t=0 = K0


def test_kernel_metrics_off_are_nan():
    out = gj.run_single(gj.PolyConfig(D=4, N=6, P=10, P_test=8, steps=5, n_log=3, n_align=0,
                                      kernel_regression=False))
    for name in KERNEL_MOVEMENT + ("after_kernel_test_loss", "alignment"):
        assert np.all(np.isnan(out[name])), name
