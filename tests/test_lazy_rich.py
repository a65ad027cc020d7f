"""The public lazy-vs-rich layer (grokjax.run_model, grokjax.linearize, multi-output kernels) on models no issue
names: a 3-layer softplus MLP (scalar output), a dict-of-arrays pytree with biases (3 outputs), an equinox MLP
(activation function as a leaf, 3 outputs) and a Flax-style ``apply(variables, x)`` (nested ``{"params": ...}``).

Independent routes in float64: the linearisation against the explicit Jacobian expansion, NTK Grams against
``J J^T`` from ``jax.jacfwd``; the vmapped sweep against separate single runs; the network-linearisation gap
against 1/alpha.
"""
from __future__ import annotations

import json
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import grokjax as gj
from grokjax import ConfigError


# --------------------------------------------------------------------------------------------- the models
def softplus_mlp():
    """3-layer softplus MLP, scalar output, dict of arrays."""
    def init(key):
        k1, k2, k3 = jax.random.split(key, 3)
        return {"W1": jax.random.normal(k1, (12, 3)), "W2": jax.random.normal(k2, (12, 12)),
                "w3": jax.random.normal(k3, (12,))}

    def apply(p, x):
        h = jax.nn.softplus(x @ p["W1"].T / np.sqrt(3))
        h = jax.nn.softplus(h @ p["W2"].T / np.sqrt(12))
        return h @ p["w3"] / np.sqrt(12)

    return init, apply


def dict_pytree_three_outputs():
    """Nested dict-of-arrays pytree with biases, tanh, 3 outputs."""
    def init(key):
        k1, k2, k3 = jax.random.split(key, 3)
        return {"layer1": {"w": jax.random.normal(k1, (3, 10)), "b": 0.1 * jax.random.normal(k3, (10,))},
                "layer2": {"w": jax.random.normal(k2, (10, 3)), "b": jnp.zeros(3)}}

    def apply(p, x):
        h = jnp.tanh(x @ p["layer1"]["w"] / np.sqrt(3) + p["layer1"]["b"])
        return h @ p["layer2"]["w"] / np.sqrt(10) + p["layer2"]["b"]

    return init, apply


def equinox_mlp():
    """eqx.nn.MLP (its activation functions are pytree leaves), 3 outputs."""
    def init(key):
        return eqx.nn.MLP(3, 3, 8, 2, activation=jax.nn.gelu, key=key)

    def apply(model, x):
        return jax.vmap(model)(x)

    return init, apply


