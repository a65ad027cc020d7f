"""A tiny run of every realistic task, bad configs, and the figure protocol (tiny size)."""
import dataclasses

import numpy as np
import pytest

from grokjax._errors import ConfigError
from grokjax.tasks import load_task


def test_modular_tiny_run_learns_and_norm_grows():
    from grokjax.tasks import modular

    ds = modular.run(modular.Config(p=11, hidden=50, alpha=(0.5, 1.0), steps=400, log_points=10, seed=(0, 1)))
    assert ds["train_acc"].dims == ("alpha", "seed", "step")
    assert ds.sizes == {"alpha": 2, "seed": 2, "step": ds.sizes["step"]} and ds["step"].values[-1] == 400
    sub = ds.sel(alpha=0.5).mean("seed")
    assert sub["train_acc"].values[-1] > 0.9                 # fits the training set
    assert sub["weight_norm"].values[-1] > sub["weight_norm"].values[0]   # no weight decay: the norm grows
    assert "alpha=0.5" in ds.attrs["summary"]


def test_modular_output_scale_convention():
    """alpha_power=2 (notebook) multiplies the network by alpha^2; alpha_power=1 by alpha (initial losses)."""
    import jax
    import jax.numpy as jnp
    from grokjax.tasks import modular

    ab, y, _, _ = modular.make_data(7, 0.9, 1)
    h = modular.hidden_out(modular.init_params(jax.random.PRNGKey(0), 7, 10), modular.one_hot_pairs(jnp.asarray(ab), 7))
    Y = jax.nn.one_hot(jnp.asarray(y), 7)
    for power in (1, 2):
        ds = modular.run(modular.Config(p=7, hidden=10, alpha=(1.0, 3.0), alpha_power=power, steps=1, log_points=2))
        got = ds["train_loss"].isel(step=0, seed=0).values
        want = [float(jnp.mean((a ** power * h - Y) ** 2)) for a in (1.0, 3.0)]
        np.testing.assert_allclose(got, want, rtol=1e-5)


def test_teacher_tiny_run_with_linearisation():
    from grokjax.tasks import teacher

    ds = teacher.run(teacher.Config(preset="app15b", width=16, steps=100, log_points=8, alpha=(1.0, 2.0)))
    for v in ("train_loss", "test_loss", "lin_train_loss", "lin_test_loss", "lin_distance"):
        assert np.all(np.isfinite(ds[v].values)), v
    d = ds["lin_distance"].isel(alpha=0, seed=0).values
    assert d[1] < d[-1]                                       # it leaves the linearisation over time
    np.testing.assert_allclose(ds["train_loss"].isel(step=0).values, ds["lin_train_loss"].isel(step=0).values,
                               rtol=1e-5)
    assert ds["train_acc"].dims == ("alpha", "seed", "step", "threshold")
    assert ds["train_loss"].isel(alpha=0, seed=0).values[-1] < ds["train_loss"].isel(alpha=0, seed=0).values[0]


def test_teacher_omnigrok_preset_resolves():
    from grokjax.tasks import teacher

    cfg = teacher.Config().resolved()
    assert cfg.bias and cfg.init == "torch" and cfg.init_scale == 2.0 and cfg.lr == 3e-4
    assert teacher.Config(preset="app15b", lr=1e-2).resolved().lr == 1e-2   # explicit flags win


def test_mnist_tiny_run():
    from grokjax.tasks import mnist

    ds = mnist.run(mnist.Config(width=32, downsample=4, n_train=100, n_test=100, steps=40, batch=0, lr=1e-2,
                                alpha=(0.1, 1.0), init_scale=(1.0, 2.0), log_points=5))
    assert ds["test_acc"].dims == ("alpha", "init_scale", "seed", "step")
    assert np.all(np.isfinite(ds["train_loss"].values))
    assert float(ds["train_acc"].sel(alpha=1.0, init_scale=1.0).values[0, -1]) > 0.3


def test_mnist_meanfield_parametrisation_runs():
    from grokjax.tasks import mnist

    ds = mnist.run(mnist.Config(preset="notebook", width=16, downsample=7, n_train=50, n_test=50, steps=5,
                                batch=10, alpha=(0.5,), log_points=3))
    assert np.all(np.isfinite(ds["train_loss"].values))


