"""DMFT figures at the tiny size: run -> dataset -> judge -> plot, and ``--from`` re-judges without computing."""
import numpy as np
import pytest

from grokjax import cli


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fig4", "fig4b", "dmft-delay"])
def test_dmft_figure_tiny_and_from(name, tmp_path, capsys, monkeypatch):
    out = tmp_path / "figs"
    assert cli.main(["figure", name, "--size", "tiny", "--out", str(out), "--quiet"]) == 0
    first = capsys.readouterr().out
    data = out / "data" / f"{name}.nc"
    assert data.exists() and (out / f"{name}.png").exists()

    import experiments.fig_dmft as fig

    monkeypatch.setattr(fig, "solve_dmft", lambda *a, **k: pytest.fail("--from must not compute"))
    assert cli.main(["figure", name, "--from", str(data), "--out", str(tmp_path / "again")]) == 0
    second = capsys.readouterr().out
    verdict = [line for line in first.splitlines() if line.startswith(f"[{name}]")]
    assert verdict and verdict == [line for line in second.splitlines() if line.startswith(f"[{name}]")]


def test_feature_alignment_closed_form():
    """The overlap formula equals the cosine of explicit matrices W_t^T W_t - W_0^T W_0 and beta beta^T."""
    from experiments.fig_dmft import feature_alignment

    rng = np.random.default_rng(1)
    D, N = 50, 3
    W0, Wt, beta = rng.normal(size=(N, D)), rng.normal(size=(N, D)), rng.normal(size=D)
    dM = Wt.T @ Wt - W0.T @ W0
    B = np.outer(beta, beta)
    direct = np.sum(dM * B) / (np.linalg.norm(dM) * np.linalg.norm(B))
    rho = beta @ beta / D
    got = feature_alignment(Wt @ beta / D, Wt @ Wt.T / D, Wt @ W0.T / D, W0 @ W0.T / D, W0 @ beta / D, rho)
    assert abs(got - direct) < 1e-12
