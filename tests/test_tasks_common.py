"""Shared task helpers: schedule, scan trainer, exact linearisation (value and first order), grokking metrics."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from grokjax.tasks import _common as C


def test_log_schedule_contains_ends_and_is_increasing():
    s = C.log_schedule(1000, 30)
    assert s[0] == 0 and s[-1] == 1000
    assert np.all(np.diff(s) > 0)
    assert len(s) <= 31
    assert list(C.log_schedule(0, 5)) == [0]


def test_train_scan_takes_exactly_the_logged_number_of_steps():
    steps = np.array([0, 1, 5, 17])
    final, logged = C.train_scan(lambda s: s + 1, lambda s: s, jnp.int32(0), steps)
    assert int(final) == 17
    np.testing.assert_array_equal(np.asarray(logged), steps)


def test_train_scan_vmaps_over_a_hyperparameter():
    steps = C.log_schedule(50, 10)

    def one(rate):
        _, m = C.train_scan(lambda x: x * (1 - rate), lambda x: x, jnp.float32(1.0), steps)
        return m

    out = np.asarray(jax.jit(jax.vmap(one))(jnp.array([0.1, 0.2])))
    np.testing.assert_allclose(out[0], 0.9 ** steps, rtol=1e-4)
    np.testing.assert_allclose(out[1], 0.8 ** steps, rtol=1e-4)


def _check_linearisation(fn, params0, x, key):
    """f_lin == f at θ0, and |f(θ0+δv) − f_lin(θ0+δv)| = O(δ²) while the first-order change is O(δ)."""
    f_lin = jax.jit(C.linearize(fn, params0))
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


def test_linearisation_of_transformer_module():
    from grokjax.tasks.transformer import Transformer, apply

    with jax.enable_x64(True):
        model0 = Transformer(jax.random.PRNGKey(0), d_vocab=8, d_model=16, n_heads=4, d_mlp=32)
        tokens = jnp.array([[1, 2, 7], [3, 4, 7], [0, 6, 7]])
        _check_linearisation(apply, model0, tokens, jax.random.PRNGKey(3))


def test_linearisation_is_not_the_network_far_from_init():
    """Guard against a 'linearisation' that just calls the network."""
    from grokjax.tasks.teacher import init_mlp, mlp

    params0 = init_mlp(jax.random.PRNGKey(0), (5, 16, 16, 5), False, "normal", 1.0)
    far = jax.tree_util.tree_map(lambda a: 3.0 * a, params0)
    x = jax.random.normal(jax.random.PRNGKey(1), (4, 5))
    assert float(jnp.max(jnp.abs(C.linearize(mlp, params0)(far, x) - mlp(far, x)))) > 1e-2


def test_first_crossings_and_delay():
    steps = np.array([0, 10, 100, 1000])
    assert C.first_step_above(np.array([0.1, 0.95, 1.0, 1.0]), steps, 0.9) == 10
    assert np.isnan(C.first_step_above(np.array([0.1, 0.2, 0.3, 0.4]), steps, 0.9))
    assert C.first_step_below(np.array([1.0, 0.6, 0.4, 0.1]), steps, 0.5) == 100
    tt, te, d = C.grok_delay(np.array([0, 1, 1, 1.0]), np.array([0, 0, 0.2, 0.95]), steps)
    assert (tt, te, d) == (10, 1000, 990)
