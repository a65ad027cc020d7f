"""Result files, CLI listing and every polynomial-task figure at tiny size."""
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

import grokjax as gj
from experiments import available_figures, find_figure
from grokjax import ConfigError


def test_dataset_round_trip_keeps_config_and_provenance(tmp_path):
    ds = xr.Dataset({"train_loss": (("alpha", "step"), np.arange(6.0).reshape(2, 3))},
                    coords={"alpha": [0.5, 1.0], "step": [0, 1, 10]})
    cfg = gj.PolyConfig(D=7)
    path = gj.save_dataset(ds, tmp_path / "sub" / "r.nc", config=cfg)
    back = gj.load_dataset(path)
    xr.testing.assert_equal(back[["train_loss"]], ds)
    from grokjax.store import run_config
    assert run_config(back)["D"] == 7 and "version_jax" in back.attrs and "device" in back.attrs
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["r.nc"]  # no temporary file left behind


def test_failed_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "r.nc"
    ds = xr.Dataset({"train_loss": ("step", np.arange(3.0))})
    gj.save_dataset(ds, path)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(OSError):
        gj.save_dataset(ds * 2, path, overwrite=True)
    np.testing.assert_array_equal(gj.load_dataset(path)["train_loss"].values, np.arange(3.0))
    assert [p.name for p in tmp_path.iterdir()] == ["r.nc"]


def test_cli_lists_tasks_and_figures():
    out = subprocess.run([sys.executable, "-m", "grokjax", "list"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0
    for name in ("poly", "fig1", "fig3a", "fig3b", "phase", "fig6"):
        assert name in out.stdout


@pytest.mark.slow  # tests/test_figure_from.py runs these figures in the default suite
@pytest.mark.parametrize("name", ["fig1", "fig3a", "fig3b", "phase", "fig6"])
def test_poly_figures_at_tiny_size(tmp_path, name):
    check = find_figure(name)(name, "tiny", tmp_path, quiet=True)
    assert check.figure == name and check.numbers and isinstance(check.holds, bool)
    assert (tmp_path / f"{name}.png").stat().st_size > 1000 and (tmp_path / f"{name}.pdf").exists()
    ds = gj.load_dataset(tmp_path / "data" / f"{name}.nc")
    assert "test_loss" in ds and ds.attrs["figure"] == name
    assert name in available_figures()
    assert ("HOLDS" if check.holds else "DOES NOT HOLD") in check.report()


def test_save_figure_writes_the_formats_asked_for_and_refuses_others_before_writing(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import experiments.fig_poly as F
    from grokjax.figures import make_figure, save_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    assert [p.name for p in save_figure(fig, tmp_path, "a")] == ["a.png", "a.pdf"]
    assert [p.name for p in save_figure(fig, tmp_path, "b", formats=("svg",))] == ["b.svg"]
    assert (tmp_path / "b.svg").read_text().lstrip().startswith("<?xml")
    for bad in ((), ("png", "png"), ("jpeg",), ("png", "eps"), 3, [["png"]]):
        with pytest.raises(ConfigError) as info:
            save_figure(fig, tmp_path, "c", formats=bad)
        assert info.value.field == "formats"
    plt.close(fig)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pdf", "a.png", "b.svg"]
    monkeypatch.setattr(F, "run", lambda *a, **k: pytest.fail("computed before checking formats"))
    with pytest.raises(ConfigError, match="formats"):
        make_figure("fig1", "tiny", tmp_path / "out", formats=("gif",))
    assert not (tmp_path / "out").exists()
