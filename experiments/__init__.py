"""Figure runners: one module per figure (or family of figures), found by the ``grokjax`` CLI through the
``grokjax.figures`` entry-point group (pyproject.toml), so the core never imports this package.

Protocol (run -> dataset -> judge -> plot). A module ``experiments/fig_<something>.py`` defines

* ``FIGURES``: a dict mapping figure names (as typed after ``grokjax figure``) to one-line descriptions;
* ``run(name, size, quiet=False) -> xarray.Dataset``: computes the experiment at ``size`` ("tiny" = tests,
  "small" = minutes on 2 CPU cores, "paper" = the paper's setting). Everything ``judge`` and ``plot`` need is in
  the dataset (variables, coords, and JSON-able ``attrs``; attach the run's config with
  ``grokjax.store.attach_config``, read it with ``grokjax.store.run_config``: the one schema of grokjax/store.py);
* ``judge(name, ds) -> grokjax.figures.ClaimCheck``: the paper's claim and whether ``ds`` shows it, reading only
  ``ds`` (no compute);
* ``plot(name, ds) -> matplotlib.figure.Figure``: the figure, reading only ``ds``.

The CLI runs ``run``, saves the dataset to ``<out>/data/<name>.nc``, re-loads it, then calls ``judge`` and ``plot``
on the loaded copy, so ``grokjax figure NAME --from <out>/data/<name>.nc`` (judge + plot only) prints the same
verdict. Every figure follows this protocol (``tests/test_figure_from.py`` checks ``--from`` for each).
"""
from experiments._figure import ClaimCheck, available_figures, find_figure, save_figure, SIZES

__all__ = ["ClaimCheck", "available_figures", "find_figure", "save_figure", "SIZES"]
