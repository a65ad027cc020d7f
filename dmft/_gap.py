"""Leading ``1/a`` train-test gap (spec §6).

``gap(t) = train - test = (2/a) E[Delta^t (alpha/N) phi'(theta^t) . k^t] + O(a^-2)`` with
``k^{t+1} = (I + dt A_t) k^t + dt g^t`` (i.e. ``k^t = dt sum_{s<t} R_w^on[t,s] g^s``), all under the
online Gaussian law ``theta^t = Psi_t zeta0 + b_t h*`` (``Psi_{t+1} = Psi_t + dt (A_t Psi_t + B_t)``,
``b_{t+1} = b_t + dt (A_t b_t + c_t)``).  The expectation is computed exactly by quadrature.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from dmft._config import ModelConfig
from dmft._params import to_params
from dmft._losses import dphi
from dmft._online import online_arrays
from dmft._sampled import _delta


def _gap_terms(zeta0, hstar, xi, weights, A, B, c, p):
    N, dt = p.N, p.dt
    eye = jnp.eye(N, dtype=zeta0.dtype)

    def step(carry, coeffs):
        psi, b, k = carry
        At, Bt, ct = coeffs
        theta = zeta0 @ psi.T + hstar[:, None] * b[None, :]
        d = _delta(theta, zeta0, hstar, xi, p)
        pt = dphi(theta, p.eps)
        term = d * (p.alpha / N) * jnp.sum(pt * k, -1)
        g = -p.kappa * d[:, None] * pt
        k = k + dt * k @ At.T + dt * g
        return (psi + dt * (At @ psi + Bt), b + dt * (At @ b + ct), k), term

    init = (eye, jnp.zeros(N, zeta0.dtype), jnp.zeros_like(zeta0))
    _, terms = jax.lax.scan(step, init, (A, B, c))
    return terms @ weights


_gap_terms_jit = jax.jit(_gap_terms)


def _quadrature(p: ModelConfig, n: int = 4):
    """Tensor Gauss-Hermite grid for ``(zeta0, h*, xi)``: exact for polynomials of degree <= 2n-1 (6 needed)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n)
    weights = weights / weights.sum()
    dims = p.N + 1 + (1 if p.sigma > 0 else 0)
    grid = np.stack(np.meshgrid(*([nodes] * dims), indexing="ij"), -1).reshape(-1, dims)
    wgrid = np.prod(np.stack(np.meshgrid(*([weights] * dims), indexing="ij"), -1).reshape(-1, dims), 1)
    m0 = p.m0_array()
    sigma0 = np.block([[p.Q0_array(), m0[:, None]], [m0[None, :], np.array([[p.rho]])]])
    z = grid[:, :p.N + 1] @ np.linalg.cholesky(sigma0).T
    xi = grid[:, p.N + 1] if p.sigma > 0 else np.zeros(len(grid))
    return z[:, :p.N], z[:, p.N], xi, wgrid


def first_order_gap(p: ModelConfig):
    """``(time, gap)``: the first-order ``1/a`` train-test gap on ``t = step * dt``.

    The Gaussian expectation (a degree-6 polynomial of ``(zeta0, h*, xi)``) is evaluated exactly by tensor
    Gauss-Hermite quadrature with 4 nodes per dimension (``4^(N+1)`` nodes; ``4^(N+2)`` with label noise).
    """
    p.validate()
    on = online_arrays(p)
    zeta0, hstar, xi, w = _quadrature(p)
    with jax.enable_x64(True):
        A, B, c = (jnp.asarray(on[k]) for k in ("A", "B", "c"))
        mean = _gap_terms_jit(jnp.asarray(zeta0), jnp.asarray(hstar), jnp.asarray(xi), jnp.asarray(w),
                              A, B, c, to_params(p))
        gap = 2.0 / p.a * np.asarray(mean)
    return np.arange(p.T + 1) * p.dt, gap
