"""Closed-form Gaussian pieces shared by all solvers (spec §0.2, §4, §5).

``joint_cov`` builds ``Sigma = Cov(theta^t, theta^0, h*)`` from the overlaps; ``closed_form_test_loss`` is the exact
``E (f~ - y)^2`` for a fresh input; ``online_coeffs`` are the Gaussian averages ``A = E dG/dh^t``,
``B = E dG/dh^0``, ``c = E dG/dh*`` of the gradient signal ``G = -kappa Delta phi'(h^t)``.
All functions are pure ``jax.numpy`` and follow the dtype of their inputs.
"""
from __future__ import annotations

import jax.numpy as jnp


def joint_cov(Q, Qt0, Q0, m, m0, rho):
    """``(2N+1) x (2N+1)`` covariance of ``(theta^t, theta^0, h*)``."""
    top = jnp.concatenate([Q, Qt0, m[:, None]], axis=1)
    mid = jnp.concatenate([Qt0.T, Q0, m0[:, None]], axis=1)
    bot = jnp.concatenate([m, m0, jnp.full((1,), rho, m.dtype)])[None, :]
    return jnp.concatenate([top, mid, bot], axis=0)


def closed_form_test_loss(Q, Qt0, Q0, m, m0, rho, p):
    """Exact test MSE ``(c + tr A S)^2 + b^T S b + 2 tr(A S A S)`` (spec §4); ``p`` is a ModelConfig."""
    N = Q.shape[0]
    dtype = Q.dtype
    sign0 = -1.0 if p.centered else 0.0
    ones = jnp.ones(N, dtype)
    b = jnp.concatenate([p.alpha / N * ones, sign0 * p.alpha / N * ones, jnp.full((1,), -p.c1, dtype)])
    diag = jnp.concatenate([p.alpha * p.eps / (2 * N) * ones, sign0 * p.alpha * p.eps / (2 * N) * ones,
                            jnp.full((1,), -p.c2, dtype)])
    S = joint_cov(Q, Qt0, Q0, m, m0, rho)
    AS = diag[:, None] * S
    mean = -p.c0 + jnp.trace(AS)
    return mean ** 2 + b @ S @ b + 2.0 * jnp.sum(AS * AS.T)


def mean_delta(Q, Q0, p):
    """``E Delta`` of the clean residual under the Gaussian law."""
    N = Q.shape[0]
    shift = jnp.trace(Q0) if p.centered else 0.0
    return p.alpha * p.eps / (2 * N) * (jnp.trace(Q) - shift) - (p.c0 + p.c2 * p.rho)


def online_coeffs(Q, Qt0, Q0, m, p):
    """Gaussian averages ``A, B, c`` of ``dG/dh^t, dG/dh^0, dG/dh*`` (spec §0.2, online limit)."""
    N = Q.shape[0]
    k = p.kappa
    one = jnp.ones((N, N), Q.dtype)
    A = -k * (p.alpha / N * (one + p.eps ** 2 * Q) + p.eps * mean_delta(Q, Q0, p) * jnp.eye(N, dtype=Q.dtype))
    B = k * p.alpha / N * (one + p.eps ** 2 * Qt0)
    if not p.centered:
        B = jnp.zeros_like(B)
    c = k * (p.c1 + 2.0 * p.c2 * p.eps * m)
    return A, B, c


def phi(h, eps):
    return h + 0.5 * eps * h * h


def dphi(h, eps):
    return 1.0 + eps * h


def target(hstar, p):
    return p.c0 + p.c1 * hstar + p.c2 * hstar * hstar


def dtarget(hstar, p):
    return p.c1 + 2.0 * p.c2 * hstar
