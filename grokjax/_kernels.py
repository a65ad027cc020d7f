"""Neural tangent kernels, kernel alignment, spectra and kernel regression.

NTK convention: K(x, x') = sum_theta df(x)/dtheta df(x')/dtheta for the trained parameters, including the
alpha^2/N prefactor. For fixed readouts the closed form is
K(x, x') = (alpha^2/N) (x.x') [1 + eps wbar.(x + x') + eps^2 x^T M x'].
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree


def ntk_closed_form(X1, X2, stats, alpha, eps, N) -> jax.Array:
    """Closed-form NTK of the fixed-readout committee machine from its statistics (wbar, M)."""
    u1 = X1 @ stats.wbar
    u2 = X2 @ stats.wbar
    quad = (X1 @ stats.M) @ X2.T
    return (alpha**2 / N) * (X1 @ X2.T) * (1.0 + eps * (u1[:, None] + u2[None, :]) + eps**2 * quad)


def ntk_features(params, X1, X2, alpha, eps) -> jax.Array:
    """NTK of the committee machine from per-neuron features (fixed or trained readouts), cost O(n^2 N)."""
    W = params["W"]
    N = W.shape[0]
    H1, H2 = X1 @ W.T, X2 @ W.T
    a = params["a"] if "a" in params else jnp.ones((N,), W.dtype)
    F1, F2 = (1.0 + eps * H1) * a, (1.0 + eps * H2) * a
    K = (F1 @ F2.T) * (X1 @ X2.T)
    if "a" in params:
        K = K + (H1 + 0.5 * eps * H1**2) @ (H2 + 0.5 * eps * H2**2).T
    return (alpha / N) ** 2 * K


def empirical_ntk(fn, params, X1, X2) -> jax.Array:
    """NTK by Jacobian contraction: J(X1) J(X2)^T for any ``fn(params, X) -> (n,)``."""
    flat, unravel = ravel_pytree(params)

    def jac(X):
        return jax.jacrev(lambda p: fn(unravel(p), X))(flat)

    return jac(X1) @ jac(X2).T


def ntk_vector_product(fn, params, X, v) -> jax.Array:
    """K(X, X) v = J (J^T v) without forming J (one VJP and one JVP); for large P."""
    out, vjp = jax.vjp(lambda p: fn(p, X), params)
    (cotangent,) = vjp(v.astype(out.dtype))
    return jax.jvp(lambda p: fn(p, X), (params,), (cotangent,))[1]


def centre_kernel(K, variant: str = "paper") -> jax.Array:
    """HK (column means removed, "paper", the authors' code) or HKH (double-centred, "cortes")."""
    Kc = K - jnp.mean(K, axis=0, keepdims=True)
    return Kc if variant == "paper" else Kc - jnp.mean(Kc, axis=1, keepdims=True)


def cka_paper(K, y) -> jax.Array:
    """Alignment as in the authors' code: ybar^T Kc ybar / (||Kc||_F ||ybar||^2), Kc = K - column means."""
    yc = y - jnp.mean(y)
    Kc = centre_kernel(K, "paper")
    return yc @ Kc @ yc / (jnp.linalg.norm(Kc) * jnp.sum(yc**2))


def cka_cortes(K, y) -> jax.Array:
    """Centred kernel alignment (Cortes et al.): ybar^T HKH ybar / (||HKH||_F ||ybar||^2)."""
    yc = y - jnp.mean(y)
    Kc = centre_kernel(K, "cortes")
    return yc @ Kc @ yc / (jnp.linalg.norm(Kc) * jnp.sum(yc**2))


def kernel_kernel_alignment(K, L, variant: str = "paper") -> jax.Array:
    """<Kc, Lc>_F / (||Kc||_F ||Lc||_F) with the centring of :func:`centre_kernel`.

    With L = ybar ybar^T this is :func:`cka_paper` / :func:`cka_cortes` (kernel-target alignment)."""
    Kc, Lc = centre_kernel(K, variant), centre_kernel(L, variant)
    return jnp.sum(Kc * Lc) / (jnp.linalg.norm(Kc) * jnp.linalg.norm(Lc))


#: Kernel-movement metrics of :func:`kernel_movement` (names of the dataset variables).
KERNEL_MOVEMENT = ("kernel_movement", "kernel_alignment_init_paper", "kernel_alignment_init_cortes")


def kernel_movement(K, K0) -> dict[str, jax.Array]:
    """How far the NTK Gram K = K_t has moved from K0: ||K - K0||_F / ||K0||_F and its alignment with K0
    (both centrings; 1 at initialisation)."""
    return {"kernel_movement": jnp.linalg.norm(K - K0) / jnp.linalg.norm(K0),
            "kernel_alignment_init_paper": kernel_kernel_alignment(K, K0, "paper"),
            "kernel_alignment_init_cortes": kernel_kernel_alignment(K, K0, "cortes")}


def kernel_alignment(K, y, variant: str = "paper") -> jax.Array:
    """``variant`` "paper" (one-sided centring, the default) or "cortes" (double-centred)."""
    return cka_paper(K, y) if variant == "paper" else cka_cortes(K, y)


def ntk_spectrum(K) -> jax.Array:
    """Eigenvalues of K / n in descending order (the Gram estimate of the Mercer spectrum)."""
    return jnp.linalg.eigvalsh(K / K.shape[0])[::-1]


def kernel_regression(K_train, K_test_train, y, ridge=0.0) -> jax.Array:
    """Predictions K(X_t, X) (K(X, X) + ridge I)^{-1} y (ridgeless when ``ridge`` is 0)."""
    P = K_train.shape[0]
    coef = jnp.linalg.solve(K_train + ridge * jnp.eye(P, dtype=K_train.dtype), y)
    return K_test_train @ coef


def kernel_regression_test_loss(kernel, X, y, X_test, y_test, ridge=0.0, offset=0.0, test_offset=0.0):
    """Test MSE of kernel regression with ``kernel(X1, X2)`` (any NTK: initial, current "after kernel", ...).

    Predictor test_offset + K(X_t, X)(K(X, X) + ridge tr K/P I)^{-1}(y - offset): offsets 0 for the centred
    predictor f - f0, f0 on the train / test points for the plain network. ``ridge`` is relative to tr K / P.
    """
    K = kernel(X, X)
    scale = jnp.trace(K) / K.shape[0]
    pred = kernel_regression(K, kernel(X_test, X), y - offset, ridge * scale) + test_offset
    return jnp.mean((pred - y_test) ** 2)


def empirical_kernel_movement(fn, params, params0, X) -> dict[str, jax.Array]:
    """:func:`kernel_movement` of the empirical NTK of any ``fn(params, X) -> (n,)`` (Jacobian route, tasks)."""
    return kernel_movement(empirical_ntk(fn, params, X, X), empirical_ntk(fn, params0, X, X))