def test_transformer_tiny_run():
    from grokjax.tasks import transformer

    ds = transformer.run(transformer.Config(preset="notebook", p=7, d_model=8, d_mlp=16, n_heads=2, train_frac=0.6,
                                            lr0=1e-2, alpha=(0.5, 1.0), steps=12, log_points=4))
    # centred logits are zero at init: the loss is log(d_vocab) for every alpha
    np.testing.assert_allclose(ds["train_loss"].isel(step=0).values, np.log(8), rtol=1e-5)
    assert np.all(ds["train_loss"].isel(step=-1).values < np.log(8))
    assert ds["rel_change"].dims == ("alpha", "seed", "step")
    assert "lin_train_loss" not in ds


@pytest.mark.slow
def test_transformer_tiny_run_with_linearisation():
    from grokjax.tasks import transformer

    ds = transformer.run(transformer.Config(preset="app15c", p=7, d_model=8, d_mlp=16, n_heads=2, train_frac=0.6,
                                            alpha=(0.5,), steps=12, log_points=4))
    first = ds.isel(step=0)
    np.testing.assert_allclose(first["train_loss"].values, np.log(8), rtol=1e-5)
    np.testing.assert_allclose(first["lin_train_loss"].values, np.log(8), rtol=1e-5)
    assert np.all(ds["lin_train_loss"].isel(step=-1).values < np.log(8))
    assert np.all(ds["train_loss"].isel(step=-1).values < np.log(8))


@pytest.mark.parametrize("task, field, value", [
    ("modular", "p", 1), ("modular", "alpha", (1.0, -1.0)), ("modular", "train_frac", 1.5),
    ("modular", "alpha_power", 3),
    ("teacher", "preset", "nope"), ("teacher", "init", "xavier"), ("teacher", "threshold", (0.0,)),
    ("mnist", "data", "/nonexistent/dir"), ("mnist", "downsample", 3), ("mnist", "n_train", 4900),
    ("mnist", "batch", 5000), ("transformer", "d_model", 30), ("transformer", "alpha", (0.0,)),
    ("transformer", "steps", 0),
])
def test_bad_config_names_the_field(task, field, value):
    module = load_task(task)
    cfg = dataclasses.replace(module.Config(), **{field: value})
    with pytest.raises(ConfigError) as info:
        cfg.validate()
    assert info.value.field == field


def test_bad_config_rejected_before_compute(monkeypatch):
    from grokjax.tasks import modular

    monkeypatch.setattr(modular, "make_data", lambda *a, **k: pytest.fail("computed before validating"))
    with pytest.raises(ConfigError):
        modular.run(modular.Config(steps=0))


def test_figure_protocol_and_unknown_names(tmp_path):
    from experiments import fig_tasks

    assert {"fig2", "fig2c", "fig5a", "fig5b", "app8.3.1", "app15b", "app15c"} <= set(fig_tasks.FIGURES)
    with pytest.raises(ConfigError) as info:
        fig_tasks.make_figure("fig99", "tiny", tmp_path)
    assert info.value.field == "figure"
    with pytest.raises(ConfigError) as info:
        fig_tasks.make_figure("fig2", "huge", tmp_path)
    assert info.value.field == "size"


def test_figure_tiny_writes_outputs(tmp_path):
    from experiments import fig_tasks
    from grokjax.store import load_dataset

    check = fig_tasks.make_figure("fig2", "tiny", tmp_path, quiet=True)
    assert (tmp_path / "fig2.png").stat().st_size > 0 and (tmp_path / "fig2.pdf").exists()
    ds = load_dataset(tmp_path / "data" / "fig2.nc")
    assert ds.attrs["figure"] == "fig2" and "modular" in ds.attrs["config"]
    assert isinstance(check.holds, bool) and "weight_norm_final" in check.numbers
    assert check.numbers["weight_norm_final"] > check.numbers["weight_norm_init"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fig2c", "fig5a", "fig5b", "app8.3.1", "app15b", "app15c"])
def test_every_figure_tiny(tmp_path, name):
    from experiments import fig_tasks

    check = fig_tasks.make_figure(name, "tiny", tmp_path, quiet=True)
    assert (tmp_path / f"{name}.png").exists() and (tmp_path / "data" / f"{name}.nc").exists()
    assert check.figure == name
