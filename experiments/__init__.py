"""Figure runners: one module per figure (or family of figures), discovered by the ``grokjax`` CLI.

Protocol: a module ``experiments/fig_<something>.py`` defines

* ``FIGURES``: a dict mapping figure names (as typed after ``grokjax figure``) to one-line descriptions;
* ``make_figure(name, size, out_dir, quiet=False) -> experiments.ClaimCheck`` which runs the experiment at
  ``size`` ("small" = minutes on 2 CPU cores, "paper" = the paper's setting), writes ``<out_dir>/<name>.png``,
  ``.pdf`` and the labelled dataset ``<out_dir>/data/<name>.nc``, and returns the checked claim.
"""
from experiments._figure import ClaimCheck, available_figures, find_figure, save_figure, SIZES

__all__ = ["ClaimCheck", "available_figures", "find_figure", "save_figure", "SIZES"]
