"""Test helper: what a self-describing dataset carries (shared by tests/test_metadata.py and the emulated GPU
image's dry run in tests/test_gpu_check.py, whose datasets are netCDF3 written without h5netcdf)."""
from __future__ import annotations

from grokjax._metadata import ATTRS


def assert_self_describing(ds) -> None:
    """Every variable has non-empty string ``long_name`` / ``units`` / ``description``; the dataset the run's
    conventions, engine, versions and device."""
    for name, var in ds.variables.items():
        for key in ATTRS:
            assert isinstance(var.attrs.get(key), str) and var.attrs[key], (name, key)
    for key in ("conventions", "engine", "version_jax", "version_grokjax", "device"):
        assert key in ds.attrs, key


def assert_fig1_dataset_describes_itself(ds) -> None:
    """A fig1 dataset (any size) as written by ``grokjax figure fig1``: self-describing, with its conventions."""
    assert_self_describing(ds)
    assert ds.attrs["engine"] in ("weights", "reduced") and ds.attrs["data_convention"] == "A"
    assert "no 1/2" in ds["train_loss"].attrs["description"]
    assert ds["kernel_movement"].attrs["units"] == "1" and "n_align" in ds["kernel_movement"].attrs["description"]
    assert ds["step"].attrs["units"] == "steps"
