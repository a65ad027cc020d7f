"""grokjax: grokking as the transition from lazy to rich training dynamics, in JAX.

Public API (re-exported from private modules):

* configuration: :class:`PolyConfig`, :class:`ConfigError`, :func:`choose_engine`, :func:`step_cost`;
* model: :func:`committee`, :func:`sufficient_stats`, :func:`predict_from_stats`, :func:`init_params`, :func:`make_data`;
* kernels: :func:`ntk_closed_form`, :func:`ntk_features`, :func:`empirical_ntk`, :func:`ntk_vector_product`,
  :func:`kernel_alignment`, :func:`cka_paper`, :func:`cka_cortes`, :func:`ntk_spectrum`, :func:`kernel_regression`;
* losses: :func:`population_test_loss`, :func:`decompose_test_loss`;
* runs: :func:`simulate` (one jittable run), :func:`run_sweep` (vmapped, chunked, sharded, resumable sweep);
* analysis: :func:`grokking_metrics`, :func:`grokking_summary`; results: :func:`save_dataset`, :func:`load_dataset`.
"""
from grokjax._config import PolyConfig, choose_engine, reduced_supported, step_cost
from grokjax._data import PolyData, make_data, target_fn
from grokjax._errors import ConfigError
from grokjax._kernels import (cka_cortes, cka_paper, empirical_ntk, kernel_alignment, kernel_regression,
                              ntk_closed_form, ntk_features, ntk_spectrum, ntk_vector_product)
from grokjax._losses import Decomposition, decompose_test_loss, population_test_loss
from grokjax._metrics import first_below, grokking_metrics, grokking_summary
from grokjax._model import Stats, committee, init_params, phi, predict_from_stats, sufficient_stats
from grokjax._simulate import METRICS, Scalars, logged_steps, make_optimizer, run_single, simulate, simulate_from
from grokjax._sweep import run_sweep, sweep_points
from grokjax.store import load_dataset, save_dataset

__version__ = "0.1.0"

__all__ = [
    "PolyConfig", "choose_engine", "reduced_supported", "step_cost", "PolyData", "make_data", "target_fn",
    "ConfigError", "cka_cortes", "cka_paper", "empirical_ntk", "kernel_alignment", "kernel_regression",
    "ntk_closed_form", "ntk_features", "ntk_spectrum", "ntk_vector_product", "Decomposition",
    "decompose_test_loss", "population_test_loss", "first_below", "grokking_metrics", "grokking_summary",
    "Stats", "committee", "init_params", "phi", "predict_from_stats", "sufficient_stats", "METRICS", "Scalars",
    "logged_steps", "make_optimizer", "run_single", "simulate", "simulate_from", "run_sweep", "sweep_points", "load_dataset", "save_dataset",
]
