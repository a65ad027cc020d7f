"""grokjax: grokking as the transition from lazy to rich training dynamics, in JAX.

Public API (re-exported from private modules):

* configuration: :class:`PolyConfig`, :class:`ConfigError`, :func:`choose_engine`, :func:`step_cost`;
* model: :func:`committee`, :func:`sufficient_stats`, :func:`predict_from_stats`, :func:`init_params`, :func:`make_data`;
* kernels: :func:`ntk_closed_form`, :func:`ntk_features`, :func:`empirical_ntk`, :func:`ntk_vector_product`, :func:`ntk_gram`, :func:`kernel_movement`,
  :func:`kernel_alignment`, :func:`cka_paper`, :func:`cka_cortes`, :func:`ntk_spectrum`, :func:`kernel_regression`;
* your own model (lazy-vs-rich diagnosis of any JAX model): :class:`Model`, :class:`Data`,
  :class:`LazyRichConfig`, :func:`run_model`, :func:`check_model`, :func:`linearize`, :func:`plot_lazy_rich`,
  :func:`grokking_delays`, :func:`half_drop_delay`, :func:`threshold_delay`, :func:`array_part`;
* losses: :func:`population_test_loss`, :func:`decompose_test_loss`;
* runs: :func:`simulate` (one jittable run), :func:`simulate_weights` (weight-space runs on arbitrary labels), :func:`run_sweep` (vmapped, chunked, sharded, resumable sweep);
* training loop: :func:`run_logged` (the one loop, over a static :func:`log_steps` schedule);
* analysis: :func:`grokking_metrics`, :func:`grokking_summary`, :func:`first_crossing` (the one threshold-crossing
  rule), :func:`half_drop_step` (the figures' delay rule); results: :func:`save_dataset`, :func:`load_dataset`,
  :func:`check_distinct` (refuses two outputs of one command that are the same file);
* declared options: :func:`param`, :func:`validate_fields` (one declaration per field: type, range, allowed
  values), :func:`add_config_arguments` / :func:`config_from_arguments` (its command-line flags and checks).
"""
import importlib

#: public name -> the private module that defines it (imported on first use, so ``import grokjax`` and the
#: CLI's ``--help`` do not import JAX)
_EXPORTS = {
    "grokjax._config": ("PolyConfig", "choose_engine", "param", "reduced_supported", "step_cost", "validate_fields"),
    "grokjax._dataclass_cli": ("add_config_arguments", "config_from_arguments"),
    "grokjax._data": ("PolyData", "labelled_data", "make_data", "target_fn"),
    "grokjax._errors": ("ConfigError",),
    "grokjax._kernels": ("array_part", "cka_cortes", "cka_paper", "empirical_ntk", "kernel_alignment",
                         "kernel_regression", "kernel_regression_test_loss", "eigenvector_labels", "kernel_movement", "ntk_closed_form", "ntk_features", "ntk_gram",
                         "ntk_spectrum", "ntk_vector_product"),
    "grokjax._lazy_rich": ("Data", "LazyRichConfig", "Model", "check_model", "grokking_delays", "linearize",
                           "plot_lazy_rich", "run_model"),
    "grokjax._losses": ("Decomposition", "decompose_test_loss", "population_test_loss"),
    "grokjax._loop": ("run_logged",),
    "grokjax._outputs": ("check_distinct",),
    "grokjax._metrics": ("first_below", "first_crossing", "grokking_metrics", "grokking_summary", "half_drop_step",
                         "half_drop_delay", "threshold_delay"),
    "grokjax._model": ("Stats", "aligned_interpolation_init", "committee", "init_params", "phi", "predict_from_stats", "sufficient_stats"),
    "grokjax._simulate": ("METRICS", "Scalars", "as_traced", "logged_steps", "make_optimizer", "run_single",
                          "simulate", "simulate_from", "simulate_weights"),
    "grokjax._schedule": ("log_steps",),
    "grokjax._sweep": ("run_sweep", "sweep_points"),
    "grokjax.store": ("load_dataset", "save_dataset"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name):
    if name in _WHERE:
        importlib.import_module("grokjax._precision")  # float32 matmuls at 'highest' precision (its docstring)
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'grokjax' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = sorted(_WHERE)
