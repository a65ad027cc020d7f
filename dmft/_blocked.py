"""Blocked-tangent response estimator for solver A: memory ``O(S N^2 (W^2 + nB (W + nB)))``, no ``T^2`` per sample.

The data-side kernel ``R_g[t, s] = E dg^t/dtheta^s`` is the sample mean of forward-mode tangents.  The reference
(``responses="pathwise"``) keeps every tangent ``J[r, s]`` of every sample (``S T^2 N^2`` numbers).  Here:

* **recent lags ``t - s <= W``** (where ``R_g`` varies fastest) and **``s = 0``** (the centring column): exact
  individual tangents.  ``H[t,s] = delta_ts + (dt/a) sum_{r=s}^{t-1} R_w[t,r] J[r,s]`` only reads tangents of lag
  ``< W``, so a rolling buffer of the last ``W`` rows suffices;
* **older lags**: the perturbation times ``s >= 1`` are grouped into blocks of consecutive steps (uniform, or by
  default growing with ``s``: :func:`growing_block_edges`) and each
  block's *summed* tangent (the response to perturbing every ``theta^s`` of the block) is propagated exactly.
  Its mean minus the block's window entries is the exact sum of ``R_g[t, s]`` over the block's old lags; it is
  spread uniformly over them (the one approximation; ``B = 1`` or ``W >= T`` make the solver exact);
* block tangents need no history: with ``Y^t = sum_{r<t} R_w[t,r] J[r]`` the weight-side recursion of ``R_w`` gives
  ``Y^{t+1} = Y^t + J[t] + dt sum_{q<=t} R_g[t,q] Y^q``; over old lags ``R_g[t, .]`` is constant on each block, so
  the sum needs only the last ``W+1`` values of ``Y`` and, per block, the running sum of the older ones.  Those sums
  are stored packed: block ``k``'s component of ``Y^q`` is zero until ``q > lo[k]``, so block ``j``'s sum has no
  component ``k > j`` (and block 0 = ``{0}`` never leaves the window as an old lag);
* ``mu_g[t] = E dg^t/dh*``: one exact tangent direction with history (``S T N``).

The online (memory-free) means ``A_on, B_on, c_on`` are the control variates of spec §7.4 on the diagonal, the
centring column and ``mu_g``, exactly as in the pathwise solver; with the same seed (and ``noise``) both use the
same random numbers.  The weight noise ``Xi^T u`` of ``theta`` is formed from the stored ``Xi^T`` or, by default,
as ``Z (L^T R)`` through the exact conditional law of ``dmft._noise``.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from dmft import _heap, _noise
from dmft._blocks import block_edges, growing_block_edges  # noqa: F401  (the blocks this estimator uses)
from dmft._losses import dtarget, online_coeffs
from dmft._sampled import (_cg_row, _cg_set_row, _cv_estimate, _jac_parts, _moments, _rw_set_row, _weight_row,
                           record_losses)


def state_bytes(S: int, T: int, N: int, W: int, edges, itemsize: int, noise: str = "conditional") -> int:
    """Bytes of the per-sample state (tangent buffers, the float64 signal history, the ``K`` history) plus the
    noise source (``Xi^T``, or the draws ``Z`` and the float64 Gram factor); ``edges`` as from
    :func:`block_edges`."""
    nB = np.asarray(edges).shape[1]
    packed = sum(nB - _first_sum_block(k) for k in range(nB))
    per_sample = (N * N * (W * (W + 1) + nB * (W + 1) + packed) + T * N) * itemsize + T * N * 8
    mix = S * S * itemsize if noise == "stored" else S * T * N * itemsize + (T * N) ** 2 * 8
    return S * per_sample + mix


def _first_sum_block(k: int) -> int:
    """First block ``j`` whose running sum of old ``Y^q`` can have a nonzero component ``k`` (``j >= k``, and
    block 0 holds only ``q = 0``, which is never an old lag)."""
    return max(k, 1)


def _apply_history(R, hist):
    """``out[b, i] = sum_{s, j} R[s, i, j] hist[b, s, j]`` as one matrix product (``hist`` is sample-major)."""
    S, T, N = hist.shape
    return hist.reshape(S, T * N) @ jnp.transpose(R, (0, 2, 1)).reshape(T * N, R.shape[1])


def _per_sample_product(A, H):
    """``out[i, b, ...] = sum_m A[b, i, m] H[m, b, ...]`` (a 4 x 4 matrix per sample applied to its tangents) as
    ``N`` broadcast multiply-adds: XLA's CPU batched-matmul of the same einsum is ~7x slower at these shapes."""
    At = jnp.transpose(A, (1, 2, 0))  # [i, m, b]
    extra = (None,) * (H.ndim - 2)
    return sum(At[:, m][(slice(None), slice(None)) + extra] * H[m][None] for m in range(A.shape[1]))


