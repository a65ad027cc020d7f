"""``grokjax run FILE.py:FUNCTION`` / ``module:FUNCTION`` / an entry-point name: the user's model on the CLI, with
the built-in tasks' flags; bad input exits 2 naming the culprit and writes nothing."""
from __future__ import annotations

import textwrap

import pytest

from grokjax import cli, load_dataset

TASK_FILE = textwrap.dedent('''
    import jax, jax.numpy as jnp
    import grokjax as gj

    def make_task():
        """A tanh MLP with two outputs on a synthetic target."""
        def init(key):
            k1, k2 = jax.random.split(key)
            return {"W": jax.random.normal(k1, (12, 2)), "v": jax.random.normal(k2, (12, 2))}

        def apply(p, x):
            return jnp.tanh(x @ p["W"].T) @ p["v"] / 12

        X = jax.random.normal(jax.random.PRNGKey(0), (30, 2))
        Y = jnp.stack([jnp.sin(2 * X[:, 0]), X[:, 0] * X[:, 1]], axis=1)
        return gj.Model(apply, init, gj.Data(X[:20], Y[:20], X[20:], Y[20:]), name="two-output",
                        description="tanh MLP 2-12-2 on (sin 2x1, x1 x2)")

    def returns_int():
        return 3

    def raises():
        raise RuntimeError("no data today")

    def nan_apply():
        m = make_task()
        return gj.Model(lambda p, x: m.apply(p, x) * jnp.nan, m.init, m.data)

    def no_arrays():
        m = make_task()
        return gj.Model(m.apply, lambda key: {"act": jnp.tanh}, m.data)

    def bad_data():
        m = make_task()
        return gj.Model(m.apply, m.init, gj.Data(m.data.x_train, m.data.y_train[:, :1], m.data.x_test,
                                                 m.data.y_test[:, :1]))
''')


@pytest.fixture
def task_dir(tmp_path, monkeypatch):
    (tmp_path / "usertask.py").write_text(TASK_FILE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_help_lists_the_flags(task_dir, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "usertask.py:make_task", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--alpha", "--seed", "--steps", "--optimizer", "--lr", "--lr-rule", "--out", "--checkpoint-dir",
                 "--kernel-points", "--centered", "A tanh MLP with two outputs"):
        assert flag in text, flag


def test_file_and_module_and_entry_point_forms_run(task_dir, monkeypatch, capsys):
    """The file form runs end to end; the module and entry-point forms go through the same command up to
    ``run_model``, which checks that they hand it the same model and configuration as the file form and returns
    the file form's result (one compile instead of three)."""
    import jax
    import numpy as np

    import grokjax._lazy_rich as layer

    real, calls = layer.run_model, []

    def run_model(model, config):
        calls.append((model, config))
        if len(calls) == 1:
            return real(model, config)
        (first, first_config), x = calls[0], model.data.x_test
        assert config == first_config and model.name == first.name
        for a, b in zip(jax.tree.leaves(model.data), jax.tree.leaves(first.data)):
            np.testing.assert_array_equal(a, b)
        key = jax.random.PRNGKey(5)
        np.testing.assert_array_equal(model.apply(model.init(key), x), first.apply(first.init(key), x))
        return load_dataset(task_dir / "a.nc")

    monkeypatch.setattr(layer, "run_model", run_model)
    args = ["--alpha", "1", "4", "--steps", "20", "--log-points", "5", "--kernel-points", "4", "--quiet"]
    assert cli.main(["run", "usertask.py:make_task", *args, "--out", "a.nc"]) == 0
    ds = load_dataset(task_dir / "a.nc")
    assert ds["train_loss"].dims == ("alpha", "seed", "step") and list(ds["alpha"].values) == [1.0, 4.0]
    assert ds.attrs["model_description"] == "tanh MLP 2-12-2 on (sin 2x1, x1 x2)"
    assert "squared error" in ds["train_loss"].attrs["description"]
    assert cli.main(["run", "usertask:make_task", *args, "--out", "b.nc"]) == 0
    import grokjax.tasks as tasks

    monkeypatch.setattr(tasks, "_registered", lambda: {"my-model": "usertask:make_task"})
    assert cli.main(["run", "my-model", *args, "--out", "c.nc"]) == 0
    assert len(calls) == 3
    a, b, c = (load_dataset(task_dir / f"{n}.nc") for n in "abc")
    assert float(abs(a.test_loss - b.test_loss).max()) == 0.0 and float(abs(a.test_loss - c.test_loss).max()) == 0.0
    assert "summary" not in capsys.readouterr().err


@pytest.mark.parametrize("task, culprit", [
    ("missing.py:make_task", "does not exist"),
    ("usertask.py:no_such_function", "no function"),
    ("no_such_module_xyz:make_task", "cannot import"),
    ("usertask.py:returns_int", "must return a grokjax.Model"),
    ("usertask.py:raises", "no data today"),
    ("usertask.py:nan_apply", "'apply'"),
    ("usertask.py:no_arrays", "'init'"),
    ("usertask.py:bad_data", "'data'"),
])
def test_bad_tasks_exit_2_and_write_nothing(task_dir, capsys, task, culprit):
    before = sorted(p.name for p in task_dir.rglob("*") if "__pycache__" not in p.parts)
    assert cli.main(["run", task, "--steps", "5", "--log-points", "2", "--out", "new/folder/x.nc"]) == 2
    err = capsys.readouterr().err
    assert culprit in err, err
    after = sorted(p.name for p in task_dir.rglob("*") if "__pycache__" not in p.parts)
    assert after == before