def flax_style():
    """``apply(variables, x)`` with ``variables = {"params": {...}}``, 2 outputs (no Flax needed)."""
    def init(key):
        k1, k2 = jax.random.split(key)
        return {"params": {"Dense_0": {"kernel": jax.random.normal(k1, (3, 6)), "bias": jnp.zeros(6)},
                           "Dense_1": {"kernel": jax.random.normal(k2, (6, 2)), "bias": jnp.zeros(2)}}}

    def apply(variables, x):
        p = variables["params"]
        h = jax.nn.relu(x @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"])
        return h @ p["Dense_1"]["kernel"] / 6 + p["Dense_1"]["bias"]

    return init, apply


MODELS = {"softplus_mlp": softplus_mlp, "dict_3out": dict_pytree_three_outputs, "equinox_3out": equinox_mlp,
          "flax_style": flax_style}


def _perturbed(params, key, scale=0.3):
    arrays, rebuild = gj.array_part(params)
    leaves, tree = jax.tree_util.tree_flatten(arrays)
    keys = jax.random.split(key, len(leaves))
    moved = [a + scale * jax.random.normal(k, a.shape, a.dtype) for a, k in zip(leaves, keys)]
    return rebuild(jax.tree_util.tree_unflatten(tree, moved))


# ------------------------------------------------------------------------------------------ linearisation
# dict_3out (multi-output pytree with biases) covers the route by default, as in the kernel test below; the same
# route on the other three architectures -m slow (an equinox model, its activation a non-array leaf, still goes
# through the layer's linearisation by default in test_saved_dataset_describes_the_users_run)
@pytest.mark.parametrize("name", ["dict_3out", pytest.param("equinox_3out", marks=pytest.mark.slow),
                                  pytest.param("softplus_mlp", marks=pytest.mark.slow),
                                  pytest.param("flax_style", marks=pytest.mark.slow)])
def test_linearize_equals_explicit_jacobian_expansion(name):
    with jax.enable_x64(True):
        init, apply = MODELS[name]()

        @jax.jit  # both routes in one compiled program (op by op: ~70 tiny compilations per model)
        def routes():
            params0 = init(jax.random.PRNGKey(0))
            x = jax.random.normal(jax.random.PRNGKey(1), (7, 3))
            params = _perturbed(params0, jax.random.PRNGKey(2))
            arrays0, rebuild = gj.array_part(params0)
            flat0, unravel = ravel_pytree(arrays0)
            J = jax.jacfwd(lambda v: apply(rebuild(unravel(v)), x).reshape(-1))(flat0)  # the explicit Jacobian
            flat, _ = ravel_pytree(gj.array_part(params)[0])
            expected = apply(params0, x).reshape(-1) + J @ (flat - flat0)
            got = gj.linearize(apply, params0)(params, x).reshape(-1)
            return got, expected, apply(params, x).reshape(-1)

        got, expected, network = routes()
        assert got.dtype == jnp.float64
        err = float(jnp.max(jnp.abs(got - expected)))
        assert err <= 1e-12, err
        # the expansion is not the network itself (the perturbation is large enough to tell them apart)
        assert float(jnp.max(jnp.abs(network - expected))) > 1e-4


# ------------------------------------------------------------------------------------------------- kernels
# dict_3out covers the route (multi-output pytree, full and traced); the other two models -m slow (issue 25 time)
@pytest.mark.parametrize("name", ["dict_3out", pytest.param("equinox_3out", marks=pytest.mark.slow),
                                  pytest.param("softplus_mlp", marks=pytest.mark.slow)])
def test_ntk_gram_full_and_traced_equal_J_Jt(name):
    with jax.enable_x64(True):
        init, apply = MODELS[name]()

        @eqx.filter_jit  # the explicit route in its own compiled program
        def jacobians():
            params = init(jax.random.PRNGKey(3))
            x1 = jax.random.normal(jax.random.PRNGKey(4), (5, 3))
            x2 = jax.random.normal(jax.random.PRNGKey(5), (4, 3))
            arrays, rebuild = gj.array_part(params)
            flat, unravel = ravel_pytree(arrays)
            J1, J2 = (jax.jacfwd(lambda v: apply(rebuild(unravel(v)), x).reshape(-1))(flat) for x in (x1, x2))
            v = jax.random.normal(jax.random.PRNGKey(6), jax.eval_shape(lambda: apply(params, x1)).shape)
            return params, x1, x2, J1, J2, v

        params, x1, x2, J1, J2, v = jacobians()
        m = J1.shape[0] // 5
        full = J1 @ J2.T
        traced = jnp.einsum("icjc->ij", full.reshape(5, m, 4, m))

        @eqx.filter_jit  # every variant of the layer in one compiled program (non-arrays are static)
        def layer(params, x1, x2, v):
            gram, emp = gj.ntk_gram, gj.empirical_ntk
            fulls = (gram(apply, params, x1, x2, outputs="full"), gram(apply, params, x1, x2, outputs="full",
                                                                       batch_size=3),
                     gram(apply, params, x1, x2, outputs="full", memory_limit=2000),
                     emp(apply, params, x1, x2, outputs="full"), emp(apply, params, x1, x2, outputs="full",
                                                                     point_batch=2))
            traceds = (gram(apply, params, x1, x2), gram(apply, params, x1, x2, batch_size=1),
                       gram(apply, params, x1, x2, memory_limit=2000),
                       emp(apply, params, x1, x2), emp(apply, params, x1, x2, point_batch=3))
            return fulls, traceds, gj.ntk_vector_product(apply, params, x1, v)

        fulls, traceds, nvp = layer(params, x1, x2, v)
        for got in fulls:
            assert got.shape == (5 * m, 4 * m)
            np.testing.assert_allclose(got, full, rtol=1e-12, atol=1e-12)
        for got in traceds:
            assert got.shape == (5, 4)
            np.testing.assert_allclose(got, traced, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(nvp.reshape(-1), J1 @ (J1.T @ v.reshape(-1)), rtol=1e-11, atol=1e-12)


def test_cka_multi_output_targets():
    with jax.enable_x64(True):
        @jax.jit  # one compiled program (op by op: ~40 tiny compilations)
        def values():
            A = jax.random.normal(jax.random.PRNGKey(0), (9, 9))
            K = A @ A.T
            y = jax.random.normal(jax.random.PRNGKey(1), (9,))
            column = [(cka(K, y[:, None]), cka(K, y)) for cka in (gj.cka_paper, gj.cka_cortes)]  # (n, 1) = (n,)
            Y = jax.nn.one_hot(jnp.arange(9) % 3, 3)
            Yc = Y - Y.mean(0)
            L = Yc @ Yc.T
            Kc = K - K.mean(0)
            return (column, gj.cka_paper(K, Y), jnp.sum(Kc * L) / (jnp.linalg.norm(Kc) * jnp.linalg.norm(L)),
                    gj.cka_paper(L, Y))

        column, multi, by_hand, target = values()
        for got, want in column:
            np.testing.assert_allclose(got, want, rtol=1e-12)
        np.testing.assert_allclose(multi, by_hand, rtol=1e-12)
        np.testing.assert_allclose(target, 1.0, rtol=1e-12)  # the target kernel is perfectly aligned


# ------------------------------------------------------------------------------------------- the sweep
def _regression(init_apply, n=24, n_test=16, outputs=None, seed=7):
    init, apply = init_apply

    @jax.jit  # one compiled program (op by op: one tiny compilation per shape and operation)
    def inputs_and_targets():
        X = jax.random.normal(jax.random.PRNGKey(seed), (n + n_test, 3))
        params = init(jax.random.PRNGKey(99))
        return X, apply(_perturbed(params, jax.random.PRNGKey(98), 1.0), X)  # a target the model can fit

    X, teacher = inputs_and_targets()
    return gj.Model(apply, init, gj.Data(X[:n], teacher[:n], X[n:], teacher[n:]), name="test-model",
                    description="a test model")


def test_vmapped_sweep_equals_separate_single_runs():
    model = _regression(dict_pytree_three_outputs())
    cfg = gj.LazyRichConfig(alpha=(0.5, 4.0), seed=(0, 3), steps=60, log_points=8, lr=(0.5,), kernel_points=6)
    ds = gj.run_model(model, cfg)
    assert ds["train_loss"].dims == ("alpha", "seed", "step")
    for a, s in ((0.5, 0), (4.0, 3)):
        if True:
            single = gj.run_model(model, gj.LazyRichConfig(**{**_fields(cfg), "alpha": (a,), "seed": (s,)}))
            for name in ("train_loss", "test_loss", "lin_test_loss", "kernel_movement", "rel_change"):
                np.testing.assert_allclose(ds[name].sel(alpha=a, seed=s), single[name].sel(alpha=a, seed=s),
                                           rtol=2e-5, atol=1e-6, err_msg=name)
    # the runs differ across alpha and seed (the comparison is not trivially satisfied)
    assert float(abs(ds.train_loss.isel(alpha=0, step=-1) - ds.train_loss.isel(alpha=1, step=-1)).max()) > 1e-4
    assert float(abs(ds.train_loss.isel(seed=0, step=-1) - ds.train_loss.isel(seed=1, step=-1)).max()) > 1e-4


def _fields(cfg):
    import dataclasses

    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}


def test_hyperparameter_sweep_is_one_axis_and_chunked():
    model = _regression(softplus_mlp())
    cfg = gj.LazyRichConfig(alpha=(1.0,), seed=(0, 1), steps=30, log_points=5, optimizer="adam", lr=(1e-2, 3e-2),
                            chunk_size=3, linearized=False)
    ds = gj.run_model(model, cfg, sweep={"b1": [0.8, 0.95]})
    assert ds["train_loss"].dims == ("alpha", "lr", "b1", "seed", "step")
    assert ds.attrs["n_chunks"] == 3 and "lin_test_loss" not in ds
    # a separate run of the lr=3e-2 half (4 configurations): other chunk boundaries and padding (3 + 1 padded) in
    # the same compiled chunk program (chunks of 3, the same layout), so it is not compiled again
    one = gj.run_model(model, gj.LazyRichConfig(**{**_fields(cfg), "lr": (3e-2,)}), sweep={"b1": [0.8, 0.95]})
    assert one.attrs["n_chunks"] == 2
    np.testing.assert_allclose(ds.train_loss.sel(lr=3e-2).isel(alpha=0), one.train_loss.isel(alpha=0), rtol=2e-5)


def test_network_approaches_linearisation_as_one_over_alpha():
    alphas = (16.0, 32.0, 64.0, 128.0, 256.0)
    with jax.enable_x64(True):
        model = _regression(softplus_mlp(), n=20, n_test=12)
        ds = gj.run_model(model, gj.LazyRichConfig(alpha=alphas, seed=(0,), steps=200, log_points=6, lr=(0.05,),
                                                   dtype="float64"))
    dev = ds["lin_deviation"].isel(seed=0, step=-1).values
    slope = np.polyfit(np.log(alphas), np.log(dev), 1)[0]
    print(f"deviation at the end vs alpha: {dict(zip(alphas, dev))}; fitted log-log slope {slope:.4f}")
    assert abs(slope + 1.0) < 0.08, slope  # -1 + O(1/alpha)
    assert np.all(np.diff(dev) < 0)


def test_divergence_guard_is_per_configuration():
    model = _regression(dict_pytree_three_outputs())
    # the layout of test_vmapped_sweep_equals_separate_single_runs (4 configurations, 2 seeds; alpha, lr and seed
    # are inputs of the program), so its compiled program is reused
    ds = gj.run_model(model, gj.LazyRichConfig(alpha=(0.5,), seed=(0, 3), steps=60, log_points=8, lr=(0.5, 1e4),
                                               kernel_points=6))
    div = ds["diverged_step"].isel(alpha=0).values  # (lr, seed)
    assert np.all(div[0] == -1) and np.all(div[1] >= 0), div
    assert np.all(np.isfinite(ds["train_loss"].sel(lr=0.5)))


# ------------------------------------------------------------------------------------------- bad input
def _refused(field, model, cfg=None, **kw):
    with pytest.raises(ConfigError) as info:
        gj.run_model(model, cfg or gj.LazyRichConfig(steps=5, log_points=2), **kw)
    assert info.value.field == field, info.value
    return str(info.value)


def test_bad_models_refused_before_compute_naming_the_culprit():
    init, apply = softplus_mlp()
    good = _regression((init, apply))
    data = good.data

    def raising(p, x):
        raise RuntimeError("boom")

    assert "boom" in _refused("apply", gj.Model(raising, init, data))
    assert "shape" in _refused("apply", gj.Model(lambda p, x: apply(p, x)[:3], init, data))
    assert "non-finite" in _refused("apply", gj.Model(lambda p, x: apply(p, x) / 0.0 * 0.0, init, data))
    assert "no floating-point arrays" in _refused("init", gj.Model(apply, lambda k: {"f": jnp.tanh, "n": 3}, data))
    assert "points" in _refused("data", gj.Model(apply, init, gj.Data(data.x_train, data.y_train[:5], data.x_test,
                                                                      data.y_test)))
    _refused("data", gj.Model(apply, init, gj.Data(data.x_train[:, :2], data.y_train, data.x_test, data.y_test)))
    _refused("data", gj.Model(apply, init, gj.Data(data.x_train, jnp.ones((24, 3)), data.x_test, jnp.ones((16, 3)))))
    _refused("data", gj.Model(apply, init, (1, 2)))
    _refused("loss", gj.Model(apply, init, data, loss="hinge"))
    _refused("kernel_points", good, gj.LazyRichConfig(steps=5, log_points=2, kernel_points=1000))
    _refused("b2", good, gj.LazyRichConfig(steps=5, log_points=2), sweep={"b2": [0.9, 0.99]})  # sgd has no b2
    with pytest.raises(ConfigError) as info:
        gj.LazyRichConfig(alpha=(-1.0,))
    assert info.value.field == "alpha"
    with pytest.raises(ConfigError) as info:
        gj.LazyRichConfig(optimizer="no_such_optimizer")
    assert info.value.field == "optimizer"


# ------------------------------------------------------------------------------------ dataset, plot, delays
def test_saved_dataset_describes_the_users_run(tmp_path):
    init, apply = equinox_mlp()
    X = jax.random.normal(jax.random.PRNGKey(0), (40, 3))
    labels = jnp.argmax(X, axis=1)
    model = gj.Model(apply, init, gj.Data(X[:30], labels[:30], X[30:], labels[30:]), loss="cross_entropy",
                     name="eqx-classifier", description="eqx.nn.MLP 3-8-8-3 on argmax(x)")
    ds = gj.run_model(model, gj.LazyRichConfig(alpha=(1.0, 3.0), steps=40, log_points=6, optimizer="adam",
                                               lr=(1e-2,), kernel_points=6, after_kernel=True))
    assert {"train_acc", "lin_test_acc", "kernel_target_alignment_cortes", "after_kernel_test_loss"} <= set(ds)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no MissingMetadataWarning
        path = gj.save_dataset(ds, tmp_path / "run.nc")
    back = gj.load_dataset(path)
    assert "cross-entropy" in back["train_loss"].attrs["description"]
    assert "committee" not in json.dumps(dict(back.attrs), default=str) and "(alpha/N)" not in back.attrs["conventions"]
    assert back.attrs["model_description"] == "eqx.nn.MLP 3-8-8-3 on argmax(x)"
    assert "centred" in back.attrs["predictor"]
    gj.plot_lazy_rich(path, tmp_path / "fig.png")
    assert (tmp_path / "fig.png").stat().st_size > 10_000
    delays = gj.grokking_delays(back, threshold=0.5)
    assert delays["half_drop_delay"].dims == ("alpha", "seed")


def test_delay_rules_on_known_curves():
    steps = np.array([0, 1, 2, 4, 8, 16, 32])
    train = np.array([1.0, 1.0, 0.5, 0.1, 0.01, 0.01, 0.01])
    test = np.array([1.0, 1.0, 1.0, 1.0, 0.9, 0.3, 0.01])
    assert gj.threshold_delay(steps, train, test, 0.1) == 32 - 4
    assert gj.half_drop_delay(steps, train, test) == 16 - 2
    acc_train, acc_test = 1 - train, 1 - test
    assert gj.threshold_delay(steps, acc_train, acc_test, 0.9, below=False) == 32 - 4
    assert gj.half_drop_delay(steps, acc_train, acc_test, below=False) == 16 - 2
    assert np.isnan(gj.threshold_delay(steps, train, test, 1e-3))
