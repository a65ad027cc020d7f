"""Frozen configurations of the DMFT (model conventions of ``shared/spec/dmft.md`` §0.1).

Model: ``x ~ N(0, I_D)``, ``h_i = w_i.x/sqrt(D)``, ``h* = beta.x/sqrt(D)`` with ``|beta|^2 = rho D``,
``f = (alpha/N) sum_i phi(h_i)``, ``phi(h) = h + eps h^2/2``, centred predictor ``f(W_t) - f(W_0)``,
target ``y = c0 + c1 h* + c2 h*^2`` (+ ``sigma xi`` on training labels), loss ``(1/2P) sum (f~ - y)^2``,
GD ``W <- W - dt (eta D/alpha^2) grad_W L``; ``a = P/D``; ``kappa = eta/(alpha N)``.
Reported losses are plain MSE (no 1/2).  Time ``t = step * dt``; one GD step of the authors' code
(``lr = eta0 N/alpha^2``, loss without 1/2) is ``dt = 2 eta0 N/(eta D)`` of this time (see
:func:`authors_step_to_time`).
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Optional

import numpy as np

from dmft._blocks import block_edges, growing_block_edges
from dmft._errors import ConfigError
from grokjax._config import param, validate_fields


def default_m0(N: int) -> tuple[float, ...]:
    """Validated asymmetric teacher overlap ``m0 = linspace(1, -1, N) * 0.2 + 0.05`` (spec §0.3)."""
    if N == 1:
        return (0.25,)
    return tuple(float(v) for v in np.linspace(1.0, -1.0, N) * 0.2 + 0.05)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Physical parameters of the committee machine and of GD (see module docstring).

    ``m0`` (default :func:`default_m0`) and ``Q0`` (default identity) are the initial overlaps
    ``W0 beta/D`` and ``W0 W0^T/D``; the paper does not give ``m0`` (a random init has ``m0 = O(D^-1/2)``,
    which shows no feature learning at O(1) times, spec pitfall 1).  ``eta`` defaults to ``N`` (spec: "we take
    eta = N", so the kernel time scale is O(1) for every N).  ``dt`` is the GD step in DMFT time
    (validated: ``dt * eta <= 2``), ``T`` the number of steps.
    """

    N: int = param(4, "hidden units", check=">=1")
    a: float = param(8.0, "P/D (inf only for the online limit)", check=">0", finite=False)
    alpha: float = param(2.0, "output scale", check=">0")
    eps: float = param(0.5, "quadratic coefficient of phi(h) = h + eps h^2/2")
    eta: Optional[float] = param(None, "learning-rate scale (default N)", check=">0")
    dt: float = param(0.25, "GD step in DMFT time (one simulator step)", check=">0")
    T: int = param(120, "GD steps (t_max = T dt)", check=">=1")
    rho: float = param(1.0, "|beta|^2/D", check=">0")
    c0: float = param(-0.5, "target y = c0 + c1 h* + c2 h*^2")
    c1: float = param(0.0, "linear target coefficient")
    c2: float = param(0.5, "quadratic target coefficient")
    sigma: float = param(0.0, "label noise on training labels", check=">=0")
    m0: Optional[tuple[float, ...]] = param(None, "initial teacher overlaps W0 beta/D (N values)")
    Q0: Optional[tuple[float, ...]] = param(None, "initial overlaps W0 W0^T/D (N x N, nested or flat; default I)")
    centered: bool = param(True, "centred predictor f(W_t) - f(W_0)")

    def __post_init__(self):
        if self.Q0 is not None:  # a nested N x N matrix is stored flat (Q0_array reshapes it)
            def flatten(v):  # rows of a nested matrix, one level; each number is then checked like any other
                if isinstance(v, (list, tuple)) or (isinstance(v, np.ndarray) and v.ndim >= 1):
                    return [x for row in v for x in (row if isinstance(row, (list, tuple, np.ndarray)) else [row])]
                return v

            flat = flatten(self.Q0)
            flat = tuple(flat) if isinstance(flat, list) else flat
            object.__setattr__(self, "Q0", flat)
        validate_fields(self)  # every declared field (type, range, finiteness), once per construction
        if self.eta is None:
            object.__setattr__(self, "eta", float(self.N))  # spec: "we take eta = N" (lazy time scale O(1))

    @property
    def kappa(self) -> float:
        return self.eta / (self.alpha * self.N)

    def m0_array(self) -> np.ndarray:
        return np.asarray(default_m0(self.N) if self.m0 is None else self.m0, dtype=np.float64)

    def Q0_array(self) -> np.ndarray:
        if self.Q0 is None:
            return np.eye(self.N)
        return np.asarray(self.Q0, dtype=np.float64).reshape(self.N, self.N)

    def validate(self, online: bool = False) -> "ModelConfig":
        """Raise :class:`ConfigError` for invalid combinations (each field was checked at construction against its
        declaration); warn when outside the validated range."""
        if not online and not (self.a > 0 and math.isfinite(self.a)):
            raise ConfigError("a", f"P/D must be a finite number > 0, got {self.a!r}")
        if online:  # the online recursion keeps Q, Qt0, A, B (N x N), m, c (N) and the loss at T+1 steps, twice
            from grokjax._memory import check_memory

            check_memory({"T": 2 * (self.T + 1) * (4 * self.N ** 2 + 2 * self.N + 1) * 8}, what="the online DMFT")
        m0 = self.m0_array()
        if m0.shape != (self.N,):
            raise ConfigError("m0", f"must have N={self.N} entries, got shape {m0.shape}")
        Q0 = self.Q0_array() if self.Q0 is None or np.size(self.Q0) == self.N ** 2 else None
        if Q0 is None:
            raise ConfigError("Q0", f"must have N*N={self.N ** 2} entries")
        if not np.allclose(Q0, Q0.T) or np.linalg.eigvalsh(Q0).min() <= 0:
            raise ConfigError("Q0", "must be symmetric positive definite")
        joint = np.block([[Q0, m0[:, None]], [m0[None, :], np.array([[self.rho]])]])
        if np.linalg.eigvalsh(joint).min() <= 0:
            raise ConfigError("m0", "[[Q0, m0], [m0^T, rho]] must be symmetric positive definite (|m0| too large "
                                    "for Q0 and rho)")
        if self.dt * self.eta > 2:
            warnings.warn(f"dt*eta = {self.dt * self.eta:g} > 2: GD was validated only for dt*eta <= 2",
                          stacklevel=2)
        if self.N > 1 and np.ptp(m0) == 0:
            warnings.warn("all m0_i equal: symmetric init stays on the Saad-Solla plateau (spec pitfall 2)",
                          stacklevel=2)
        if not online and self.a < 4:
            warnings.warn(f"a = {self.a:g} < 4: outside the validated range (Monte-Carlo error large)",
                          stacklevel=2)
        return self


