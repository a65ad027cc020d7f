"""``grokjax figure NAME --seeds ...``: every seed is run and kept, the claim is judged on the seed means, the
seed-0 member equals the default (single-seed) run, and ``--from`` re-judges to the same verdict. The default run
of fig1 also gets tests/test_figure_from.py's check (``--from`` re-plots it without computing): that is fig_poly's
case of that check (with -m slow, as is its own, phase, there)."""
import numpy as np
import pytest

from _cli import assert_from_rejudges_without_computing, run_tiny_figure
from grokjax import cli
from grokjax.store import load_dataset


def _figure(tmp_path, capsys, name, *extra):
    out = tmp_path / "_".join([name, *extra]).replace(" ", "")
    assert cli.main(["figure", name, "--size", "tiny", "--out", str(out), "--quiet", *extra]) == 0
    report = [line for line in capsys.readouterr().out.splitlines() if "HOLDS" in line]
    return load_dataset(out / "data" / f"{name}.nc"), report, out


# with -m slow (19 s: two fig1 programs and eight plots). The default suite keeps one end-to-end test of
# `figure --seeds` (the task figure below) and re-judges fig1's committed dataset (tests/test_committed_figures.py);
# the seed axis of the polynomial sweep that this figure batches is compared with separate runs in
# tests/test_poly_dynamics.py (test_vmapped_sweep_equals_individual_runs).
@pytest.mark.parametrize("name", [pytest.param("fig1", marks=pytest.mark.slow),
                                  pytest.param("fig3a", marks=pytest.mark.slow)])
def test_poly_figure_with_seeds_keeps_every_seed_and_judges_the_mean(name, tmp_path, capsys, monkeypatch):
    import experiments.fig_poly as F
    from experiments._figure import seed_mean

    out_single = tmp_path / "single"
    first, data_single = run_tiny_figure(name, out_single, capsys)
    single = load_dataset(data_single)
    multi, report, out = _figure(tmp_path, capsys, name, "--seeds", "0", "3")
    assert "seed" not in single.dims and list(multi["seed"].values) == [0, 3]
    assert multi.attrs["seeds"] in ([0, 3], "[0, 3]")
    np.testing.assert_allclose(multi["test_loss"].sel(seed=0).values, single["test_loss"].values,
                               rtol=1e-4, atol=1e-6)  # float32: the batch of two seeds reorders reductions
    assert not np.allclose(multi["test_loss"].sel(seed=3).values, single["test_loss"].values)  # another draw
    check = F.judge(name, multi)
    mean = seed_mean(multi)
    assert check.numbers == F.judge(name, mean).numbers                      # judged on the seed means
    assert cli.main(["figure", name, "--from", str(out / "data" / f"{name}.nc"), "--quiet"]) == 0
    again = [line for line in capsys.readouterr().out.splitlines() if "HOLDS" in line]
    assert again == report
    # the default (single-seed) dataset: --from re-judges it to the same verdict and re-plots it, computing nothing
    assert_from_rejudges_without_computing(name, F, data_single, out_single, first, capsys, monkeypatch)


def test_task_figure_with_seeds_runs_those_seeds(tmp_path, capsys):
    """Also the default suite's check of what a task figure writes (tests/test_tasks_runs.py has the single-seed
    run through the Python API with -m slow): plots, a dataset naming its figure and configuration, a verdict."""
    from experiments import tasks_modular
    from grokjax.store import run_config

    ds, report, out = _figure(tmp_path, capsys, "fig2", "--seeds", "1", "2")
    assert list(ds["seed"].values) == [1, 2] and report
    assert run_config(ds, "modular")["seed"] == [1, 2] and ds.attrs["figure"] == "fig2"
    assert (out / "fig2.png").stat().st_size > 0 and (out / "fig2.pdf").exists()
    check = tasks_modular.judge("fig2", ds)
    assert isinstance(check.holds, bool) and check.numbers["weight_norm_final"] > check.numbers["weight_norm_init"]
