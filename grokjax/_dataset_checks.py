"""Checks of a saved figure dataset before ``grokjax figure NAME --from FILE`` judges it.

A figure's dataset records its own layout when it is saved (``attrs["layout"]``: every variable with its dims and
dtype kind); :func:`check_figure_dataset` refuses (``ConfigError`` on ``from``) a file whose variables or dims no
longer match that record (a variable removed, renamed or re-shaped), a ``step`` axis with no steps, strings where
numbers were, and curves with no finite value — instead of a traceback from deep inside the judge, or a verdict
computed from NaN.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from grokjax._errors import ConfigError

__all__ = ["layout", "check_figure_dataset"]


def _has_finite(var) -> bool:
    return var.dtype.kind in "fiub" and bool(np.isfinite(np.asarray(var.values, dtype=float)).any())


def layout(ds) -> str:
    """JSON of ``{variable: [dims, dtype kind, has a finite value]}`` of a dataset (recorded in its attributes
    when saved: a curve that is all NaN by design, e.g. an alignment that was not measured, stays allowed)."""
    return json.dumps({name: [list(var.dims), var.dtype.kind, _has_finite(var)] for name, var in ds.data_vars.items()},
                      sort_keys=True)


def check_figure_dataset(ds, name: str, path: str | Path) -> None:
    """Raise ``ConfigError`` on ``from`` unless ``ds`` still has the layout it was saved with and every numeric
    curve has finite values."""
    def refuse(message: str):
        raise ConfigError("from", f"{path} (figure {name}): {message}")

    recorded = ds.attrs.get("layout")
    if isinstance(recorded, str):
        try:
            recorded = json.loads(recorded)
        except ValueError:
            refuse("its recorded layout is unreadable")
    if isinstance(recorded, dict):
        for var, (dims, kind, *finite) in recorded.items():
            if var not in ds.data_vars:
                refuse(f"variable {var!r} is missing (the figure's judge needs it)")
            have = ds[var]
            if list(have.dims) != list(dims):
                refuse(f"variable {var!r} has dims {list(have.dims)}, expected {list(dims)}")
            if kind in "fiub" and have.dtype.kind not in "fiub":
                refuse(f"variable {var!r} holds {have.dtype} values where numbers were saved")
            if finite and finite[0] and have.size and not _has_finite(have):
                refuse(f"curve {var!r} has no finite value (it had when saved)")
    for dim in ("step", "t", "time"):
        if dim in ds.dims and ds.sizes[dim] == 0:
            refuse(f"the {dim!r} axis is empty")
    curves = [v for v in ds.data_vars.values() if v.dtype.kind == "f" and ("step" in v.dims or "t" in v.dims)]
    if curves and not any(_has_finite(v) for v in curves):  # no record to compare with: nothing finite at all
        refuse("no curve has a finite value")
