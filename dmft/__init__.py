"""DMFT theory of the centred committee machine (Kumar, Bordelon, Gershman, Pehlevan, ICLR 2024).

Conventions (``shared/spec/dmft.md`` §0.1): ``x ~ N(0, I_D)``, ``h = w.x/sqrt(D)``,
``f = (alpha/N) sum_i phi(h_i)`` with ``phi(h) = h + eps h^2/2``, centred predictor ``f(W_t) - f(W_0)``,
target ``y = c0 + c1 h* + c2 h*^2``, loss ``(1/2P) sum (f~ - y)^2``, GD
``W <- W - dt (eta D/alpha^2) grad_W L`` with ``a = P/D``.  Time ``t = step * dt``; one GD step of the
authors' code (``lr = eta0 N/alpha^2``, loss without 1/2) is ``dt = 2 eta0 N/(eta D)``.
Reported losses are plain MSE.  Everything is computed in float64 (scoped ``jax.enable_x64``).
Importable without ``grokjax``.

Theory against simulation (``dmft._agreement``): :func:`solve_seeds` (the DMFT over Monte-Carlo seeds),
:func:`seed_arrays`, :func:`agreement` (simultaneous band over t, and the pointwise rule),
:func:`agreement_verdict`, :func:`agreement_table`; :func:`state_gb` estimates a solve's memory.
"""
try:  # float32 matmuls at 'highest' precision on every backend, as in grokjax (grokjax/_precision.py)
    from grokjax import _precision  # noqa: F401
except ImportError:  # pragma: no cover - dmft alone
    pass
from dmft._agreement import (CURVES, agreement, agreement_table, agreement_verdict, seed_arrays, sim_curves,
                             solve_seeds, theory_curves)
from dmft._config import ModelConfig, SolverConfig, authors_step_to_time, default_m0
from dmft._errors import ConfigError, DMFTConvergenceError
from dmft._finite import solve_dmft, state_gb
from dmft._gap import first_order_gap
from dmft._losses import online_coeffs, closed_form_test_loss, ntk_alignment
from dmft._online import online_arrays, solve_online, solve_online_ode
from dmft._result import DMFTResult

__all__ = [
    "ModelConfig", "SolverConfig", "authors_step_to_time", "default_m0", "ConfigError", "DMFTConvergenceError",
    "solve_dmft", "first_order_gap", "online_coeffs", "closed_form_test_loss", "ntk_alignment", "online_arrays",
    "solve_online", "solve_online_ode", "DMFTResult", "state_gb",
    "CURVES", "agreement", "agreement_table", "agreement_verdict", "seed_arrays", "sim_curves", "solve_seeds",
    "theory_curves",
]
