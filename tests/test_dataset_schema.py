"""One dataset layout (grokjax/store.py docstring): the run configuration in one schema, written only by the store;
``metadata_schema``, ``version_grokjax`` and the git commit on every saved dataset; long_name / units /
description on every variable. Round trips of a poly run, a task run and a figure, and the checker itself."""
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from _layouts import CHECKPOINT_LAYOUT

import grokjax as gj
from grokjax import cli, store
from grokjax.store import METADATA_SCHEMA, attach_config, check_dataset_schema, run_config

ROOT = Path(__file__).resolve().parents[1]


def _head() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                          timeout=5).stdout.strip()


def _assert_current(path, names):
    """``path`` has the current layout, configurations ``names``, and the commit of this checkout."""
    assert check_dataset_schema(path) == []
    ds = gj.load_dataset(path)
    assert int(ds.attrs["metadata_schema"]) == METADATA_SCHEMA
    assert ds.attrs["config"]["schema"] == METADATA_SCHEMA and sorted(ds.attrs["config"]["configs"]) == sorted(names)
    assert ds.attrs["version_grokjax"]
    head = _head()
    if head:  # this checkout is a git repository (the package is imported from it)
        assert ds.attrs["git_commit"] == head and ds.attrs["git_dirty"] in ("true", "false")
    else:  # an exported source tree: no commit to record
        assert ds.attrs["git_commit"] == ds.attrs["git_dirty"] == "unknown"
    for name, var in ds.variables.items():
        assert var.attrs["long_name"] and var.attrs["units"] and var.attrs["description"], name
    return ds


def test_poly_run_round_trip(tmp_path):
    # the sweep of tests/test_checkpoints.py (BASE, SWEEP, SEEDS, chunks of 2) and tests/test_metadata.py: one
    # compiled program for the three (the session's persistent XLA cache)
    cfg = gj.PolyConfig(**CHECKPOINT_LAYOUT)
    path = gj.save_dataset(gj.run_sweep(cfg, {"alpha": [1.0, 2.0, 4.0]}, [0, 1], chunk_size=2), tmp_path / "s.nc",
                           config=cfg, task="poly")
    ds = _assert_current(path, ["run"])
    assert ds.attrs["config"]["configs"]["run"]["type"] == "grokjax._config.PolyConfig"
    assert run_config(ds) == run_config(ds, "run") and run_config(ds)["D"] == 8
    assert ds.attrs["data_convention"] == str(cfg.convention)


def test_task_run_round_trip(tmp_path):
    out = tmp_path / "m.nc"
    # the layout of the tiny modular runs of tests/test_tasks_runs.py (MODULAR there): one compiled program
    assert cli.main(["run", "modular", "--p", "11", "--hidden", "50", "--steps", "400", "--log-points", "10",
                     "--seed", "0", "1", "--kernel-points", "12", "--alpha", "0.5", "1", "--quiet",
                     "--out", str(out)]) == 0
    ds = _assert_current(out, ["run"])
    assert ds.attrs["config"]["configs"]["run"]["type"].endswith("modular.Config")
    assert run_config(ds)["p"] == 11 and ds.attrs["task"] == "modular"


def test_figure_round_trip(tmp_path):
    from grokjax.figures import make_figure

    make_figure("fig4b", "tiny", tmp_path, quiet=True)
    ds = _assert_current(tmp_path / "data" / "fig4b.nc", ["base", "solver", "run"])
    assert run_config(ds, "base")["eps"] == 0.5 and ds.attrs["config"]["configs"]["solver"]["type"] == \
        "dmft._config.SolverConfig"


def test_config_schema_and_bad_configs():
    ds = xr.Dataset({"train_loss": ("step", np.zeros(2))}, coords={"step": [0, 1]})
    attach_config(ds, {"a": gj.PolyConfig(D=5), "b": {"x": (1, 2)}})
    assert ds.attrs["config"]["configs"]["b"] == {"type": "dict", "fields": {"x": [1, 2]}}
    assert run_config(ds, "a")["D"] == 5
    with pytest.raises(gj.ConfigError, match="config.*name one"):
        run_config(ds)
    with pytest.raises(gj.ConfigError, match="no configuration 'c'"):
        run_config(ds, "c")
    for bad in ({"alpha": [0.5]}, {}, 3, {"": {}}):
        with pytest.raises(gj.ConfigError, match="config"):
            attach_config(ds, bad)
    old = ds.copy()
    old.attrs["config"] = {"D": 5}  # an older layout
    with pytest.raises(gj.ConfigError, match="current schema"):
        run_config(old)


def test_another_shape_is_refused_and_old_files_are_reported(tmp_path):
    ds = xr.Dataset({"train_loss": ("step", np.zeros(2))}, coords={"step": [0, 1]}, attrs={"config": {"D": 5}})
    with pytest.raises(gj.ConfigError, match="config"):
        gj.save_dataset(ds, tmp_path / "a.nc")
    ds.attrs["config"] = '{"D": 5}'
    ds.to_netcdf(tmp_path / "old.nc", engine="h5netcdf")
    problems = check_dataset_schema(tmp_path / "old.nc")
    assert any("metadata_schema" in p for p in problems) and any("config is not" in p for p in problems)
    assert any("git_commit" in p for p in problems) and any("variable train_loss lacks" in p for p in problems)
    (tmp_path / "junk.nc").write_bytes(b"junk")
    assert check_dataset_schema(tmp_path / "junk.nc")[0].startswith("unreadable")


def test_git_failure_never_fails_a_save(tmp_path, monkeypatch):
    def no_git(*args, **kwargs):
        raise subprocess.TimeoutExpired(args[0], 5)

    monkeypatch.setattr(store.subprocess, "run", no_git)
    assert store.git_provenance() == {"git_commit": "unknown", "git_dirty": "unknown"}
    path = gj.save_dataset(xr.Dataset({"train_loss": ("step", np.zeros(2))}, coords={"step": [0, 1]}),
                           tmp_path / "a.nc", config=gj.PolyConfig())
    assert gj.load_dataset(path).attrs["git_commit"] == "unknown"


def test_only_the_store_writes_the_config_attribute():
    pattern = re.compile(r'attrs\["config"\]\s*=(?!=)|attrs\.update\([^)]*\bconfig=|attrs=\{[^}]*"config"\s*:')
    writers = [f"{path.relative_to(ROOT)}:{i}" for folder in ("grokjax", "dmft", "experiments")
               for path in sorted((ROOT / folder).rglob("*.py"))
               for i, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert writers == [w for w in writers if w.startswith("grokjax/store.py:")] and writers, writers
