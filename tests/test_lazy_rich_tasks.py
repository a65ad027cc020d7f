"""The layer hosts the built-in tasks' conventions: the student-teacher task (grokjax/tasks/teacher.py: un-centred
alpha-scaled tanh MLP, AdamW at a learning rate not rescaled with alpha, the exact linearisation trained side by
side, accuracy = per-point MSE below a threshold) run through grokjax.run_model gives the task's own numbers."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import grokjax as gj
from grokjax.tasks import teacher


@pytest.mark.slow  # ~15 s; the task is now itself a client of the layer, this guards its wiring
def test_teacher_task_through_the_layer_equals_the_task():
    cfg = teacher.Config(preset="app15b", d_in=3, width=16, d_out=2, n_train=24, n_test=16, alpha=(0.5, 2.0),
                         seed=(1, 2), steps=60, log_points=8, kernel_points=5).resolved()
    ds_task = teacher.run(cfg, quiet=True)

    sizes = (cfg.d_in, cfg.width, cfg.width, cfg.d_out)
    kx, kt = jax.random.split(jax.random.PRNGKey(cfg.data_seed))
    X, Xt = jax.random.normal(kx, (cfg.n_train, cfg.d_in)), jax.random.normal(kt, (cfg.n_test, cfg.d_in))
    t = teacher.init_mlp(jax.random.PRNGKey(cfg.teacher_seed), sizes, cfg.bias, cfg.init, 1.0)
    threshold = cfg.threshold[0]
    model = gj.Model(teacher.mlp, lambda key: teacher.init_mlp(key, sizes, cfg.bias, cfg.init, cfg.init_scale),
                     gj.Data(X, teacher.mlp(t, X), Xt, teacher.mlp(t, Xt)),
                     accuracy=lambda out, y: jnp.mean(jnp.mean((out - y) ** 2, axis=1) < threshold))
    assert ds_task.attrs["engine"].startswith("grokjax.run_model")  # the task is a client of the layer
    layer = gj.LazyRichConfig(alpha=cfg.alpha, seed=cfg.seed, steps=cfg.steps, log_points=cfg.log_points,
                              optimizer="adamw", lr=(cfg.lr,), weight_decay=(cfg.weight_decay,), lr_rule="constant",
                              centered=False, linearized=True, kernel_points=cfg.kernel_points)
    ds = gj.run_model(model, layer)
    pairs = {"train_loss": "train_loss", "test_loss": "test_loss", "weight_norm": "weight_norm",
             "lin_train_loss": "lin_train_loss", "lin_test_loss": "lin_test_loss", "kernel_movement": "kernel_movement",
             }
    for ours, theirs in pairs.items():
        np.testing.assert_allclose(ds[ours].values, ds_task[theirs].values, rtol=2e-5, atol=1e-7, err_msg=ours)
    # a ratio of two small differences early on (f - f_lin ~ 1e-4): float32 cancellation, absolute 1e-5
    np.testing.assert_allclose(ds["lin_distance"].values, ds_task["lin_distance"].values, rtol=1e-3, atol=1e-5)
    np.testing.assert_array_equal(ds["train_acc"].values, ds_task["train_acc"].isel(threshold=0).values)


def _vector_accuracy_model(values):
    X = jax.random.normal(jax.random.PRNGKey(0), (12, 3))
    y = jnp.tanh(X[:, 0])
    return gj.Model(lambda p, x: jnp.tanh(x @ p), lambda key: jax.random.normal(key, (3,)), gj.Data(X[:8], y[:8], X[8:], y[8:]),
                    accuracy=lambda out, yy: jnp.mean((out - yy)[None, :] ** 2 < jnp.asarray(values)[:, None], axis=1),
                    accuracy_axis=("tol", [0.01, 0.1, 1.0]))


def test_accuracy_axis_adds_a_labelled_dimension_and_a_wrong_length_is_refused():
    ds = gj.run_model(_vector_accuracy_model([0.01, 0.1, 1.0]), gj.LazyRichConfig(steps=20, log_points=4))
    assert ds["train_acc"].dims == ("alpha", "seed", "step", "tol") and ds["lin_test_acc"].dims[-1] == "tol"
    np.testing.assert_array_equal(ds["tol"].values, [0.01, 0.1, 1.0])
    acc = ds["train_acc"].values
    assert np.all(np.diff(acc, axis=-1) >= 0)  # a looser tolerance never counts fewer points
    with pytest.raises(gj.ConfigError, match="accuracy"):  # 2 values for a 3-entry axis: refused before compute
        gj.run_model(_vector_accuracy_model([0.01, 0.1]), gj.LazyRichConfig(steps=20, log_points=4))


def test_model_metrics_hook_is_logged_and_can_replace_a_layer_metric():
    model = _vector_accuracy_model([0.01, 0.1, 1.0])
    hooked = dataclasses.replace(model, metrics=lambda p: {"weight_norm": jnp.sum(jnp.abs(p)), "first": p[0]})
    ds = gj.run_model(hooked, gj.LazyRichConfig(steps=20, log_points=4))
    plain = gj.run_model(model, gj.LazyRichConfig(steps=20, log_points=4))
    assert ds["first"].dims == ("alpha", "seed", "step") and "model's own metric" in ds["weight_norm"].attrs["description"]
    assert not np.allclose(ds["weight_norm"].values, plain["weight_norm"].values)  # the L1 norm, not the layer's L2
    np.testing.assert_allclose(ds["train_loss"].values, plain["train_loss"].values)  # training itself unchanged
    with pytest.raises(gj.ConfigError, match="metrics"):  # a non-scalar metric is refused before compute
        gj.run_model(dataclasses.replace(model, metrics=lambda p: {"w": p}), gj.LazyRichConfig(steps=20, log_points=4))


# ------------------------------------------------------------------- the layer's options the built-in tasks use
def _linear_model(n_train=10, **kw):
    """Linear regression f = alpha x.(w - w0) (centred), w0 = scale * N(0, 1): small enough to follow by hand."""
    X = np.asarray(jax.random.normal(jax.random.PRNGKey(3), (n_train + 4, 3)), np.float64)
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1
    return gj.Model(lambda p, x: x @ p["w"], lambda key, scale=1.0: {"w": scale * jax.random.normal(key, (3,))},
                    gj.Data(X[:n_train], y[:n_train], X[n_train:], y[n_train:]), **kw)


def _hand_gd(model, alpha, lrs, batches, steps, w0):
    """Plain gradient descent on the centred MSE, learning rate lrs[t] and batch batches[t] at step t; returns the
    train loss at the logged steps (float64 numpy)."""
    X, y = np.asarray(model.data.x_train), np.asarray(model.data.y_train)
    w, w0, out = np.array(w0, np.float64), np.array(w0, np.float64), []
    for t in range(int(steps[-1]) + 1):
        if t in steps:
            out.append(np.mean((alpha * X @ (w - w0) - y) ** 2))
        if t < steps[-1]:
            Xb, yb = X[batches[t]], y[batches[t]]
            w = w - lrs[t] * 2 * alpha * Xb.T @ (alpha * Xb @ (w - w0) - yb) / len(yb)
    return np.array(out)


def test_cycle_batch_order_follows_one_fixed_shuffle():
    cfg = gj.LazyRichConfig(steps=9, log_points=10, log_schedule="linear", batch_size=4, batch_order="cycle",
                            data_seed=5, lr=(0.05,), lr_rule="constant", linearized=False, dtype="float64")
    order = np.asarray(jax.random.permutation(jax.random.PRNGKey(cfg.data_seed + 1), 10))
    twice = np.concatenate([order, order])
    want = [twice[(t * 4) % 10:(t * 4) % 10 + 4] for t in range(9)]  # 0-3, 4-7, 8 9 0 1, 2-5, ...
    from grokjax._lazy_rich import batch_indices

    indices = jax.jit(lambda t: batch_indices(cfg, 10)(None, t))  # one compiled program (op by op: ~15)
    got = [np.asarray(indices(jnp.int32(t))) for t in range(9)]
    np.testing.assert_array_equal(got, want)
    model = _linear_model()
    ds = gj.run_model(model, cfg)
    with jax.enable_x64(True):
        w0 = np.asarray(model.init(jax.random.PRNGKey(0))["w"])
    ref = _hand_gd(model, 1.0, [0.05] * 9, want, ds["step"].values, w0)
    np.testing.assert_allclose(ds["train_loss"].sel(alpha=1.0, seed=0).values, ref, rtol=1e-10)


def test_warmup_and_alpha_power_learning_rate_against_a_hand_computed_sequence():
    from grokjax._lazy_rich import learning_rate

    cfg = gj.LazyRichConfig(alpha=(0.5, 2.0), steps=8, log_points=9, log_schedule="linear", lr=(0.02,),
                            lr_rule="alpha^-p", lr_power=1.5, warmup_steps=3, linearized=False, dtype="float64")
    schedule = learning_rate(cfg, 0.02, 2.0)
    lrs = 0.02 / 2.0 ** 1.5 * np.array([1 / 3, 2 / 3, 1, 1, 1, 1, 1, 1])
    np.testing.assert_allclose([float(schedule(t)) for t in range(8)], lrs, rtol=1e-6)
    model = _linear_model()
    ds = gj.run_model(model, cfg)
    with jax.enable_x64(True):
        w0 = np.asarray(model.init(jax.random.PRNGKey(0))["w"])
    for alpha in cfg.alpha:
        lrs = 0.02 / alpha ** 1.5 * np.minimum((np.arange(8) + 1) / 3, 1.0)
        ref = _hand_gd(model, alpha, lrs, [np.arange(10)] * 8, ds["step"].values, w0)
        # optax.inject_hyperparams keeps a scheduled rate in float32: agreement to ~1e-9, not 1e-15
        np.testing.assert_allclose(ds["train_loss"].sel(alpha=alpha, seed=0).values, ref, rtol=1e-7)
    assert "min((t + 1) / 3, 1)" in ds.attrs["learning_rate_rule"] and "alpha^1.5" in ds.attrs["learning_rate_rule"]
    with pytest.raises(gj.ConfigError, match="lr_power"):  # the exponent of another rule is refused, not ignored
        gj.LazyRichConfig(lr_power=3.0)
    with pytest.raises(gj.ConfigError, match="batch_order"):
        gj.LazyRichConfig(batch_order="cycle")


def test_init_axis_vmapped_equals_separate_runs():
    cfg = gj.LazyRichConfig(alpha=(0.5, 2.0), seed=(0, 1), steps=20, log_points=5, lr=(0.05,))
    model = _linear_model(init_axes={"scale": [0.5, 3.0]})
    ds = gj.run_model(model, cfg)
    assert ds["train_loss"].dims == ("alpha", "scale", "seed", "step") and ds["diverged_step"].dims[1] == "scale"
    assert "init(key, scale=value)" in ds["scale"].attrs["description"]
    for scale in (0.5, 3.0):
        alone = gj.run_model(dataclasses.replace(model, init_axes=None, init=lambda key, s=scale: model.init(key, s)),
                             cfg)
        for name in ("train_loss", "lin_test_loss", "weight_norm"):
            np.testing.assert_allclose(ds[name].sel(scale=scale).values, alone[name].values, rtol=1e-5, err_msg=name)
    for bad in ({"alpha": [1.0]}, {"scale": []}, {"scale": [1.0, 1.0]}, ["scale"]):
        with pytest.raises(gj.ConfigError, match="init_axes"):
            gj.check_model(_linear_model(init_axes=bad), cfg)
