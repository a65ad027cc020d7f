"""Closed-form Gaussian pieces shared by all solvers (spec §0.2, §4, §5).

``joint_cov`` builds ``Sigma = Cov(theta^t, theta^0, h*)`` from the overlaps; ``closed_form_test_loss`` is the exact
``E (f~ - y)^2`` for a fresh input; ``online_coeffs`` are the Gaussian averages ``A = E dG/dh^t``,
``B = E dG/dh^0``, ``c = E dG/dh*`` of the gradient signal ``G = -kappa Delta phi'(h^t)``; ``ntk_alignment`` is the population CKA of the
current NTK with the target.
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


def ntk_alignment(m, Q, p):
    """Population kernel-target alignment of the *current* NTK, ``sqrt(D) * CKA`` at leading order in 1/D.

    CKA is the paper's ``ybar^T K_c ybar / (||K_c||_F ||ybar||^2)`` on n -> infinity fresh inputs (off-diagonal
    pairs dominate; the one-sided and the Cortes centring agree at this order), against the noise-free target
    ``y - E y`` of ``p`` (``c1``, ``c2``, ``rho``, ``eps`` used).  With ``K(x, x') = (alpha/N)^2 (x.x'/D)
    sum_k phi'(h_k) phi'(h'_k)`` the Gaussian moments give
    ``sqrt(D) CKA = rho mean_k (c1 + 2 c2 eps m_k)^2 / (Var y * sqrt(N^-2 sum_kl (1 + eps^2 Q_kl)^2))`` with
    ``Var y = c1^2 rho + 2 c2^2 rho^2``.  ``m``: ``(..., N)``, ``Q``: ``(..., N, N)``; broadcasts over leading axes.
    Follows the input dtype (float64 needs x64 enabled).  Mismatched shapes raise ``ValueError``.
    """
    N = m.shape[-1]
    if Q.ndim < 2 or Q.shape[-2:] != (N, N):
        raise ValueError(f"ntk_alignment: Q must have shape (..., {N}, {N}) to match m {tuple(m.shape)}, "
                         f"got {tuple(Q.shape)}")
    num = p.rho * jnp.mean((p.c1 + 2.0 * p.c2 * p.eps * m) ** 2, axis=-1)
    var_y = p.c1 ** 2 * p.rho + 2.0 * p.c2 ** 2 * p.rho ** 2
    kernel_norm = jnp.sqrt(jnp.sum((1.0 + p.eps ** 2 * Q) ** 2, axis=(-2, -1))) / N
    return num / (var_y * kernel_norm)
