"""``grokjax figure NAME --from PATH`` re-judges and re-plots a saved dataset without computing."""
import pytest

from grokjax import cli


def test_figure_from_dataset_prints_the_same_verdict(tmp_path, capsys, monkeypatch):
    out = tmp_path / "figs"
    assert cli.main(["figure", "fig3b", "--size", "tiny", "--out", str(out), "--quiet"]) == 0
    first = capsys.readouterr().out
    data = out / "data" / "fig3b.nc"
    assert f"wrote {data}" in first and data.exists()
    (out / "fig3b.png").unlink()

    import experiments.fig_poly

    monkeypatch.setattr(experiments.fig_poly, "run_sweep", lambda *a, **k: pytest.fail("--from must not compute"))
    assert cli.main(["figure", "fig3b", "--from", str(data)]) == 0
    second = capsys.readouterr().out
    verdict = [line for line in first.splitlines() if line.startswith("[fig3b]")]
    assert verdict and verdict == [line for line in second.splitlines() if line.startswith("[fig3b]")]
    assert (out / "fig3b.png").exists()


def test_figure_from_refused_for_a_figure_not_yet_split(tmp_path, capsys):
    path = tmp_path / "x.nc"
    path.write_text("not a dataset")
    assert cli.main(["figure", "fig6", "--from", str(path)]) == 2
    assert "'from'" in capsys.readouterr().err