def _window_tangents(t, Jbuf, rw_t, A, B, p, W: int):
    """Exact tangents ``J[t, s]`` for the window ``s in [t-W, t]`` and the updated buffer.

    ``Jbuf[r mod W, j, b, s mod (W+1), k] = J_b[r, s]_{jk}`` for the last ``W`` rows ``r < t`` (row-major in the
    tangent's row index ``j`` so that ``H[t, s] = delta_ts + (dt/a) sum_r R_w[t, r] J[r, s]`` is one matrix
    product over ``(r, j)``).  Entries with ``r < s`` are zero: a column is cleared the step before its ``s``
    enters (after every read of the buffer, so the updates stay in place).
    Returns ``J_new`` (N, S, W+1, N) by column slot and the lag of each slot; :func:`_write_big` stores it.
    """
    N = p.N
    S = A.shape[0]
    hd = Jbuf.dtype
    cols = jnp.arange(W + 1)
    s_of_col = t - jnp.mod(t - cols, W + 1)  # the s in [t-W, t] held by each column slot
    rows = jnp.arange(W)
    r_of_row = t - 1 - jnp.mod(t - 1 - rows, W)  # the r in [t-W, t-1] held by each row slot
    R = jnp.where((r_of_row >= 0)[:, None, None], jnp.take(rw_t, jnp.clip(r_of_row, 0, rw_t.shape[0] - 1), axis=0), 0.0)
    lhs = jnp.transpose(R, (1, 0, 2)).reshape(N, W * N).astype(hd)  # [i, (r, j)]
    H = ((p.dt / p.a).astype(hd) * (lhs @ Jbuf.reshape(W * N, S * (W + 1) * N))).reshape(N, S, W + 1, N)
    H = H + jnp.eye(N, dtype=hd)[:, None, None, :] * (s_of_col == t).astype(hd)[None, None, :, None]
    J = _per_sample_product(A.astype(hd), H)
    J = J + (s_of_col == 0).astype(hd)[None, None, :, None] * jnp.transpose(B, (1, 0, 2)).astype(hd)[:, :, None, :]
    J = jnp.where((s_of_col >= 0)[None, None, :, None], J, 0.0)
    return J, t - s_of_col


