"""Self-describing datasets: every variable has long_name / units / description, ds.attrs the conventions."""
import warnings

import numpy as np
import pytest
import xarray as xr
from _datasets import assert_fig1_dataset_describes_itself, assert_self_describing
from _layouts import CHECKPOINT_LAYOUT

import grokjax as gj
from experiments import find_figure
from grokjax._metadata import (COORDINATES, FIGURE_VARIABLES, VARIABLES,
                               MissingMetadataError, MissingMetadataWarning, annotate, describe)


# with -m slow: the default suite checks the same on the fig1 dataset of the emulated GPU image's dry run
# (tests/test_gpu_check.py, netCDF3 without h5netcdf), which computes fig1 tiny anyway
@pytest.mark.slow
def test_figure_dataset_opened_with_xarray_describes_every_variable(tmp_path):
    find_figure("fig1")("fig1", "tiny", tmp_path, quiet=True)
    with xr.open_dataset(tmp_path / "data" / "fig1.nc", engine="h5netcdf") as ds:
        assert_fig1_dataset_describes_itself(ds)


def test_context_overrides_and_one_line_entries():
    assert "no 1/2" in describe("train_loss")[2]
    assert "eigenvector" in describe("alignment", figure="app8.4")[2]
    tables = [VARIABLES, COORDINATES, *FIGURE_VARIABLES.values()]
    for table in tables:
        for name, entry in table.items():
            assert len(entry) == 3 and all(isinstance(v, str) and v and "\n" not in v for v in entry), name
    for name in gj.METRICS + ("kr_test_loss", "diverged_step", "lazy_diverged_step"):
        assert name in VARIABLES, name


def test_missing_entry_is_refused_in_strict_mode_and_warns_otherwise(tmp_path, monkeypatch):
    ds = xr.Dataset({"mystery": ("step", np.arange(3.0))}, coords={"step": [0, 1, 2]})
    with pytest.raises(MissingMetadataError, match="mystery"):
        gj.save_dataset(ds, tmp_path / "a.nc")
    assert not (tmp_path / "a.nc").exists()
    monkeypatch.delenv("GROKJAX_STRICT_METADATA", raising=False)
    with pytest.warns(MissingMetadataWarning, match="mystery"):
        gj.save_dataset(ds, tmp_path / "b.nc")
    described = ds.copy()
    described["mystery"].attrs.update(long_name="m", units="1", description="set by the writer")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = annotate(described)
    assert out["mystery"].attrs["description"] == "set by the writer"
    assert "long_name" not in ds["step"].attrs  # annotate works on a copy


def test_sweep_saved_by_save_dataset_is_self_describing(tmp_path):
    # the sweep of tests/test_checkpoints.py and tests/test_dataset_schema.py: one compiled program for the three
    cfg = gj.PolyConfig(**CHECKPOINT_LAYOUT)
    ds = gj.run_sweep(cfg, {"alpha": [1.0, 2.0, 4.0]}, [0, 1], chunk_size=2)
    path = gj.save_dataset(ds, tmp_path / "s.nc", config=cfg, task="poly")
    with xr.open_dataset(path, engine="h5netcdf") as back:
        assert_self_describing(back)
        assert back.attrs["engine"] == gj.choose_engine(cfg) and back.attrs["task"] == "poly"
        assert back["alpha"].attrs["long_name"] == "output scale alpha"
