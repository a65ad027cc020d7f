"""The bad inputs named in issue 24 (and siblings), one regression each: refused before compute with a
ConfigError / exit 2 naming the field. Validation runs once per construction, not on every pytree unflatten."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dmft
import grokjax as gj
from grokjax.cli import main
from grokjax.tasks import load_task


@pytest.mark.parametrize("value", [np.array(-1.0), jnp.array(math.nan), np.array([1.0, 2.0]), jnp.array([1.0, 2.0]),
                                   np.float32(-1), jnp.array(-1.0, dtype=jnp.bfloat16), np.array([[1.0]]),
                                   np.array(True), np.array("1.0")])
def test_poly_config_checks_numpy_and_jax_values_like_numbers(value):
    with pytest.raises(gj.ConfigError) as err:
        gj.PolyConfig(alpha=value)
    assert err.value.field == "alpha"


def test_numpy_and_jax_scalars_are_stored_as_python_numbers():
    cfg = gj.PolyConfig(alpha=np.float32(2.0), N=np.int64(7), seed=jnp.array(3), centered=np.bool_(False))
    assert (type(cfg.alpha), type(cfg.N), type(cfg.seed), type(cfg.centered)) == (float, int, int, bool)
    assert cfg == gj.PolyConfig(alpha=2.0, N=7, seed=3, centered=False)


def test_validation_runs_once_per_construction_not_on_unflatten(monkeypatch):
    cfg = gj.PolyConfig(D=4, N=4, P=4, P_test=4, steps=4, n_log=2)
    calls = []
    original = gj.PolyConfig._validate
    monkeypatch.setattr(gj.PolyConfig, "_validate", lambda self: (calls.append(1), original(self))[1])
    leaves, tree = jax.tree_util.tree_flatten(cfg)
    for _ in range(5):
        again = jax.tree_util.tree_unflatten(tree, leaves)
    jax.jit(lambda c: c.alpha * 2)(cfg)
    jax.vmap(lambda c: c.alpha)(gj.as_traced(cfg, {f: np.ones(3) for f in gj._config.SWEEPABLE}))
    assert calls == [] and again == cfg
    gj.PolyConfig(D=5)
    assert calls == [1]


def test_a_traced_config_can_still_be_built_inside_jit():
    out = jax.jit(lambda a: gj.PolyConfig(alpha=a, D=4).alpha * 2)(3.0)
    assert float(out) == 6.0


@pytest.mark.parametrize("task, field", [("modular", "seed"), ("transformer", "seed"), ("mnist", "seed"),
                                         ("teacher", "seed"), ("modular", "split_seed"), ("teacher", "teacher_seed"),
                                         ("mnist", "data_seed"), ("transformer", "split_seed")])
@pytest.mark.parametrize("seed", [2**32, -1])
def test_task_seeds_outside_uint32_are_refused(task, field, seed):
    cls = load_task(task).Config
    value = (seed,) if field == "seed" else seed
    with pytest.raises(gj.ConfigError) as err:
        cls(**{field: value})
    assert err.value.field == field


@pytest.mark.parametrize("argv, field", [
    (["run", "modular", "--alpha", "-1"], "alpha"), (["run", "modular", "--alpha", "1", "-1e-3"], "alpha"),
    (["run", "poly", "--eps", "-inf"], "eps"), (["run", "teacher", "--threshold", "-.5"], "threshold"),
    (["run", "poly", "--seeds", "0", "-1"], "seeds"), (["run", "transformer", "--seed", "4294967296"], "seed"),
    (["run", "mnist", "--init-scale", "-nan"], "init_scale"),
])
def test_negative_list_values_reach_the_field_check(tmp_path, capsys, argv, field):
    rc = main([*argv, "--out", str(tmp_path / "x.nc"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and f"'{field}'" in err, err
    assert list(tmp_path.iterdir()) == []


def test_dmft_shares_grokjax_config_error_and_checks_seeds_and_q0():
    assert dmft.ConfigError is gj.ConfigError
    for seed in (-1, 2**32, 1.5, "0", np.array([1, 2])):
        with pytest.raises(gj.ConfigError) as err:
            dmft.SolverConfig(seed=seed)
        assert err.value.field == "seed"
    with pytest.raises(gj.ConfigError) as err:  # Q0 itself not positive definite: Q0 named, not m0
        dmft.ModelConfig(N=2, Q0=((1.0, 2.0), (2.0, 1.0))).validate()
    assert err.value.field == "Q0"
    with pytest.raises(gj.ConfigError) as err:  # Q0 fine, m0 too large for it
        dmft.ModelConfig(N=2, m0=(2.0, 0.0)).validate()
    assert err.value.field == "m0"
    for bad in (("0", "1"), (1.0, False), "x", ((1.0, 0.0), (0.0, math.nan))):
        with pytest.raises(gj.ConfigError) as err:
            dmft.ModelConfig(N=2, Q0=bad)
        assert err.value.field == "Q0"
    assert dmft.ModelConfig(a=math.inf).validate(online=True).a == math.inf
    with pytest.raises(gj.ConfigError, match="'a'"):
        dmft.ModelConfig(a=math.inf).validate()