def _step(t, st, big, samples, mixer, p, mode: str, signals: bool, W: int, edges, noise: str):
    """Step ``t`` of the march: the order-parameter rows (``st``, small, updated and returned) and the new
    entries of the per-sample buffers ``big`` (read only here; returned as ``new`` for :func:`_write_big`).
    ``mixer`` is ``Xi^T`` (``noise="stored"``) or the conditional draws ``Z`` (``dmft._noise``)."""
    zeta0, hstar, xi = samples
    S = zeta0.shape[0]
    N, dt, a, T = p.N, p.dt, p.a, p.T
    hd = big["K"].dtype  # tangent storage (the signal history g is float64)
    psi_t, rw_t, b_t, m_t, cw_tt, cw_t0 = _weight_row(t, st["Psi"], big["Rw"], big["Rg"], st["mug"], big["Cg"], p)
    st = dict(st)
    for key, val in (("Psi", psi_t), ("bvec", b_t), ("m", m_t), ("Q", cw_tt), ("Qt0", cw_t0)):
        st[key] = st[key].at[t].set(val)
    rwh = rw_t.astype(hd)
    # u = sum_s R_w[t,s] g^s; the weight noise sum_s R_w[t,s] v^s with v^s = a^{-1/2} Xi^T g^s is Xi^T u / sqrt(a)
    # (linear in g), so no history of v is kept
    u = _apply_history(rw_t, big["g"])  # float64 history
    if noise == "stored":
        mixed = mixer @ u.astype(hd)  # mixer = Xi^T stored row-major (see _sampled._full_xi_t)
    else:  # Xi^T G R = Z (L^T R), R[(s, j), i] = R_w[t,s]_ij
        R = jnp.transpose(rw_t, (0, 2, 1)).reshape(T * N, N)
        mixed = mixer @ _noise.mixing_coefficients(big["chol"], R).astype(hd)
    theta = zeta0 @ psi_t.T + hstar[:, None] * b_t[None, :] + dt * mixed.astype(jnp.float64) / jnp.sqrt(a)
    h = theta + dt / a * u
    d_h, d_th = record_losses(st, t, h, theta, samples, cw_tt, cw_t0, m_t, p, mode)
    if not signals:
        return st, dict(Rw=rw_t)
    A_on, B_on, c_on = online_coeffs(cw_tt, cw_t0, p.Q0, m_t, p)
    A, B, pt = _jac_parts(h, zeta0, d_h, p)
    Ath, Bth, pth = _jac_parts(theta, zeta0, d_th, p)
    g_t = -p.kappa * d_h[:, None] * pt
    first = t == 0
    edges = np.asarray(edges)
    lo, hi = jnp.asarray(edges[0]), jnp.asarray(edges[1])
    nB = edges.shape[1]
    # exact recent lags (by column slot; lag = t - s)
    Jslot, lag_of_col = _window_tangents(t, big["Jwin"], rw_t, A, B, p, W)
    order = jnp.argsort(lag_of_col)  # column slots sorted by lag 0..W
    # lag 0 (s = t) sits in column slot t mod (W+1); the window means are reordered by lag after the sample
    # mean (a gather over the per-sample array costs more than the step's main product)
    J_tt = jnp.transpose(jax.lax.dynamic_index_in_dim(Jslot, jnp.mod(t, W + 1), 2, keepdims=False), (1, 0, 2))
    # block tangents: H = [t in block] + (dt/a) Y^t, J = A H (+ B for the centring block 0).  Y is stored as
    # (row, sample, block, column) so that the drift below is one plain matrix product.
    slot_t = jnp.mod(t, W + 1)
    Y_t = jax.lax.dynamic_index_in_dim(big["Yroll"], slot_t, 0, keepdims=False)  # (N, S, nB, N)
    in_blk = ((t >= lo) & (t < hi)).astype(hd)
    Hb = (dt / a).astype(hd) * Y_t + jnp.eye(N, dtype=hd)[:, None, None, :] * in_blk[None, None, :, None]
    Jb = _per_sample_product(A.astype(hd), Hb)
    Jb = Jb.at[:, :, 0].add(jnp.transpose(B, (1, 0, 2)).astype(hd))
    Jb = jnp.where((t >= lo)[None, None, :, None], Jb, 0.0)
    # estimates: diagonal, centring column and mu_g with control variates; the rest plain sample means
    diag = _cv_estimate(_moments(J_tt.astype(jnp.float64), Ath + jnp.where(first, Bth, 0.0)), S,
                        A_on + jnp.where(first, B_on, 0.0), mode)
    col0 = _cv_estimate(_moments(jnp.transpose(Jb[:, :, 0], (1, 0, 2)).astype(jnp.float64), Bth), S, B_on, mode)
    win_mean = jnp.take(jnp.transpose(jnp.mean(Jslot.astype(jnp.float64), 1), (1, 0, 2)), order, axis=0)  # by lag
    s_all = jnp.arange(T)
    lag = t - s_all
    in_win = (lag >= 0) & (lag <= W)
    block_of = jnp.sum(s_all[:, None] >= lo[None, 1:], 1)  # block index of s (0 for s = 0)
    member = block_of[None, :] == jnp.arange(nB)[:, None]  # (nB, T)
    blk_sum = jnp.transpose(jnp.mean(Jb, 1), (1, 0, 2)).astype(jnp.float64)  # (nB, N, N)
    win_by_s = jnp.where(in_win[:, None, None], jnp.take(win_mean, jnp.clip(lag, 0, W), axis=0), 0.0)
    old = (lag > W) & (s_all >= 1)
    old_member = (member & old[None, :]).astype(jnp.float64)
    tail_sum = blk_sum - jnp.einsum("ks,sij->kij", (member & in_win[None, :]).astype(jnp.float64), win_by_s)
    spread = tail_sum / jnp.maximum(jnp.sum(old_member, 1), 1.0)[:, None, None]  # per-s value on old lags
    row = win_by_s + jnp.einsum("ks,kij->sij", old_member, spread)
    row = jnp.where((s_all == t)[:, None, None], diag, row)
    row = jnp.where(((s_all == 0) & (t >= 1))[:, None, None], col0, row)
    row = jnp.where((lag >= 0)[:, None, None], row, 0.0)
    Kmem = (dt / a) * _apply_history(rwh, big["K"]).astype(jnp.float64)
    K_t = jnp.einsum("bim,bm->bi", A, Kmem) + p.kappa * dtarget(hstar, p)[:, None] * pt
    K_th = p.kappa * dtarget(hstar, p)[:, None] * pth
    st["mug"] = st["mug"].at[t].set(_cv_estimate(_moments(K_t, K_th), S, c_on, mode))
    # C_g[t, s] for s < t from the float64 history (row t of g is still zero there), then the diagonal entry;
    # the same cross Gram G^T g^t extends the conditional noise's Cholesky factor
    cross = big["g"].reshape(S, T * N).T @ g_t  # [(s, k), i]
    gram_tt = g_t.T @ g_t
    rows = dict(Rw=rw_t, Rg=row, Cg=_cg_row(cross, gram_tt, t, S))  # written by _write_big (read-only here)
    if noise != "stored":
        rows["chol"] = _noise.factor_column(big["chol"], t, cross, gram_tt)
    # Y^{t+1} = Y^t + J[t] + dt (sum over window q of R_g[t,q] Y^q + sum over blocks of spread_j * Ysum_j)
    slots = jnp.arange(W + 1)
    q_of_slot = t - jnp.mod(t - slots, W + 1)  # the q in [t-W, t] stored in each slot
    R_slot = jnp.where((q_of_slot >= 0)[:, None, None], jnp.take(row, jnp.clip(q_of_slot, 0, T - 1), axis=0), 0.0)
    rows_roll = jnp.transpose(R_slot, (1, 0, 2)).reshape(N, (W + 1) * N).astype(hd)  # [i, (q, l)]
    rows_sum = jnp.transpose(spread, (1, 0, 2)).reshape(N, nB * N).astype(hd)  # [i, (j, l)]
    Yr = big["Yroll"].reshape((W + 1) * N, S * nB * N)
    # packed sums: component k gets sum_{j >= first(k)} spread_j Ysum[j, k], one product per k
    drift_sum = jnp.stack([(rows_sum[:, _first_sum_block(k) * N:] @ Ys.reshape(-1, S * N)).reshape(N, S, N)
                           for k, Ys in enumerate(big["Ysum"])], axis=2)
    drift = (rows_roll @ Yr).reshape(N, S, nB, N) + drift_sum
    Y_next = (Y_t + Jb + dt.astype(hd) * drift).astype(hd)
    # the value that leaves the window at t+1 (read here, so that _write_big only writes: no copy of Yroll)
    Y_out = jax.lax.dynamic_index_in_dim(big["Yroll"], jnp.mod(t + 1, W + 1), 0, keepdims=False)
    return st, dict(J=Jslot, Y=Y_next, Y_out=Y_out, g=g_t, K=K_t.astype(hd), **rows)


