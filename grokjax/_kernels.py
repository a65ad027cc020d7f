"""Neural tangent kernels, kernel alignment, spectra and kernel regression.

NTK convention: K(x, x') = sum_theta df(x)/dtheta df(x')/dtheta for the trained parameters, including the
alpha^2/N prefactor. For fixed readouts the closed form is
K(x, x') = (alpha^2/N) (x.x') [1 + eps wbar.(x + x') + eps^2 x^T M x'].
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from grokjax import _kernel_checks as _checks
from grokjax import _precision  # noqa: F401  (float32 matmuls at 'highest' precision on every backend)


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


def array_part(params):
    """``(arrays, rebuild)``: the trainable (floating-point array) leaves of any pytree and the function that puts
    them back. Equinox modules keep non-array leaves (activation functions, integer buffers) in ``rebuild``
    (``eqx.partition`` / ``eqx.combine``), so ``fn(rebuild(arrays), x)`` is differentiable in ``arrays``.
    Plain pytrees of arrays come back unchanged."""
    import equinox as eqx

    arrays, static = eqx.partition(params, eqx.is_inexact_array)
    return arrays, (lambda p: eqx.combine(p, static))


def _on_arrays(fn, params):
    """``(fn_on_arrays, arrays)`` with ``fn_on_arrays(arrays, X) = fn(params with these arrays, X)``."""
    arrays, rebuild = array_part(params)
    return (lambda p, X: fn(rebuild(p), X)), arrays


def empirical_ntk(fn, params, X1, X2=None, *, outputs: str = "trace", point_batch: int | None = None) -> jax.Array:
    """Empirical NTK by Jacobian contraction, ``J(X1) J(X2)^T``, of any ``fn(params, X) -> (n, *out)``.

    ``params``: any pytree (equinox modules with non-array leaves included: only floating-point arrays are
    differentiated). ``outputs``: ``"trace"`` (default) sums over the output entries (neural-tangents'
    ``trace_axes``), an ``(n1, n2)`` Gram; ``"full"`` keeps them, an ``(n1 m, n2 m)`` Gram with rows and columns
    in (point, output) row-major order (``m = prod(out)``). ``point_batch``: Jacobians are formed for this many
    points at a time (memory ~ point_batch x m x parameters per block; None = all at once). For large problems
    prefer :func:`ntk_gram` (NTK-vector products, no Jacobian).
    """
    if outputs not in ("trace", "full"):
        raise ValueError(f"outputs must be 'trace' or 'full', got {outputs!r}")
    _checks.points(X1, X2)  # clear errors for empty / mismatched inputs (grokjax._kernel_checks)
    X2 = X1 if X2 is None else X2
    f, arrays = _on_arrays(fn, params)
    flat, unravel = ravel_pytree(arrays)

    def jac(X):  # (n, m, P)
        J = jax.jacrev(lambda p: f(unravel(p), X))(flat)
        return J.reshape(X.shape[0], -1, flat.size)

    def blocks(X):
        if point_batch is None or X.shape[0] <= point_batch:
            return [X]
        return [X[i:i + point_batch] for i in range(0, X.shape[0], point_batch)]

    J2s = [jac(b) for b in blocks(X2)]
    rows = []
    for b1 in blocks(X1):
        J1 = jac(b1)
        if outputs == "trace":
            rows.append(jnp.concatenate([jnp.einsum("icp,jcp->ij", J1, J2) for J2 in J2s], axis=1))
        else:
            rows.append(jnp.concatenate([jnp.einsum("icp,jdp->icjd", J1, J2).reshape(
                J1.shape[0] * J1.shape[1], J2.shape[0] * J2.shape[1]) for J2 in J2s], axis=1))
    return jnp.concatenate(rows, axis=0)


def eigenvector_labels(X_all, params0, alpha, eps, ks):
    """Labels = k-th eigenvector (1-based, eigenvalues descending) of the centred initial NTK Gram over the rows
    of ``X_all`` (K0 minus its scalar mean, the authors' ``K -= mean(K)``; fixed readouts).

    Returns (labels (len(ks), n), eigenvalues (n,) descending, the centred Gram (n, n)). Each label vector has
    unit norm over all n points.
    """
    K = ntk_features(params0, X_all, X_all, alpha, eps)
    K = K - jnp.mean(K)
    lam, V = jnp.linalg.eigh(K)
    lam, V = lam[::-1], V[:, ::-1]
    return V[:, jnp.asarray([k - 1 for k in ks])].T, lam, K


def ntk_vector_product(fn, params, X, v) -> jax.Array:
    """K(X, X) v = J (J^T v) without forming J (one VJP and one JVP); for large P. ``v`` has the shape of
    ``fn(params, X)`` (any output shape); ``params`` any pytree (equinox modules included)."""
    fn, params = _on_arrays(fn, params)
    out, vjp = jax.vjp(lambda p: fn(p, X), params)
    (cotangent,) = vjp(v.astype(out.dtype))
    return jax.jvp(lambda p: fn(p, X), (params,), (cotangent,))[1]


def ntk_gram(fn, params, X1, X2=None, *, outputs: str = "trace", batch_size: int | None = None,
             memory_limit: int | None = None) -> jax.Array:
    """Empirical NTK Gram J(X1) J(X2)^T of any ``fn(params, X) -> (n, *out)``, ``params`` any pytree, by
    NTK-vector products: one VJP of ``fn(., X2)`` and one JVP of ``fn(., X1)`` (linearised once) per product,
    so the Jacobian (outputs x parameters) is never formed; jittable, usable inside a compiled training loop.

    ``outputs``: ``"trace"`` (default) sums over the output dimensions, K_ij = sum_c J_ic . J_jc, an (n1, n2)
    Gram (for an (n,) output this is the NTK itself; neural-tangents' ``trace_axes``); ``"full"`` returns the
    (n1 m, n2 m) Gram of every output entry, rows and columns in (point, output) row-major order
    (m = prod(out)). The traced Gram never forms the full one: the m products of one point of X2 are summed at once.

    Memory (P trainable parameters, item bytes per number): the result (n1 n2, times m^2 for ``"full"``) twice,
    the forward residuals of ``fn`` on X1 and X2, and ~ b (2 P + n1 m) item for b NTK-vector products computed
    together. ``batch_size`` = b (None: all n2 m at once, as much memory as the Jacobian; 1: one at a time);
    ``memory_limit`` (bytes, used when ``batch_size`` is None) picks the largest b whose products fit. Example:
    a traced Gram of 10 000 points of a scalar 10^5-parameter model in float32 holds 2 x 400 MB of result plus
    b x 0.84 MB of products: ``memory_limit=2**30`` (for the products) runs it with b ≈ 1280. Equinox modules with non-array leaves
    are accepted (only floating-point arrays are differentiated).
    """
    if outputs not in ("trace", "full"):
        raise ValueError(f"outputs must be 'trace' or 'full', got {outputs!r}")
    _checks.points(X1, X2)
    X2 = X1 if X2 is None else X2
    fn, params = _on_arrays(fn, params)
    out1, jvp1 = jax.linearize(lambda p: fn(p, X1), params)
    out2, vjp2 = jax.vjp(lambda p: fn(p, X2), params)
    n1, n2 = out1.shape[0], out2.shape[0]
    m = out1.size // n1
    if batch_size is None and memory_limit is not None:
        n_params = sum(x.size for x in jax.tree_util.tree_leaves(params))
        per_product = (2 * n_params + out1.size) * out1.dtype.itemsize
        batch_size = max(1, int(memory_limit) // per_product)

    def column(index):  # K e = J1 (J2^T e) for the (point, output) unit vector e of X2's outputs at index
        e = jnp.zeros((out2.size,), out2.dtype).at[index].set(1).reshape(out2.shape)
        (cotangent,) = vjp2(e)
        return jvp1(cotangent).reshape(n1, m)

    def traced(j):  # sum_c K[(., c), (j, c)]: the m products of point j, summed over the matching output
        return jnp.einsum("cic->i", jax.vmap(column)(j * m + jnp.arange(m)))

    one, count = (column, n2 * m) if outputs == "full" else (traced, n2)
    if batch_size is None or (outputs == "full" and batch_size >= count):
        cols = jax.vmap(one)(jnp.arange(count))
    else:
        per_call = batch_size if outputs == "full" else max(1, batch_size // m)
        cols = jax.lax.map(one, jnp.arange(count), batch_size=min(per_call, count))
    return cols.reshape(count, n1 * m).T if outputs == "full" else cols.T


def centre_kernel(K, variant: str = "paper") -> jax.Array:
    """HK (column means removed, "paper", the authors' code) or HKH (double-centred, "cortes")."""
    Kc = K - jnp.mean(K, axis=0, keepdims=True)
    return Kc if variant == "paper" else Kc - jnp.mean(Kc, axis=1, keepdims=True)


def _target_alignment(K, y, variant):
    y = jnp.asarray(y)
    Y = y[:, None] if y.ndim == 1 else y.reshape(y.shape[0], -1)
    Yc = Y - jnp.mean(Y, axis=0, keepdims=True)
    Kc = centre_kernel(K, variant)
    return jnp.sum((Kc @ Yc) * Yc) / (jnp.linalg.norm(Kc) * jnp.linalg.norm(Yc.T @ Yc))


def cka_paper(K, y) -> jax.Array:
    """Alignment as in the authors' code: ybar^T Kc ybar / (||Kc||_F ||ybar||^2), Kc = K - column means.

    ``y``: an ``(n,)`` target, or ``(n, k)`` multi-output targets (e.g. one-hot labels), then
    ``<Kc, Yc Yc^T>_F / (||Kc||_F ||Yc Yc^T||_F)`` with the column means of Y removed (equal to the vector
    formula for k = 1)."""
    _checks.alignment(K, y)
    return _target_alignment(K, y, "paper")


def cka_cortes(K, y) -> jax.Array:
    """Centred kernel alignment (Cortes et al.): ybar^T HKH ybar / (||HKH||_F ||ybar||^2); ``y`` ``(n,)`` or
    ``(n, k)`` as in :func:`cka_paper`."""
    _checks.alignment(K, y)
    return _target_alignment(K, y, "cortes")


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
    """Predictions K(X_t, X) (K(X, X) + ridge I)^{-1} y (ridgeless when ``ridge`` is 0); ``y`` ``(P,)`` or
    ``(P, k)`` (one regression per output column, the output-traced kernel's convention)."""
    _checks.regression(K_train, K_test_train, y, ridge)
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


def empirical_kernel_movement(fn, params, params0, X, *, route: str = "jacobian", **gram) -> dict[str, jax.Array]:
    """:func:`kernel_movement` of the empirical NTK of any ``fn(params, X) -> (n,)``: ``route="jacobian"``
    (Jacobian contraction, :func:`empirical_ntk`) or ``"nvp"`` (NTK-vector products, :func:`ntk_gram`, any
    output shape; ``gram`` passes ``outputs`` / ``batch_size``). In a training loop compute K0 once and call
    :func:`kernel_movement` on ``ntk_gram(fn, params_t, X)`` at each logged step."""
    if route == "nvp":
        return kernel_movement(ntk_gram(fn, params, X, **gram), ntk_gram(fn, params0, X, **gram))
    if route != "jacobian":
        raise ValueError(f"route must be 'jacobian' or 'nvp', got {route!r}")
    return kernel_movement(empirical_ntk(fn, params, X, X), empirical_ntk(fn, params0, X, X))
