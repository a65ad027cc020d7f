"""Training dynamics: engines, lazy limit, function-space GD, vmapped sweeps, precision, divergence."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import grokjax as gj
from conftest import run_one

SMALL = gj.PolyConfig(D=8, N=16, P=24, P_test=64, steps=300, n_log=12, eps=0.5, n_align=32, dtype="float64")


def test_centred_prediction_is_zero_at_init():
    out = run_one(SMALL)
    with jax.enable_x64(True):
        data = gj.make_data(jax.random.split(jax.random.PRNGKey(0))[0], 8, 24, 64, dtype=jnp.float64)
        mean_y2 = float(jnp.mean(data.y**2))
    # at step 0 the centred predictor is exactly 0, so the train loss is exactly mean(y^2)
    assert out["train_loss"][0] == pytest.approx(mean_y2, rel=1e-14)
    assert out["lazy_train_loss"][0] == out["train_loss"][0]


ENGINE_CASES = [(True, "gd"), (False, "momentum")]
ENGINE_CASES_SLOW = [pytest.param(True, "momentum", marks=pytest.mark.slow),
                     pytest.param(False, "gd", marks=pytest.mark.slow)]


@pytest.mark.parametrize(("centered", "optimizer"), ENGINE_CASES + ENGINE_CASES_SLOW)
def test_reduced_engine_equals_weight_engine(centered, optimizer):
    cfg = SMALL.replace(steps=10_000, n_log=8, centered=centered, optimizer=optimizer, eta0=0.2,
                        kernel_regression=False, **({"momentum": 0.8} if optimizer == "momentum" else {}))
    a = run_one(cfg.replace(engine="weights"))
    b = run_one(cfg.replace(engine="reduced"))
    for name in ("train_loss", "test_loss", "pop_test_loss", "lazy_train_loss", "lazy_test_loss", "movement",
                 "alignment"):
        rel = np.max(np.abs(a[name] - b[name])) / np.max(np.abs(a[name]))
        assert rel <= 1e-10, (name, rel)


def test_network_approaches_lazy_model_like_one_over_alpha():
    alphas = [16.0, 32.0, 64.0, 128.0]
    ds = gj.run_sweep(SMALL.replace(steps=400, engine="weights", kernel_regression=False), {"alpha": alphas})
    devs = np.abs(ds["test_loss"] - ds["lazy_test_loss"]).max(("seed", "step")).values
    ratios = devs[:-1] / devs[1:]
    assert np.all((ratios > 1.7) & (ratios < 2.3)), (devs, ratios)


def test_lazy_model_is_function_space_gd_with_initial_ntk():
    cfg = SMALL.replace(steps=2000, n_log=6, log_schedule="linear", engine="weights")
    out = run_one(cfg)
    with jax.enable_x64(True):
        k_data, k_init = jax.random.split(jax.random.PRNGKey(0))
        data = gj.make_data(k_data, cfg.D, cfg.P, cfg.P_test, dtype=jnp.float64)
        params0 = gj.init_params(k_init, cfg.N, cfg.D, dtype=jnp.float64)
        stats0 = gj.sufficient_stats(params0)
        K = gj.ntk_closed_form(data.X, data.X, stats0, cfg.alpha, cfg.eps, cfg.N)
        Kt = gj.ntk_closed_form(data.X_test, data.X, stats0, cfg.alpha, cfg.eps, cfg.N)
        f, ft = jnp.zeros(cfg.P), jnp.zeros(cfg.P_test)
        train, test = [], []
        for t in range(cfg.steps + 1):
            if t in gj.logged_steps(cfg):
                train.append(float(jnp.mean((f - data.y) ** 2)))
                test.append(float(jnp.mean((ft - data.y_test) ** 2)))
            r = (2.0 / cfg.P) * (f - data.y)
            f, ft = f - cfg.lr * K @ r, ft - cfg.lr * Kt @ r
    assert np.allclose(out["lazy_train_loss"], train, rtol=1e-9)
    assert np.allclose(out["lazy_test_loss"], test, rtol=1e-9)


def test_lazy_model_converges_to_kernel_regression():
    out = run_one(SMALL.replace(steps=60_000, n_log=4, eta0=0.5, eps=1.0, P=20))
    assert out["lazy_train_loss"][-1] < 1e-8
    assert out["lazy_test_loss"][-1] == pytest.approx(float(out["kr_test_loss"]), rel=1e-4)


def test_vmapped_sweep_equals_individual_runs():
    base = SMALL.replace(steps=200)
    ds = gj.run_sweep(base, {"alpha": [0.5, 2.0], "eps": [0.3, 0.8]}, seeds=[0, 3])
    assert ds["train_loss"].dims == ("alpha", "eps", "seed", "step")
    for alpha, eps, seed in [(0.5, 0.8, 3), (2.0, 0.3, 0), (2.0, 0.8, 3)]:
        single = run_one(base.replace(alpha=alpha, eps=eps), seed=seed)
        got = ds.sel(alpha=alpha, eps=eps, seed=seed)
        for name in ("train_loss", "test_loss", "lazy_test_loss", "alignment"):
            np.testing.assert_allclose(got[name].values, single[name], rtol=1e-10)


def test_float32_and_float64_agree():
    a = run_one(SMALL)
    b = run_one(SMALL.replace(dtype="float32"))
    for name in ("train_loss", "test_loss", "lazy_test_loss", "alignment", "weight_norm"):
        np.testing.assert_allclose(b[name], a[name], rtol=2e-4, atol=1e-6)


def test_diverging_configurations_are_flagged_and_frozen():
    base = SMALL.replace(dtype="float32", lazy=False)
    eta0s = [0.2, 40.0, 0.4]
    ds = gj.run_sweep(base, {"eta0": eta0s})
    div = ds["diverged_step"].values[:, 0]
    assert div[0] == -1 and div[2] == -1 and div[1] >= 0
    ok = gj.run_sweep(base, {"eta0": [0.2, 0.4]})
    np.testing.assert_array_equal(ds["test_loss"].values[[0, 2]], ok["test_loss"].values)
    assert ds.attrs["n_diverged"] == 1


def test_trained_readouts_and_adam_run():
    out = run_one(SMALL.replace(readouts="trained", optimizer="adam", eta0=1e-3, steps=100, centered=False))
    assert np.all(np.isfinite(out["train_loss"])) and out["train_loss"][-1] < out["train_loss"][0]
    assert gj.choose_engine(SMALL.replace(readouts="trained")) == "weights"


def test_engine_choice_follows_cost_model():
    assert gj.choose_engine(gj.PolyConfig(D=100, N=500, P=550)) == "reduced"
    assert gj.choose_engine(gj.PolyConfig(D=2000, N=4, P=16000)) == "weights"
    with pytest.raises(gj.ConfigError, match="engine"):
        gj.PolyConfig(readouts="trained", engine="reduced").validate()