def _write_big(t, big, new, W: int, edges):
    """Store step ``t``'s entries in the donated buffers, in place.

    * ``Rw``, ``Rg``, ``Cg``, ``chol``: row ``t`` of the order parameters (kept here, with the per-sample buffers:
      a call that both reads and updates a ``T^2`` array was measured to copy it twice per step);
    * ``Jwin``: row slot ``t mod W`` gets ``J[t, .]``; then the column slot that ``s = t+1`` takes over is cleared
      (its rows ``r <= t`` must read zero);
    * ``Yroll``/``Ysum``: the value leaving the window at ``t+1`` (``q = t - W``) joins its block's running sum
      before its slot ``(t+1) mod (W+1)`` receives ``Y^{t+1}``;
    * ``g``, ``K``: row ``t`` of the sample-major histories.
    """
    big = dict(big)
    big["Rw"] = _rw_set_row(big["Rw"], t, new["Rw"])
    if "J" not in new:  # the last step (no signals)
        return big
    big["Rg"] = jax.lax.dynamic_update_slice(big["Rg"], new["Rg"][None], (t, 0, 0, 0))
    big["Cg"] = _cg_set_row(big["Cg"], t, new["Cg"])
    if "chol" in new:
        big["chol"] = _noise.set_factor_column(big["chol"], t, new["chol"])
    lo = jnp.asarray(np.asarray(edges)[0])
    S, N = new["g"].shape
    hd = new["K"].dtype
    Jwin = jax.lax.dynamic_update_index_in_dim(big["Jwin"], new["J"], jnp.mod(t, W), 0)
    big["Jwin"] = jax.lax.dynamic_update_slice(Jwin, jnp.zeros((W, N, S, 1, N), hd),
                                               (0, 0, 0, jnp.mod(t + 1, W + 1), 0))
    q_out = t - W
    slot_next = jnp.mod(t + 1, W + 1)
    j_out = jnp.sum(q_out >= lo[1:])
    sums = []
    for k, Ys in enumerate(big["Ysum"]):  # packed: Ys[j - first(k)] is block j's sum, component k
        j0 = _first_sum_block(k)
        keep = ((q_out >= 1) & (j_out >= j0)).astype(hd)
        idx = jnp.clip(j_out - j0, 0, Ys.shape[0] - 1)
        old_sum = jax.lax.dynamic_index_in_dim(Ys, idx, 0, keepdims=False)
        sums.append(jax.lax.dynamic_update_index_in_dim(Ys, old_sum + keep * new["Y_out"][:, :, k], idx, 0))
    big["Ysum"] = tuple(sums)
    big["Yroll"] = jax.lax.dynamic_update_index_in_dim(big["Yroll"], new["Y"], slot_next, 0)
    big["g"] = jax.lax.dynamic_update_slice(big["g"], new["g"][:, None], (0, t, 0))
    big["K"] = jax.lax.dynamic_update_slice(big["K"], new["K"][:, None], (0, t, 0))
    return big


