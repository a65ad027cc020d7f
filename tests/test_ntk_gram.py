"""Empirical NTK Gram by NTK-vector products (grokjax._kernels.ntk_gram) against the explicit Jacobian
contraction, float64, for pytree models with scalar and vector outputs (the route for the task networks)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import grokjax as gj
from grokjax._kernels import empirical_kernel_movement, ntk_features, ntk_gram

TOL = dict(rtol=1e-10, atol=1e-12)


def _committee(alpha=1.5, eps=0.3):
    def f(params, X):
        H = X @ params["W"].T
        return (alpha / params["W"].shape[0]) * (H + 0.5 * eps * H**2) @ params["a"]
    return f


def _mlp(params, X):
    """Two-layer tanh MLP with a nested pytree of parameters and 3 outputs per point."""
    (W1, b1), head = params
    hidden = jnp.tanh(X @ W1 + b1)
    return 0.7 * (hidden @ head["W"] + head["b"])


def _jacobian(fn, params, X):
    """Explicit Jacobian (n, m, n_params) of the flattened outputs."""
    flat, unravel = ravel_pytree(params)
    J = jax.jacrev(lambda p: fn(unravel(p), X))(flat)
    return J.reshape(X.shape[0], -1, flat.size)


@pytest.fixture(scope="module")
def data():
    """Float64 parameters and points, drawn in one compiled program (op-by-op dispatch compiles every op)."""
    @jax.jit
    def draw(key):
        keys = jax.random.split(key, 8)
        D, N = 5, 7
        committee = {"W": jax.random.normal(keys[0], (N, D)), "a": jax.random.normal(keys[1], (N,))}
        mlp = ((jax.random.normal(keys[2], (D, 6)), jax.random.normal(keys[3], (6,))),
               {"W": jax.random.normal(keys[4], (6, 3)), "b": jax.random.normal(keys[5], (3,))})
        X1 = jax.random.normal(keys[6], (9, D)) / np.sqrt(D)
        X2 = jax.random.normal(keys[7], (4, D)) / np.sqrt(D)
        return committee, mlp, X1, X2

    with jax.enable_x64(True):
        return draw(jax.random.PRNGKey(3))


# Each test runs its routes inside one jax.jit (one compiled program instead of one per operation: op-by-op dispatch
# compiled every operation, and that was most of this file's time).
# None (one vmapped batch) and 3 (batched lax.map, with a remainder over X2's 4 points) are the routes; 1 -m slow
@pytest.mark.parametrize("batch_size", [None, pytest.param(1, marks=pytest.mark.slow), 3])
def test_scalar_output_equals_jacobian_contraction(x64, data, batch_size):
    committee, _, X1, X2 = data
    f = _committee()

    @jax.jit
    def routes(committee, X1, X2):
        return (ntk_gram(f, committee, X1, X2, batch_size=batch_size), gj.empirical_ntk(f, committee, X1, X2),
                ntk_gram(f, committee, X1, batch_size=batch_size), ntk_features(committee, X1, X1, 1.5, 0.3))

    K, K_jac, K11, K11_closed = routes(committee, X1, X2)
    assert K.dtype == jnp.float64 and K.shape == (9, 4)
    np.testing.assert_allclose(K, K_jac, **TOL)
    np.testing.assert_allclose(K11, K11_closed, **TOL)  # closed form, trained readouts


@pytest.mark.parametrize("outputs", ["trace", "full"])
def test_vector_output_pytree_equals_jacobian_contraction(x64, data, outputs):
    _, mlp, X1, X2 = data

    @jax.jit
    def routes(mlp, X1, X2):
        J1, J2 = _jacobian(_mlp, mlp, X1), _jacobian(_mlp, mlp, X2)
        if outputs == "trace":
            expected = jnp.einsum("icp,jcp->ij", J1, J2)
        else:
            expected = J1.reshape(-1, J1.shape[-1]) @ J2.reshape(-1, J2.shape[-1]).T
        return ntk_gram(_mlp, mlp, X1, X2, outputs=outputs, batch_size=2), expected

    K, expected = routes(mlp, X1, X2)
    assert K.shape == expected.shape
    np.testing.assert_allclose(K, expected, **TOL)


def test_jittable_and_kernel_movement_routes_agree(x64, data):
    committee, mlp, X1, _ = data
    f = _committee()
    K, K_jac = jax.jit(lambda p: (ntk_gram(f, p, X1), gj.empirical_ntk(f, p, X1, X1)))(committee)
    np.testing.assert_allclose(K, K_jac, **TOL)

    @jax.jit
    def routes(committee, mlp):
        moved = jax.tree_util.tree_map(lambda x: x + 0.2 * jnp.sin(3.0 * x), committee)
        nvp = empirical_kernel_movement(f, moved, committee, X1, route="nvp", batch_size=4)
        jac = empirical_kernel_movement(f, moved, committee, X1)
        return nvp, jac, empirical_kernel_movement(_mlp, mlp, mlp, X1, route="nvp")

    nvp, jac, same = routes(committee, mlp)
    for name in jac:
        np.testing.assert_allclose(nvp[name], jac[name], **TOL)
    assert float(nvp["kernel_movement"]) > 1e-3
    assert float(same["kernel_movement"]) == 0.0
    np.testing.assert_allclose(same["kernel_alignment_init_cortes"], 1.0, **TOL)


def test_bad_arguments_are_refused(data):
    committee, _, X1, _ = data
    with pytest.raises(ValueError, match="outputs"):
        ntk_gram(_committee(), committee, X1, outputs="diag")
    with pytest.raises(ValueError, match="route"):
        empirical_kernel_movement(_committee(), committee, committee, X1, route="fd")
