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
