"""Online (a -> inf) DMFT: exact population GD, checked against autodiff of the population loss."""
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmft import ConfigError, ModelConfig, SolverConfig, online_arrays, solve_online, solve_online_ode, closed_form_test_loss
from dmft._params import to_params


def _population_gd(p: ModelConfig, D: int = 40, seed: int = 0):
    """GD on W (N x D) with the population loss L(W) = test(overlaps(W))/2, gradient by autodiff.

    ``W <- W - dt (eta D/alpha^2) grad_W L`` with the exact-overlap initialisation; returns the overlaps.
    """
    from experiments._dmft_sim import _overlap_test_loss, exact_overlap_init

    with jax.enable_x64(True):
        W0, beta = exact_overlap_init(jax.random.PRNGKey(seed), D, p.Q0_array(), p.m0_array(), p.rho, jnp.float64)
        Q0, m0 = jnp.asarray(p.Q0_array()), jnp.asarray(p.m0_array())

        def loss(W):
            return 0.5 * _overlap_test_loss(W @ W.T / D, W @ W0.T / D, Q0, W @ beta / D, m0, p)

        grad = jax.jit(jax.grad(loss))
        W, out = W0, []
        for _ in range(p.T + 1):
            out.append((np.asarray(W @ W.T / D), np.asarray(W @ W0.T / D), np.asarray(W @ beta / D)))
            W = W - p.dt * (p.eta * D / p.alpha ** 2) * grad(W)
    return [np.stack(x) for x in zip(*out)]


@pytest.mark.parametrize("centered", [True, False])
def test_online_recursion_is_population_gd(centered):
    # T = 120 like test_online_set_a_values and test_ode_is_small_dt_limit: one compiled recursion for the file
    # (only N, T and centered are compiled in; a, c1, dt, ... are arguments)
    p = ModelConfig(T=120, a=8.0, c1=0.3, sigma=0.0, centered=centered)
    Q, Qt0, m = _population_gd(p)
    on = online_arrays(p)
    assert np.max(np.abs(on["Q"] - Q)) < 1e-10
    assert np.max(np.abs(on["Qt0"] - Qt0)) < 1e-10
    assert np.max(np.abs(on["m"] - m)) < 1e-10
    assert np.max(np.abs(on["m"][-1] - on["m"][0])) > 0.05  # the dynamics did move


def test_online_set_a_values():
    """Spec §0.3 quotes the online test loss of set A at t = 2.5, 10, 20, 30: .457, .171, .087, .084."""
    r = solve_online(ModelConfig(T=120))
    np.testing.assert_allclose(r.test[[10, 40, 80, 120]], [0.457, 0.171, 0.087, 0.084], atol=1.5e-3)
    assert np.array_equal(r.train, r.test)


def test_ode_is_small_dt_limit():
    """Discrete population GD converges to the gradient-flow ODE with an O(dt) error (max over t <= 5)."""
    errs = []
    for dt in (0.1, 0.05):
        # both solves run T = 120 steps (the compiled recursion of test_online_set_a_values is reused); the error is
        # taken over the common horizon t <= 5, as before (T = 50 and 100 steps)
        p = ModelConfig(T=120, dt=dt)
        ode = solve_online_ode(p, substeps=4)
        keep = int(round(5.0 / dt)) + 1
        errs.append(np.max(np.abs(solve_online(p).test[:keep] - ode.test[:keep])))
    assert errs[1] < 0.6 * errs[0] and errs[1] > 0.35 * errs[0]


def test_test_loss_at_init_is_target_variance():
    p = ModelConfig()
    with jax.enable_x64(True):
        q = to_params(p)
        v = closed_form_test_loss(q.Q0, q.Q0, q.Q0, q.m0, q.m0, q.rho, q)
    assert abs(float(v) - ((p.c0 + p.c2) ** 2 + 2 * p.c2 ** 2 + p.c1 ** 2)) < 1e-12


@pytest.mark.parametrize("field,kwargs", [("a", dict(a=0.0)), ("a", dict(a=-1.0)), ("N", dict(N=0)),
                                          ("dt", dict(dt=0.0)), ("m0", dict(N=2, m0=(2.0, 0.0)))])
def test_model_config_errors(field, kwargs):
    with pytest.raises(ConfigError) as info:
        ModelConfig(**kwargs).validate()
    assert info.value.field == field and field in str(info.value)


def test_solver_config_errors_and_warnings():
    with pytest.raises(ConfigError) as info:
        SolverConfig(S=1).validate()
    assert info.value.field == "S"
    with pytest.warns(UserWarning, match="validated"):
        SolverConfig(S=100).validate()
    with pytest.warns(UserWarning, match="dt\\*eta"):
        ModelConfig(dt=1.0).validate()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ModelConfig().validate()
        SolverConfig().validate()
