"""Shared task helpers: the core schedule and loop (divergence guard), the grid runner, exact linearisation
(value and first order), grokking metrics."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from grokjax._lazy_rich import linearize
from grokjax._loop import run_logged
from grokjax._schedule import log_steps
from grokjax.tasks import _common as C


def test_task_schedule_contains_ends_and_is_increasing():
    s = log_steps(1000, 30)
    assert s[0] == 0 and s[-1] == 1000
    assert np.all(np.diff(s) > 0)
    assert len(s) <= 30
    assert list(log_steps(1, 2)) == [0, 1]


def test_train_takes_exactly_the_logged_number_of_steps():
    steps = np.array([0, 1, 5, 17])
    final, logged, div = run_logged(lambda s: (jnp.float32(0), s + 1), lambda s: s, jnp.int32(0), steps)
    assert int(final) == 17 and div is None
    np.testing.assert_array_equal(np.asarray(logged), steps)


def test_divergence_guard_freezes_each_part_at_its_first_bad_step():
    steps = np.array([0, 2, 10, 30])

    def step(s):  # "a" grows by 1e10 a step and passes the bound at step 3; "b" has a NaN loss from step 7
        loss = {"a": s["a"], "b": jnp.where(s["i"] >= 7, jnp.nan, 0.0)}
        return loss, {"a": s["a"] * 1e10, "b": s["b"] + 1, "i": s["i"] + 1}

    state = {"a": jnp.float32(1.0), "b": jnp.int32(0), "i": jnp.int32(0)}
    _, logged, div = run_logged(step, lambda s: s, state, steps, bound=1e25, parts=("a", "b"))
    assert int(div["a"]) == 3 and int(div["b"]) == 7         # the first step whose loss is bad
    np.testing.assert_allclose(np.asarray(logged["a"]), [1.0, 1e20, 1e30, 1e30], rtol=1e-6)  # frozen there
    np.testing.assert_array_equal(np.asarray(logged["b"]), [0, 2, 7, 7])
    np.testing.assert_array_equal(np.asarray(logged["i"]), [0, 2, 10, 30])  # an unguarded part keeps going
    _, logged, div = run_logged(lambda x: (jnp.log(4.0 - x), x + 1), lambda x: x, jnp.float32(0.0), steps,
                                bound=jnp.inf)
    assert int(div) == 4 and float(logged[-1]) == 4.0  # log(0) = -inf: frozen at x = 4


def _check_linearisation(fn, params0, x, key):
    """f_lin == f at θ0, and |f(θ0+δv) − f_lin(θ0+δv)| = O(δ²) while the first-order change is O(δ)."""
    f_lin = jax.jit(linearize(fn, params0))
    fn = jax.jit(fn)
    np.testing.assert_allclose(np.asarray(f_lin(params0, x)), np.asarray(fn(params0, x)), rtol=0, atol=1e-12)
    leaves, tree = jax.tree_util.tree_flatten(params0)
    keys = jax.random.split(key, len(leaves))
    direction = jax.tree_util.tree_unflatten(tree, [jax.random.normal(k, l.shape, l.dtype) for k, l in zip(keys, leaves)])
    errs, moves = [], []
    for delta in (1e-2, 1e-3):
        p = jax.tree_util.tree_map(lambda a, v: a + delta * v, params0, direction)
        errs.append(float(jnp.max(jnp.abs(fn(p, x) - f_lin(p, x)))))
        moves.append(float(jnp.max(jnp.abs(fn(p, x) - fn(params0, x)))))
    assert moves[0] / moves[1] == pytest.approx(10.0, rel=0.05)        # first-order change scales like δ
    assert 50.0 < errs[0] / errs[1] < 200.0                              # remainder scales like δ²
    assert errs[0] < 0.05 * moves[0]


def test_linearisation_of_student_mlp():
    from grokjax.tasks.teacher import init_mlp, mlp

    with jax.enable_x64(True):
        params0 = init_mlp(jax.random.PRNGKey(0), (5, 16, 16, 5), True, "torch", 2.0)
        x = jax.random.normal(jax.random.PRNGKey(1), (7, 5))
        _check_linearisation(mlp, params0, x, jax.random.PRNGKey(2))


@pytest.mark.slow  # the same check on another architecture: the student MLP above covers the route by default
def test_linearisation_of_transformer_module():
    from grokjax.tasks.transformer import Transformer, apply

    with jax.enable_x64(True):
        model0 = Transformer(jax.random.PRNGKey(0), d_vocab=8, d_model=16, n_heads=4, d_mlp=32)
        tokens = jnp.array([[1, 2, 7], [3, 4, 7], [0, 6, 7]])
        _check_linearisation(apply, model0, tokens, jax.random.PRNGKey(3))


def test_linearisation_is_not_the_network_far_from_init():
    """Guard against a 'linearisation' that just calls the network."""
    from grokjax.tasks.teacher import init_mlp, mlp

    @jax.jit  # one program (op by op: one compilation per layer shape and operation)
    def gap():
        params0 = init_mlp(jax.random.PRNGKey(0), (5, 16, 16, 5), False, "normal", 1.0)
        far = jax.tree_util.tree_map(lambda a: 3.0 * a, params0)
        x = jax.random.normal(jax.random.PRNGKey(1), (4, 5))
        return jnp.max(jnp.abs(linearize(mlp, params0)(far, x) - mlp(far, x)))

    assert float(gap()) > 1e-2


def test_first_crossings_and_delay():
    steps = np.array([0, 10, 100, 1000])
    assert C.first_step_above(np.array([0.1, 0.95, 1.0, 1.0]), steps, 0.9) == 10
    assert np.isnan(C.first_step_above(np.array([0.1, 0.2, 0.3, 0.4]), steps, 0.9))
    assert C.first_step_below(np.array([1.0, 0.6, 0.4, 0.1]), steps, 0.5) == 100
    tt, te, d = C.grok_delay(np.array([0, 1, 1, 1.0]), np.array([0, 0, 0.2, 0.95]), steps)
    assert (tt, te, d) == (10, 1000, 990)
