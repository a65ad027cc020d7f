"""Online limit ``a = P/D -> inf``: exact population GD (discrete) and its gradient-flow ODE (spec §0.2, §5).

State ``(Q, Qt0, m)`` = ``(C_w[t,t], C_w[t,0], m[t])``.  One GD step is ``w <- w + dt F z`` with
``z = (w^t, w^0, beta)``, ``F = [A, B, c]`` (Stein's lemma makes this exact for the population loss), so
``Q <- Q + dt (F S_{:,w} + transpose) + dt^2 F S F^T``, ``Qt0 <- Qt0 + dt F S_{:,w0}``,
``m <- m + dt F S_{:,beta}`` with ``S = Cov(z)``.  Un-centred (``centered=False``): ``B = 0`` and the
predictor is ``f(W_t)``.  Train loss = test loss in this limit.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from dmft._config import ModelConfig
from dmft._losses import joint_cov, online_coeffs, closed_form_test_loss
from dmft._params import to_params
from dmft._result import DMFTResult


def _drift(Q, Qt0, m, Q0, m0, p):
    """``F = [A, B, c]`` and the three blocks ``F S`` needed by the updates."""
    N = Q.shape[0]
    A, B, c = online_coeffs(Q, Qt0, Q0, m, p)
    F = jnp.concatenate([A, B, c[:, None]], axis=1)
    S = joint_cov(Q, Qt0, Q0, m, m0, p.rho)
    FS = F @ S
    return F, S, FS[:, :N], FS[:, N:2 * N], FS[:, 2 * N], (A, B, c)


@jax.jit
def _online_arrays(p):
    Q0 = p.Q0
    m0 = p.m0

    def step(carry, _):
        Q, Qt0, m = carry
        F, S, FSw, FS0, FSb, coeffs = _drift(Q, Qt0, m, Q0, m0, p)
        loss = closed_form_test_loss(Q, Qt0, Q0, m, m0, p.rho, p)
        Qn = Q + p.dt * (FSw + FSw.T) + p.dt ** 2 * F @ S @ F.T
        new = (Qn, Qt0 + p.dt * FS0, m + p.dt * FSb)
        return new, (Q, Qt0, m, loss) + coeffs

    _, out = jax.lax.scan(step, (Q0, Q0, m0), None, length=p.T + 1)
    return out


def online_arrays(p: ModelConfig) -> dict:
    """Float64 arrays of the discrete online recursion: ``Q, Qt0, m, loss`` (T+1 entries) and the
    Gaussian coefficients ``A, B, c`` at each time (entry ``t`` uses the state at step ``t``)."""
    p.validate(online=True)
    with jax.enable_x64(True):
        Q, Qt0, m, loss, A, B, c = _online_arrays(to_params(p))
        return {k: np.asarray(v) for k, v in
                dict(Q=Q, Qt0=Qt0, m=m, loss=loss, A=A, B=B, c=c).items()}


def solve_online(p: ModelConfig) -> DMFTResult:
    """Exact population GD with step ``p.dt`` for ``p.T`` steps (the ``a -> inf`` DMFT)."""
    arr = online_arrays(p)
    steps = np.arange(p.T + 1)
    return DMFTResult(time=steps * p.dt, step=steps, train=arr["loss"], test=arr["loss"].copy(),
                      m=arr["m"], Q=arr["Q"], Qt0=arr["Qt0"], config=p)


def solve_online_ode(p: ModelConfig, substeps: int = 8) -> DMFTResult:
    """Gradient flow (``dt -> 0``) of the online equations, RK4 with ``substeps`` per output interval ``p.dt``.

    ``dm/dt = A m + B m0 + rho c``, ``dQt0/dt = A Qt0 + B Q0 + c m0^T``,
    ``dQ/dt = (A Q + B Qt0^T + c m^T) + transpose``.
    """
    p.validate(online=True)
    with jax.enable_x64(True):
        Q0 = jnp.asarray(p.Q0_array())
        m0 = jnp.asarray(p.m0_array())
        h = p.dt / substeps

        def rhs(state):
            Q, Qt0, m = state
            _, _, FSw, FS0, FSb, _ = _drift(Q, Qt0, m, Q0, m0, p)
            return (FSw + FSw.T, FS0, FSb)

        def rk4(state, _):
            add = lambda s, k, f: tuple(a + f * b for a, b in zip(s, k))
            k1 = rhs(state)
            k2 = rhs(add(state, k1, h / 2))
            k3 = rhs(add(state, k2, h / 2))
            k4 = rhs(add(state, k3, h))
            new = tuple(s + h / 6 * (a + 2 * b + 2 * c + d) for s, a, b, c, d in zip(state, k1, k2, k3, k4))
            return new, None

        def interval(state, _):
            Q, Qt0, m = state
            loss = closed_form_test_loss(Q, Qt0, Q0, m, m0, p.rho, p)
            new, _ = jax.lax.scan(rk4, state, None, length=substeps)
            return new, (Q, Qt0, m, loss)

        run = jax.jit(lambda: jax.lax.scan(interval, (Q0, Q0, m0), None, length=p.T + 1)[1])
        Q, Qt0, m, loss = (np.asarray(x) for x in run())
    steps = np.arange(p.T + 1)
    return DMFTResult(time=steps * p.dt, step=steps, train=loss, test=loss.copy(), m=m, Q=Q, Qt0=Qt0,
                      config=p)
