"""Kernel movement inside the compiled task runs (``kernel_points``): the tracker equals the explicit Jacobian
Gram (float64), starts at zero movement / unit alignment, and a lazier network (larger alpha) moves its kernel less."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from grokjax._errors import ConfigError


def _explicit_movement(fn, params, params0, X):
    """Independent route: the full Jacobian (points x outputs x parameters), output-traced Gram, numpy."""
    def gram(p):
        flat, unravel = ravel_pytree(p)
        # one compiled Jacobian (op-by-op jacfwd compiled ~80 tiny programs); the contraction stays in numpy
        J = np.asarray(jax.jit(jax.jacfwd(lambda v: fn(unravel(v), X)))(flat))
        J = J.reshape(X.shape[0], -1, flat.size)
        return np.einsum("icp,jcp->ij", J, J)

    K, K0 = gram(params), gram(params0)
    return np.linalg.norm(K - K0) / np.linalg.norm(K0)


def _tracker(fn, params0, X, points):
    """The layer's kernel movement (grokjax.run_model): NTK-vector-product Grams, in column batches of 256 above
    256 (point, output) columns."""
    from grokjax._kernels import kernel_movement, ntk_gram

    if points == 0:
        return lambda params: {}
    Xk = X[:points]
    batch = None if points * int(np.prod(fn(params0, Xk).shape[1:])) <= 256 else 256
    K0 = ntk_gram(fn, params0, Xk, batch_size=batch)
    return lambda params: kernel_movement(ntk_gram(fn, params, Xk, batch_size=batch), K0)


# (5, 60): 300 columns > 256, the batched route, -m slow (~20 s); ntk_gram's batched route (lax.map over column
# batches, with a remainder, vector outputs) against the Jacobian contraction is in tests/test_ntk_gram.py by default
@pytest.mark.parametrize("d_out, points", [(1, 9), pytest.param(5, 60, marks=pytest.mark.slow)])
def test_tracker_equals_the_jacobian_gram(d_out, points):
    from grokjax.tasks import teacher

    with jax.enable_x64(True):
        sizes = (3, 7, 7, d_out)

        @jax.jit  # the inputs built in one program (op by op: one tiny compilation per layer shape and operation)
        def inputs():
            params0 = teacher.init_mlp(jax.random.PRNGKey(0), sizes, True, "normal", 1.0)
            params = jax.tree.map(lambda w: w + 0.3 * jnp.sin(3.0 * w + 1.0), params0)
            return params0, params, jax.random.normal(jax.random.PRNGKey(1), (points + 3, 3), jnp.float64)

        params0, params, X = inputs()
        fn = lambda p, x: 1.7 * teacher.mlp(p, x)
        # the tracker as run_model runs it: inside one compiled program (op by op it compiled ~80 tiny programs)
        got, at_init = jax.jit(lambda p, p0: (_tracker(fn, p0, X, points)(p), _tracker(fn, p0, X, points)(p0)))(
            params, params0)
        want = _explicit_movement(fn, params, params0, X[:points])
        np.testing.assert_allclose(float(got["kernel_movement"]), want, rtol=1e-10)
        assert float(at_init["kernel_movement"]) == 0.0
        np.testing.assert_allclose(float(at_init["kernel_alignment_init_paper"]), 1.0, rtol=1e-12)
    assert _tracker(fn, params0, X, 0)(params) == {}


def test_modular_run_tracks_kernel_movement_and_laziness_slows_it():
    from grokjax.tasks import modular

    # the layout of tests/test_tasks_runs.py's tiny modular runs (MODULAR there), so the compiled program is reused
    ds = modular.run(modular.Config(p=11, hidden=50, alpha=(0.5, 3.0), alpha_power=1, steps=400, log_points=10,
                                    seed=(0, 1), kernel_points=12))
    move = ds["kernel_movement"]
    assert move.dims == ("alpha", "seed", "step")
    np.testing.assert_allclose(move.isel(step=0).values, 0.0, atol=1e-6)
    np.testing.assert_allclose(ds["kernel_alignment_init_cortes"].isel(step=0).values, 1.0, atol=1e-5)
    final = move.isel(step=-1).mean("seed").values
    assert final[0] > 0.01 and final[1] < 0.5 * final[0]       # the lazier network's kernel moves less


@pytest.mark.slow
def test_transformer_run_tracks_kernel_movement():
    from grokjax.tasks import transformer

    ds = transformer.run(transformer.Config(p=7, d_model=8, n_heads=2, d_mlp=16, train_frac=0.5, steps=20,
                                            alpha=(1.0,), log_points=3, kernel_points=4))
    m = ds["kernel_movement"].values
    assert np.all(np.isfinite(m)) and m[..., 0].max() < 1e-6 and m[..., -1].min() > 0


@pytest.mark.parametrize("task, bad", [("modular", dict(p=7, kernel_points=-1)), ("modular", dict(p=7, kernel_points=10)),
                                       ("teacher", dict(n_test=5, kernel_points=6))])
def test_kernel_points_out_of_range_is_refused(task, bad):
    from grokjax.tasks import load_task

    with pytest.raises(ConfigError, match="kernel_points"):  # at construction (range) or validate() (combination)
        load_task(task).Config(**bad).validate()
