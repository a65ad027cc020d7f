"""``dmft.ntk_alignment`` (population CKA of the current NTK, leading order in 1/D) against Monte Carlo with the
NTK from autodiff Jacobians on two independent sets of fresh inputs."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmft import ModelConfig, ntk_alignment


@jax.jit
def _centred_gram_product(J1, J2):
    """``sum((J1c^T J1c) * (J2^T J2))`` with ``J1c`` the column-centred ``J1`` (centring of K over the first
    argument, the paper's one-sided K_c); the same float32 sums as numpy's, in one compiled program (~5x faster
    than numpy's float32 mean and Gram products at n = 40000)."""
    J1c = J1 - J1.mean(0)
    return jnp.sum((J1c.T @ J1c) * (J2.T @ J2))


def _monte_carlo_alignment(W, beta, eps, c1, c2, n, rng):
    """sqrt(D) * CKA over all pairs (x, x') of two independent input sets (no diagonal terms), K = J J'^T.

    Numerator and ||K_c||_F^2 are evaluated through the Jacobians (K itself is never formed)."""
    N, D = W.shape

    def f(W, x):  # DMFT convention: h = w.x / sqrt(D), readout mean over units (the alpha factor cancels in CKA)
        h = W @ x / np.sqrt(D)
        return jnp.mean(h + 0.5 * eps * h ** 2)

    jac = jax.jit(jax.vmap(jax.grad(f), (None, 0)))
    X1, X2 = rng.normal(size=(n, D)), rng.normal(size=(n, D))
    J1 = np.asarray(jac(W, X1)).reshape(n, -1)
    J2 = np.asarray(jac(W, X2)).reshape(n, -1)

    def target(X):
        hs = X @ beta / np.sqrt(D)
        y = c1 * hs + c2 * hs ** 2
        return y - y.mean()

    y1, y2 = target(X1), target(X2)
    numerator = (J1.T @ y1 / n) @ (J2.T @ y2 / n)
    kc_sq = float(_centred_gram_product(J1, J2)) / n ** 2
    cka = numerator / (np.sqrt(kc_sq) * np.sqrt(np.mean(y1 ** 2) * np.mean(y2 ** 2)))
    return np.sqrt(D) * cka


@pytest.mark.parametrize("eps,c1,c2,pull,seed", [(0.8, 0.0, 0.5, 0.7, 0), (0.5, 0.3, 0.5, 1.0, 1),
                                                 (1.2, -0.2, 0.4, 0.3, 2)])
def test_ntk_alignment_equals_monte_carlo(eps, c1, c2, pull, seed):
    rng = np.random.default_rng(seed)
    D, N, n = 128, 3, 40000
    beta = rng.normal(size=D)
    W = 0.8 * rng.normal(size=(N, D)) + pull * rng.normal(size=(N, 1)) * beta[None]
    Q, m, rho = W @ W.T / D, W @ beta / D, beta @ beta / D
    p = ModelConfig(N=N, a=4.0, alpha=1.0, eps=eps, c0=-c2 * rho, c1=c1, c2=c2, rho=rho, m0=tuple(m),
                    Q0=tuple(map(tuple, Q)))
    theory = float(ntk_alignment(jnp.asarray(m), jnp.asarray(Q), p))
    mc = _monte_carlo_alignment(W, beta, eps, c1, c2, n, rng)
    # O(N/D) finite-D terms and the Monte-Carlo error of n = 40000 pairs per side: a few percent
    assert abs(mc / theory - 1) < 0.05, (mc, theory)


def test_ntk_alignment_broadcasts_over_time():
    p = ModelConfig(N=2, a=4.0, alpha=1.0, eps=0.5)
    m = jnp.array([[0.1, 0.2], [0.3, -0.1], [0.0, 0.0]])
    Q = jnp.stack([jnp.eye(2) * (1 + k) for k in range(3)])
    # one compiled program per shape (the config is static) instead of one per eager operation
    align = jax.jit(ntk_alignment, static_argnums=2)
    got = align(m, Q, p)
    each = [float(align(m[k], Q[k], p)) for k in range(3)]
    assert got.shape == (3,) and np.allclose(got, each) and float(got[2]) == 0.0


def test_ntk_alignment_refuses_mismatched_shapes():
    p = ModelConfig(N=2, a=4.0, alpha=1.0, eps=0.5)
    with pytest.raises(ValueError, match="Q must have shape"):
        ntk_alignment(jnp.zeros(3), jnp.eye(2), p)
    with pytest.raises(ValueError, match="Q must have shape"):
        ntk_alignment(jnp.zeros(2), jnp.zeros(2), p)
