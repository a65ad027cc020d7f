"""Labelled result datasets: one ``xarray.Dataset`` per sweep, saved atomically as netCDF (HDF5).

Every saved dataset carries, as attributes, the full configuration (JSON), the package versions and the
device it ran on, so a result file explains itself. Files are written to a temporary name in the same
folder and moved into place with ``os.replace`` (atomic on POSIX): a killed run never leaves a half file.
"""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["save_dataset", "load_dataset", "provenance", "config_to_json", "atomic_write_bytes"]


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray) or hasattr(value, "__array__") and not np.isscalar(value):
        return np.asarray(value).tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def config_to_json(config: Any) -> str:
    """Serialise a (possibly nested) frozen-dataclass config to JSON."""
    return json.dumps(_jsonable(config), sort_keys=True)


def provenance() -> dict[str, str]:
    """Package versions and the device this process computes on."""
    import jax

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("jax", "jaxlib", "optax", "equinox", "numpy", "xarray"):
        try:
            module = __import__(name)
            out[f"version_{name}"] = getattr(module, "__version__", "unknown")
        except ImportError:  # pragma: no cover - optional
            out[f"version_{name}"] = "missing"
    try:
        from importlib.metadata import version

        out["version_grokjax"] = version("grokjax")
    except Exception:  # pragma: no cover - not installed
        out["version_grokjax"] = "source"
    devices = jax.devices()
    out["device"] = f"{len(devices)}x {devices[0].device_kind} ({devices[0].platform})"
    return out


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_dataset(ds: xr.Dataset, path: str | Path, config: Any = None, **extra_attrs: Any) -> Path:
    """Save ``ds`` atomically to ``path`` (netCDF via h5netcdf) with config and provenance attributes."""
    path = Path(path)
    ds = ds.copy()
    attrs = dict(ds.attrs)
    if config is not None:
        attrs["config"] = config_to_json(config)
    attrs.update(provenance())
    for key, value in extra_attrs.items():
        attrs[key] = value if isinstance(value, (str, int, float)) else json.dumps(_jsonable(value))
    ds.attrs = {k: (json.dumps(_jsonable(v)) if isinstance(v, (dict, list, tuple, bool)) else v)
                for k, v in attrs.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        ds.to_netcdf(tmp, engine="h5netcdf")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_dataset(path: str | Path) -> xr.Dataset:
    """Load a dataset written by :func:`save_dataset` fully into memory; ``ds.attrs['config']`` is a dict."""
    with xr.open_dataset(path, engine="h5netcdf") as handle:
        ds = handle.load()
    if isinstance(ds.attrs.get("config"), str):
        ds.attrs["config"] = json.loads(ds.attrs["config"])
    return ds