@dataclasses.dataclass(frozen=True)
class SolverConfig:
    """Numerical parameters of the finite-``a`` solver (none of them is in the paper).

    ``S``: Monte-Carlo copies of the data-point process (validated 2000-16000; O(1/S) bias of the sampled
    train estimator ~0.003 at S=4000, spec §7.4).  ``method``: ``"march"`` (solver A, causal time
    marching, one sweep) or ``"picard"`` (solver B, damped fixed point from the online solution, chunked
    over samples).  ``damping`` d in (0, 1] (validated 0.3-1), ``max_iter``, ``tol`` (relative residual),
    ``chunk`` (samples per chunk in solver B), ``seed`` (frozen random numbers), ``jac_dtype`` (storage of
    the per-sample tangents and field histories; float32 halves memory, ~1e-6 relative error; the order
    parameters are always float64).  ``responses`` (solver A only): ``"blocked"`` (default; exact tangents for
    lags ``<= window`` and for the centring column, exact block sums over ``block`` consecutive older
    perturbation times spread uniformly over the block; memory independent of ``T^2``; exact when
    ``block == 1`` or ``window >= T``; ``block=None`` (default) grows the blocks with time, :meth:`block_edges`) or ``"pathwise"`` (every tangent kept, memory ``S T^2 N^2``: the
    reference).  ``noise``: how the weight noise ``Xi^T g`` of spec §7.2 is realised (``dmft._noise``):
    ``"conditional"`` (default; exact conditional law, no ``S x S`` matrix, memory ``S T N``) or ``"stored"``
    (the spec's frozen ``Xi``, ``S^2`` numbers); same law, different random numbers.  ``memory_gb``: refuse (before compute) a solve whose per-sample state would exceed it.
    """

    S: int = param(4000, "Monte-Carlo samples (needs at least 2)", check=">=2")
    seed: int = param(0, "seed of the frozen random numbers", check="seed")
    method: str = param("march", "march (solver A) or picard (solver B)", choices=("march", "picard"))
    damping: float = param(1.0, "solver B damping", check="(0,1]")
    max_iter: int = param(200, "solver B sweeps", check=">=1")
    tol: float = param(1e-9, "solver B relative residual tolerance", check=">0")
    chunk: int = param(1000, "samples per chunk of solver B", check=">=1")
    cv: str = param("regression", "control variate", choices=("regression", "one", "none"))
    jac_dtype: str = param("float32", "storage of per-sample tangents", choices=("float64", "float32"))
    responses: str = param("blocked", "response estimator", choices=("blocked", "pathwise"))
    window: int = param(8, "exact-lag window of 'blocked'", check=">=1")
    block: Optional[int] = param(None, "uniform block size of 'blocked' (default: growing blocks)", check=">=1")
    noise: str = param("conditional", "weight noise realisation", choices=("conditional", "stored"))
    memory_gb: float = param(8.0, "refuse (before compute) a solve whose state would exceed it", check=">0")

    def __post_init__(self):
        validate_fields(self)  # every declared field (type, range, allowed values), once per construction

    def validate(self) -> "SolverConfig":
        """Raise :class:`ConfigError` for invalid combinations (each field was checked at construction against
        its declaration); warn when outside the validated range."""
        if self.responses == "blocked" and self.method != "march":
            raise ConfigError("responses", "the blocked estimator is implemented for method='march' only; use "
                                           "responses='pathwise' with method='picard'")
        if self.S < 1000:
            warnings.warn(f"S = {self.S} < 1000: outside the validated range (large Monte-Carlo error)",
                          stacklevel=2)
        if self.damping < 0.3:
            warnings.warn(f"damping = {self.damping:g} < 0.3: outside the validated range (slow)",
                          stacklevel=2)
        return self


    def block_edges(self, T: int):
        """Perturbation-time blocks of the blocked estimator for a horizon of ``T`` steps (``[lo, hi]``, 2 x nB):
        uniform blocks of ``block`` steps if it is set, else blocks growing with the perturbation time
        (``dmft._blocks.growing_block_edges``: 8 steps up to s = 32, then a quarter of s).

        The spreading error grows with the block where the responses change fast.  Uniform ``max(8,
        ceil(sqrt(1.5 T)))`` (the previous default: 25 steps at T = 400) biased the train loss by up to 4e-4 at
        t = 10 at T = 400 against the pathwise solver on the same random numbers; growing blocks keep the early
        blocks at 8 steps for the same block count (16 at T = 400)."""
        if self.block is not None:
            return block_edges(T, int(self.block))
        return growing_block_edges(T)


def authors_step_to_time(eta0: float, D: int, N: int, eta: float) -> float:
    """DMFT time of one GD step of the authors' code: ``dt = 2 eta0 N/(eta D)`` (spec §0.1)."""
    return 2.0 * eta0 * N / (eta * D)