def init_state(p, S: int, W: int, edges: np.ndarray, hd):
    """Zero order-parameter rows (float64) and zero buffers, as two dicts: ``small`` (per-time rows, updated by
    :func:`_step`) and ``big`` (the ``T^2`` order parameters, the noise factor and the per-sample buffers in
    ``hd``, written only by :func:`_write_big`). Built by one compiled program per shape (``jnp.zeros`` called
    one by one compiles a small program for each of the ~20 buffer shapes)."""
    return _zero_state(p.T, p.N, S, W, np.shape(edges)[1], np.dtype(hd).name)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5))
def _zero_state(T: int, N: int, S: int, W: int, nB: int, hd: str):
    z = lambda *shape: jnp.zeros(shape, jnp.float64)
    zh = lambda *shape: jnp.zeros(shape, hd)
    small = dict(
        Psi=z(T + 1, N, N), bvec=z(T + 1, N), m=z(T + 1, N), Q=z(T + 1, N, N), Qt0=z(T + 1, N, N), mug=z(T, N),
        train=z(T + 1), train_cv1=z(T + 1), train_raw=z(T + 1), test=z(T + 1),
    )
    big = dict(Rw=z(T + 1, N, T, N), Rg=z(T, T, N, N), Cg=z(T, N, T, N), chol=_noise.initial_factor(T, N),
               g=z(S, T, N), K=zh(S, T, N), Jwin=zh(W, N, S, W + 1, N), Yroll=zh(W + 1, N, S, nB, N),
               Ysum=tuple(zh(nB - _first_sum_block(k), N, S, N) for k in range(nB)))
    return small, big


