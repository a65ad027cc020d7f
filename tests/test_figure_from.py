"""``grokjax figure NAME --from PATH`` re-judges and re-plots a saved dataset without computing, for every figure.

Tiny-size wall times of the figure command (one process, 2 shared CPU cores, compile included), measured once:
fig1 7 s, fig3a 10, fig3b 7, phase 5, fig6 8; app8.4 8, app8.4.1 11, app8.4.2 5, app11 4, app12 4, app14 4,
app15a 7, app16 8, app17 5, app18 3; fig2 10, fig2c 5, fig5a 12, fig5b 9, app8.3.1 8, app15b 7, app15c 24,
app17.1 5, app17.2 9; fig4 39, fig4b 1, dmft-delay 33. Those over ~15 s, and the slower of the rest
until the default run of this file stays under ~2 minutes, were marked slow; now the default suite runs one
figure per protocol implementation (``DEFAULT``) and the rest run with -m slow (see ``DEFAULT`` for where the
other protocols' cases run).
"""
import pytest
from _cli import assert_from_rejudges_without_computing, run_tiny_figure

from grokjax._errors import ConfigError
from grokjax.figures import available_figures, find_module

#: the default suite runs one figure per implementation of the protocol (fig_poly, fig_dmft, the appendix studies'
#: ``protocol``, the task figures' ``task_protocol``), the fast one of each; every figure runs with -m slow (and
#: in ``grokjax reproduce --size tiny``). The appendix studies' case (app12) is in tests/test_input_files.py, on the
#: tiny run that file makes anyway; fig_poly's (fig1) runs with -m slow in tests/test_figure_seeds.py. Every
#: figure's judge also re-judges its committed dataset in the default suite (tests/test_committed_figures.py).
DEFAULT = {"fig4b", "fig2c"}
FIGURES = sorted(available_figures())


@pytest.mark.parametrize("name", [n if n in DEFAULT else pytest.param(n, marks=pytest.mark.slow) for n in FIGURES])
def test_figure_from_dataset_prints_the_same_verdict(name, tmp_path, capsys, monkeypatch):
    out = tmp_path / "figs"
    first, data = run_tiny_figure(name, out, capsys)
    assert_from_rejudges_without_computing(name, find_module(name), data, out, first, capsys, monkeypatch)


def test_every_figure_module_follows_the_protocol():
    for name in FIGURES:
        module = find_module(name)
        assert all(callable(getattr(module, f, None)) for f in ("run", "judge", "plot")), name
        assert name in getattr(module, "DATASET_FIGURES", module.FIGURES), name


@pytest.mark.parametrize("module_name, known", [("experiments.app_decomposition", "app12"), ("experiments.tasks_modular", "fig2")])
def test_run_refuses_unknown_figures_and_sizes_before_computing(module_name, known):
    import importlib

    module = importlib.import_module(module_name)
    for name, size, field in (("fig99", "tiny", "figure"), (known, "huge", "size")):
        with pytest.raises(ConfigError) as info:
            module.run(name, size)
        assert info.value.field == field
