"""Kernel functions refuse bad input clearly (grokjax._kernel_checks at their entry): bad shapes, empty inputs, a
negative ridge, a constant target — a ConfigError naming the argument instead of a deep JAX TypeError,
ZeroDivisionError or nan. Inside jit the shape checks still run; value checks skip traced values."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import grokjax as gj

K3 = jnp.eye(3) + 0.1


def _fn(p, x):
    return jnp.tanh(x @ p)


@pytest.mark.parametrize("call, field", [
    (lambda: gj.kernel_regression(K3, jnp.ones((2, 3)), jnp.ones(3), -1.0), "ridge"),
    (lambda: gj.kernel_regression(K3, jnp.ones((2, 3)), jnp.ones(3), np.nan), "ridge"),
    (lambda: gj.kernel_regression(K3, jnp.ones((2, 4)), jnp.ones(3)), "K_test_train"),
    (lambda: gj.kernel_regression(jnp.ones((3, 2)), jnp.ones((2, 2)), jnp.ones(3)), "K_train"),
    (lambda: gj.kernel_regression(jnp.ones((0, 0)), jnp.ones((2, 0)), jnp.ones(0)), "K_train"),
    (lambda: gj.kernel_regression(K3, jnp.ones((2, 3)), jnp.ones(4)), "y"),
    (lambda: gj.kernel_regression(K3, jnp.ones((2, 3)), jnp.ones(3), jnp.array([0.1, 0.2])), "ridge"),
    (lambda: gj.cka_paper(K3, jnp.ones(3)), "y"),
    (lambda: gj.cka_cortes(K3, jnp.full((3, 2), 2.0)), "y"),
    (lambda: gj.cka_paper(K3, jnp.arange(4.0)), "y"),
    (lambda: gj.cka_paper(jnp.ones((3, 2)), jnp.arange(3.0)), "K"),
    (lambda: gj.cka_paper(jnp.ones((1, 1)), jnp.arange(1.0)), "K"),
    (lambda: gj.empirical_ntk(_fn, jnp.ones(2), jnp.ones((0, 2))), "X1"),
    (lambda: gj.empirical_ntk(_fn, jnp.ones(2), jnp.ones((3, 2)), jnp.ones((3, 5))), "X2"),
    (lambda: gj.ntk_gram(_fn, jnp.ones(2), jnp.ones((0, 2))), "X1"),
    (lambda: gj.ntk_gram(_fn, jnp.ones(2), jnp.ones((3, 2)), jnp.ones((0, 2))), "X2"),
])
def test_bad_kernel_input_is_refused_naming_the_argument(call, field):
    with pytest.raises(gj.ConfigError) as err:
        call()
    assert err.value.field == field


def test_good_input_and_traced_values_still_work():
    assert np.isfinite(float(gj.cka_paper(K3, jnp.arange(3.0))))
    pred = gj.kernel_regression(K3, K3, jnp.arange(3.0), 0.1)
    assert pred.shape == (3,) and np.all(np.isfinite(pred))
    traced = jax.jit(lambda r: gj.kernel_regression(K3, K3, jnp.arange(3.0), r))(0.1)  # ridge traced: no value check
    np.testing.assert_allclose(traced, pred, rtol=1e-5)
    with pytest.raises(gj.ConfigError):  # shapes are static: checked inside jit too
        jax.jit(lambda y: gj.cka_paper(K3, y))(jnp.arange(4.0))
    assert gj.ntk_gram(_fn, jnp.ones(2), jnp.ones((3, 2))).shape == (3, 3)
