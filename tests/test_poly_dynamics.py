"""Training dynamics: engines, lazy limit, function-space GD, vmapped sweeps, precision, divergence."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import grokjax as gj
from conftest import run_one

SMALL = gj.PolyConfig(D=8, N=16, P=24, P_test=64, steps=300, n_log=12, eps=0.5, n_align=32, dtype="float64")
# Most tests share a few compiled programs (compilation is most of this file's cost): SMALL itself ("auto" resolves
# to the reduced engine here), SMALL on the weights engine (single, and one vmapped batch of 20), and one float32
# vmapped batch of 3. Swept fields (alpha, eps, eta0, ...) are traced, so changing them reuses the program.
assert gj.choose_engine(SMALL) == "reduced"
LAZY_ALPHAS = [16.0, 32.0, 64.0, 128.0]
ALPHAS, EPSS, SEEDS = [0.5] + LAZY_ALPHAS, [0.3, 0.5], [0, 3]  # alpha = 0.5: a rich member for the vmap check


@functools.cache
def _run(cfg):
    """One run per configuration in this module (shared by the fixtures and tests below)."""
    return run_one(cfg)


@pytest.fixture(scope="module")
def small():
    return _run(SMALL.replace(engine="reduced"))  # = SMALL (its "auto" engine, asserted above)


@pytest.fixture(scope="module")
def small_weights():
    return _run(SMALL.replace(engine="weights"))


@pytest.fixture(scope="module")
def weights_sweep():
    """SMALL on the weights engine, vmapped over alpha x eps x seed (20 configurations, one program)."""
    return gj.run_sweep(SMALL.replace(engine="weights"), {"alpha": ALPHAS, "eps": EPSS}, seeds=SEEDS)


def test_centred_prediction_is_zero_at_init(small):
    out = small
    with jax.enable_x64(True):
        y = jax.jit(lambda key: gj.make_data(jax.random.split(key)[0], 8, 24, 64, dtype=jnp.float64).y)(
            jax.random.PRNGKey(0))
    mean_y2 = float(np.mean(np.asarray(y) ** 2))
    # at step 0 the centred predictor is exactly 0, so the train loss is exactly mean(y^2)
    assert out["train_loss"][0] == pytest.approx(mean_y2, rel=1e-14)
    assert out["lazy_train_loss"][0] == out["train_loss"][0]


# (True, "gd") at SMALL is the two engines' runs the other tests share; (False, "momentum") keeps a long (10^4-step)
# trajectory in the default suite; the long centred-gd run and the other two combinations run with -m slow
# (tests/test_engines.py compares every optimizer x centring on both engines too).
LONG = dict(steps=10_000, n_log=8, eta0=0.2)
ENGINE_CASES = [(True, "gd", {}), (False, "momentum", LONG)]
LONG_MOMENTUM = SMALL.replace(centered=False, optimizer="momentum", momentum=0.8, **LONG)


ENGINE_CASES_SLOW = [pytest.param(True, "gd", LONG, marks=pytest.mark.slow),
                     pytest.param(True, "momentum", LONG, marks=pytest.mark.slow),
                     pytest.param(False, "gd", LONG, marks=pytest.mark.slow)]


@pytest.mark.parametrize(("centered", "optimizer", "size"), ENGINE_CASES + ENGINE_CASES_SLOW)
def test_reduced_engine_equals_weight_engine(centered, optimizer, size):
    cfg = SMALL.replace(centered=centered, optimizer=optimizer, **size,
                        **({"momentum": 0.8} if optimizer == "momentum" else {}))
    a, b = _run(cfg.replace(engine="weights")), _run(cfg.replace(engine="reduced"))
    for name in ("train_loss", "test_loss", "pop_test_loss", "lazy_train_loss", "lazy_test_loss", "movement",
                 "alignment"):
        rel = np.max(np.abs(a[name] - b[name])) / np.max(np.abs(a[name]))
        assert rel <= 1e-10, (name, rel)


def test_network_approaches_lazy_model_like_one_over_alpha(weights_sweep):
    # every eps of the sweep (300 steps; measured ratios 1.77-1.94)
    for eps in EPSS:
        devs = np.abs(weights_sweep["test_loss"] - weights_sweep["lazy_test_loss"]).sel(eps=eps, alpha=LAZY_ALPHAS)
        devs = devs.max(("seed", "step")).values
        ratios = devs[:-1] / devs[1:]
        assert np.all((ratios > 1.7) & (ratios < 2.3)), (eps, devs, ratios)


def test_lazy_model_is_function_space_gd_with_initial_ntk(small_weights):
    cfg, out = SMALL.replace(engine="weights"), small_weights  # 300 steps, 12 logged on the log schedule

    @jax.jit  # data and initial NTK in one compiled program (op-by-op dispatch compiles every operation)
    def initial_ntk():
        k_data, k_init = jax.random.split(jax.random.PRNGKey(0))
        data = gj.make_data(k_data, cfg.D, cfg.P, cfg.P_test, dtype=jnp.float64)
        params0 = gj.init_params(k_init, cfg.N, cfg.D, dtype=jnp.float64)
        stats0 = gj.sufficient_stats(params0)
        return (data.y, data.y_test, gj.ntk_closed_form(data.X, data.X, stats0, cfg.alpha, cfg.eps, cfg.N),
                gj.ntk_closed_form(data.X_test, data.X, stats0, cfg.alpha, cfg.eps, cfg.N))

    with jax.enable_x64(True):
        y, y_test, K, Kt = map(np.asarray, initial_ntk())
    # function-space GD with the fixed initial NTK, in numpy float64
    f, ft = np.zeros(cfg.P), np.zeros(cfg.P_test)
    train, test = [], []
    logged = set(gj.logged_steps(cfg).tolist())
    for t in range(cfg.steps + 1):
        if t in logged:
            train.append(float(np.mean((f - y) ** 2)))
            test.append(float(np.mean((ft - y_test) ** 2)))
        r = (2.0 / cfg.P) * (f - y)
        f, ft = f - cfg.lr * K @ r, ft - cfg.lr * Kt @ r
    assert len(train) == cfg.n_log
    assert np.allclose(out["lazy_train_loss"], train, rtol=1e-9)
    assert np.allclose(out["lazy_test_loss"], test, rtol=1e-9)


# the uncentred heavy-ball run of the engine test (reduced engine) converges too (train loss ~4e-16 at 10^4 steps):
# the same lazy limit, with the offset f0; the centred-gd 6e4-step run is the slow variant
@pytest.mark.parametrize("cfg", [pytest.param(LONG_MOMENTUM.replace(engine="reduced"), id="uncentred-momentum"),
                                 pytest.param(SMALL.replace(steps=60_000, n_log=4, eta0=0.5, eps=1.0, P=20),
                                              id="centred-gd", marks=pytest.mark.slow)])
def test_lazy_model_converges_to_kernel_regression(cfg):
    out = _run(cfg)
    assert out["lazy_train_loss"][-1] < 1e-8
    assert out["lazy_test_loss"][-1] == pytest.approx(float(out["kr_test_loss"]), rel=1e-4)


def test_vmapped_sweep_equals_individual_runs(weights_sweep):
    ds = weights_sweep
    assert ds["train_loss"].dims == ("alpha", "eps", "seed", "step")
    for alpha, eps, seed in [(0.5, 0.3, 3), (0.5, 0.5, 0), (64.0, 0.3, 3)]:
        single = run_one(SMALL.replace(engine="weights", alpha=alpha, eps=eps), seed=seed)
        got = ds.sel(alpha=alpha, eps=eps, seed=seed)
        for name in ("train_loss", "test_loss", "lazy_test_loss", "alignment"):
            np.testing.assert_allclose(got[name].values, single[name], rtol=1e-10)


@pytest.fixture(scope="module")
def float32_sweep():
    """SMALL in float32, vmapped over eta0: 1.0 (SMALL's), a diverging 40.0, and 0.4."""
    return gj.run_sweep(SMALL.replace(dtype="float32"), {"eta0": [1.0, 40.0, 0.4]})


def test_float32_and_float64_agree(small, float32_sweep):
    a = small
    b = float32_sweep.sel(eta0=1.0, seed=0)
    for name in ("train_loss", "test_loss", "lazy_test_loss", "alignment", "weight_norm"):
        np.testing.assert_allclose(b[name].values, a[name], rtol=2e-4, atol=1e-6)


def test_diverging_configurations_are_flagged_and_frozen(float32_sweep):
    ds = float32_sweep
    div = ds["diverged_step"].values[:, 0]
    assert div[0] == -1 and div[2] == -1 and div[1] >= 0
    # the same compiled batch of 3 without the diverging member: the finite members are unaffected
    ok = gj.run_sweep(SMALL.replace(dtype="float32"), {"eta0": [1.0, 0.4, 0.3]})
    assert np.all(ok["diverged_step"].values == -1)
    np.testing.assert_array_equal(ds["test_loss"].values[[0, 2]], ok["test_loss"].values[[0, 1]])
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
