"""Appendix studies: task constructors, the weight-space runs (simulate_weights), every study at size tiny, and
reproduce."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import grokjax as gj
from experiments import ClaimCheck
from experiments import _appendix, app_decomposition, app_eigen_labels, app_optimizers, app_targets
from grokjax import _reproduce as rp
from grokjax._data import labelled_data
from grokjax._model import aligned_interpolation_init
from grokjax._simulate import simulate_weights


def test_eigenvector_labels_are_eigenvectors_of_centred_initial_ntk():
    D, N, P, alpha, eps = 7, 3, 10, 1.3, 0.4

    @jax.jit  # both routes in one compiled program (op-by-op dispatch compiles every operation)
    def routes(key):
        X_all, labels, lam, K, params0 = app_eigen_labels.eigen_task(key, D, N, P, alpha, eps, (1, 4, 20))
        # independent NTK: Jacobian of the committee machine w.r.t. W, then minus the scalar mean
        J = jax.jacrev(lambda W: gj.committee({"W": W}, X_all, alpha, eps))(params0["W"]).reshape(2 * P, -1)
        K_ref = J @ J.T
        return labels, lam, K, K_ref - jnp.mean(K_ref)

    labels, lam, K, K_ref = map(np.asarray, routes(jax.random.PRNGKey(3)))
    np.testing.assert_allclose(K, K_ref, rtol=1e-4, atol=1e-6)
    assert np.all(np.diff(lam) <= 1e-6)  # descending
    for v, k in zip(labels, (1, 4, 20)):
        assert float(np.linalg.norm(v)) == pytest.approx(1.0, rel=1e-5)
        np.testing.assert_allclose(K_ref @ v, lam[k - 1] * v, atol=1e-4 * float(np.max(np.abs(lam))))


def test_interpolation_init_rows_and_zero_loss_at_the_aligned_end():
    cfg = gj.PolyConfig(D=9, N=2, P=20, P_test=30, alpha=1.5, eps=0.3)

    @jax.jit  # one compiled program (op-by-op dispatch compiles every operation)
    def compute():
        data, params = app_decomposition.interpolation_inits(cfg, 0, (0.0, 0.3, 1.0))
        k_init = jax.random.split(jax.random.PRNGKey(0))[1]
        stats = gj.sufficient_stats({"W": params["W"][2]})
        loss = gj.population_test_loss(stats, data.beta, data.c0, data.c2, cfg.alpha, cfg.eps)
        W_mid = aligned_interpolation_init(params["W"][0], data.beta, cfg.alpha, cfg.eps, 0.5)
        return data, params, gj.init_params(k_init, 2, 9)["W"], loss, W_mid

    data, params, W_init, loss, W_mid = compute()
    W = np.asarray(params["W"])
    w_star = np.asarray(data.beta) / np.sqrt(cfg.alpha * cfg.eps)
    np.testing.assert_allclose(W[2, 0], w_star, rtol=1e-6)
    np.testing.assert_allclose(W[2, 1], -w_star, rtol=1e-6)
    np.testing.assert_allclose(W[1], 0.3 * W[2] + 0.7 * W[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(W[0], np.asarray(W_init))
    # the aligned end is a zero-loss solution of the uncentred model
    assert float(loss) < 1e-8
    np.testing.assert_allclose(W_mid, 0.5 * (W[0] + W[2]), rtol=1e-5, atol=1e-6)


def test_simulate_weights_matches_simulate_with_gd():
    cfg = gj.PolyConfig(D=6, N=5, P=15, P_test=20, steps=50, n_log=6, eps=0.5, alpha=1.2, eta0=0.3,
                        lazy=False, kernel_regression=False, n_align=0, engine="weights")
    core = gj.run_single(cfg)

    @jax.jit
    def run():
        k_data, k_init = jax.random.split(jax.random.PRNGKey(0))
        d = gj.make_data(k_data, cfg.D, cfg.P, cfg.P_test)
        p0 = gj.init_params(k_init, cfg.N, cfg.D)
        return simulate_weights(cfg, labelled_data(d.X, d.y, d.X_test, d.y_test), p0)

    out = run()
    np.testing.assert_allclose(out["train_loss"], core["train_loss"], rtol=2e-4)
    np.testing.assert_allclose(out["test_loss"], core["test_loss"], rtol=2e-4)


def test_simulate_weights_mask_equals_smaller_training_set_and_weight_decay_shrinks():
    key = jax.random.PRNGKey(1)
    X = jax.random.normal(key, (12, 4)) / 2.0
    y = X[:, 0] ** 2
    p0 = {"W": jax.random.normal(jax.random.PRNGKey(2), (3, 4))}
    cfg = gj.PolyConfig(D=4, N=3, P=8, P_test=4, alpha=1.0, eps=0.5, eta0=0.2, steps=20, n_log=4, lazy=False,
                        kernel_regression=False, n_align=0)

    @jax.jit  # the three runs in one compiled program (op-by-op dispatch compiles every operation)
    def runs(X, y, p0):
        full = simulate_weights(cfg, labelled_data(X[:8], y[:8], X[8:], y[8:]), p0)
        Xp = jnp.concatenate([X[:8], X[:4]])
        yp = jnp.concatenate([y[:8], 100 + y[:4]])  # padded points with garbage labels and zero weight
        mask = jnp.concatenate([jnp.ones(8), jnp.zeros(4)])
        padded = simulate_weights(cfg, labelled_data(Xp, yp, X[8:], y[8:]), p0, train_weight=mask)
        # decoupled weight decay: at a zero-gradient point (centred, zero labels) one step is W <- (1 - eta0 wd) W
        zero = labelled_data(X[:8], 0 * y[:8], X[8:], 0 * y[8:])
        out = simulate_weights(cfg.replace(eta0=0.5, steps=1, n_log=1), zero, p0, decay=0.5 * 0.1, log_params=True)
        return full, padded, out

    full, padded, out = runs(X, y, p0)
    np.testing.assert_allclose(padded["train_loss"], full["train_loss"], rtol=1e-5)
    np.testing.assert_allclose(out["params"]["W"][-1], 0.95 * p0["W"], rtol=1e-6)
    np.testing.assert_allclose(out["params"]["W"][0], p0["W"])


def test_simulate_weights_degree_k_activation_and_divergence_guard():
    X = jax.random.normal(jax.random.PRNGKey(0), (10, 3))
    p0 = {"W": jax.random.normal(jax.random.PRNGKey(1), (4, 3))}
    h = np.asarray(X) @ np.asarray(p0["W"]).T
    cfg = gj.PolyConfig(D=3, N=4, P=10, P_test=10, eta0=50.0, steps=40, n_log=5, lazy=False,
                        kernel_regression=False, n_align=0, divergence_bound=1e6)

    @jax.jit  # one compiled program (op-by-op dispatch compiles every operation)
    def compute(X, p0):
        return (gj.committee(p0, X, 2.0, 0.3, degree=3),
                simulate_weights(cfg, labelled_data(X, 10 * X[:, 0] ** 3, X, 10 * X[:, 0] ** 3), p0, degree=3))

    f, out = compute(X, p0)
    np.testing.assert_allclose(f, 2.0 * (h + 0.15 * h**3).mean(1), rtol=1e-5)
    assert 0 < int(out["diverged_step"]) < cfg.steps  # frozen there: the logged losses stay finite
    assert np.all(np.isfinite(np.asarray(out["train_loss"])))


def test_classify_regimes_on_synthetic_curves():
    steps = np.arange(10)
    train = np.array([1, .8, .4, .2, .1, .05, .01, .01, .01, .01])
    assert _appendix.classify(steps, train, np.array([1, .8, .5, .3, .2, .1, .1, .1, .1, .1])) == "immediate"
    assert _appendix.classify(steps, train, np.array([1, 1, 1.1, 1.1, 1, .8, .3, .1, .1, .1])) == "grokking"
    assert _appendix.classify(steps, train, np.array([1, 1, 1.1, 1.2, 1.3, 1.3, 1.2, 1, .9, .9])) == "never"


def test_hermite_and_multi_index_targets():
    z = np.random.default_rng(0).standard_normal(400_000)
    for k in (2, 3, 4):
        assert np.mean(app_targets.hermite(k, z) ** 2) == pytest.approx(1.0, abs=0.05)
        assert abs(np.mean(app_targets.hermite(k, z) * z)) < 0.02
    d, Z = jax.jit(lambda key: (app_targets.multi_index_data(key, 5, 7, 3, 2), jax.random.normal(key, (13, 5))))(
        jax.random.PRNGKey(0))  # one compiled program (op-by-op dispatch compiles every operation)
    Z = np.asarray(Z)
    betas = Z[10:12]
    np.testing.assert_allclose(d.y, 0.5 * ((Z[:7] / np.sqrt(5)) @ betas.T) ** 2 @ np.ones(2), rtol=1e-5)


def test_figure_names_are_registered():
    for module in (app_decomposition, app_eigen_labels, app_optimizers, app_targets):
        assert set(module.FIGURES) == set(module.DATASET_FIGURES)


def test_reproduce_writes_claims_and_survives_failures(tmp_path, monkeypatch, capsys):
    def good(name, size, out_dir, quiet=False):
        return ClaimCheck(name, "a claim | with a pipe", True, {"x": 1.5})

    def bad(name, size, out_dir, quiet=False):
        raise RuntimeError("boom")

    broken = rp.Row("(fig_broken)", "module import", "ImportError: nope", "ERROR", 0.0)
    monkeypatch.setattr(rp, "discover", lambda: ({"good": good, "bad": bad, "also_good": good}, [broken]))
    assert rp.reproduce("tiny", tmp_path, quiet=True) == 0
    text = (tmp_path / "CLAIMS.md").read_text()
    assert "2 hold, 0 do not hold, 2 errors" in text
    assert "RuntimeError: boom" in text and "(fig_broken)" in text and "also_good" in text
    assert "a claim \\| with a pipe" in text
    rp.reproduce("tiny", tmp_path, only=["good", "missing"], quiet=True)
    text = (tmp_path / "CLAIMS.md").read_text()
    # a subset re-run replaces its rows and keeps the others of the same size (import errors once)
    assert "missing" in text and "unknown figure" in text and "| bad |" in text
    assert text.count("(fig_broken)") == 1 and text.count("| good |") == 1


def test_discover_reports_a_module_that_fails_to_import(monkeypatch):
    import importlib

    import grokjax.figures

    real_modules, real_import = grokjax.figures.figure_modules, importlib.import_module

    def fake_import(name, *args):
        if name.endswith("fig_zzz_broken"):
            raise ImportError("simulated")
        return real_import(name, *args)

    monkeypatch.setattr(grokjax.figures, "figure_modules", lambda: real_modules() + ["experiments.fig_zzz_broken"])
    monkeypatch.setattr(rp.importlib, "import_module", fake_import)
    makers, errors = rp.discover()
    assert "app12" in makers
    assert any("fig_zzz_broken" in e.figure and "simulated" in e.measured for e in errors)