_step_jit = jax.jit(_step, static_argnames=("mode", "signals", "W", "edges", "noise"), donate_argnums=(1,))
_write_big_jit = jax.jit(_write_big, static_argnames=("W", "edges"), donate_argnums=(1,))


# A state above LARGE_STATE_BYTES is marched with its peak memory in mind: the step functions are compiled on
# shapes before the state is allocated, and freed heap pages go back to the OS every TRIM_EVERY steps
# (dmft._heap; ~5 ms each at S = 8000).  Below it neither pays: re-lowering for the compile costs ~0.1 s a solve.
LARGE_STATE_BYTES = 2 ** 27
TRIM_EVERY = 4


def _compile_ahead(state_shapes, samples, mixer, p, mode: str, W: int, edges, noise: str) -> None:
    """Compile the march's step functions (both step kinds and their writes) for these shapes; the jitted
    functions' caches then serve the march's calls."""
    st, big = state_shapes
    t = jnp.asarray(0)
    for signals in (True, False):
        static = (mode, signals, W, edges, noise)
        _step_jit.lower(t, st, big, samples, mixer, p, *static).compile()
        new = jax.eval_shape(lambda *a: _step(*a, *static)[1], t, st, big, samples, mixer, p)
        _write_big_jit.lower(t, big, new, W, edges).compile()


def march(samples, mixer, p, mode: str, W: int, edges, noise: str = "conditional", histories: bool = False) -> dict:
    """The whole causal march, stepped from Python on donated buffers.

    Each step is two compiled calls: :func:`_step` reads the per-sample buffers and returns the order-parameter
    rows and the buffers' new entries; :func:`_write_big` stores those entries in place.  Keeping the big
    buffers out of the outputs of the first call means XLA never copies them (a ``lax.fori_loop`` over steps,
    or one call that both reads and updates them, was measured to keep two copies).  For a large state the
    compiled steps are built before it is allocated and freed heap pages are returned to the OS as the march
    goes (peak RSS at S = 8000, T = 400, N = 4: 1149 MB without, 934 MB with both and the packed block sums).
    ``histories`` also returns ``g, K`` (sample-major).
    """
    edges_np = np.asarray(edges)
    make_state = lambda p: init_state(p, samples[0].shape[0], W, edges_np, mixer.dtype)
    shapes = jax.eval_shape(make_state, p)
    large = sum(x.size * x.dtype.itemsize for x in jax.tree_util.tree_leaves(shapes)) > LARGE_STATE_BYTES
    if large:  # compile before the state exists: the compiler's transient memory does not add to the peak
        _compile_ahead(shapes, samples, mixer, p, mode, W, edges, noise)
        _heap.release_free_memory()
    st, big = make_state(p)
    for t in range(p.T):
        st, new = _step_jit(jnp.asarray(t), st, big, samples, mixer, p, mode, True, W, edges, noise)
        big = _write_big_jit(jnp.asarray(t), big, new, W, edges)
        if large and t % TRIM_EVERY == TRIM_EVERY - 1:
            _heap.release_free_memory()
    st, new = _step_jit(jnp.asarray(p.T), st, big, samples, mixer, p, mode, False, W, edges, noise)
    big = _write_big_jit(jnp.asarray(p.T), big, new, W, edges)
    st.update(Rw=big["Rw"], Rg=big["Rg"], Cg=big["Cg"])
    if histories:
        st.update(g=big["g"], K=big["K"])
    return st
