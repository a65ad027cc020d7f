"""Grokking metrics computed from logged loss curves (numpy, vectorised over leading axes).

* ``first_below(steps, curve, threshold)``: first logged step at which ``curve < threshold`` (NaN if never);
* ``grokking_delay``: first step the test curve is below the threshold minus the same for the train curve;
* ``bump_height``: max over time of the test loss minus its initial value (> 0 means the test loss rose).
Thresholds are absolute unless ``relative=True``, in which case each curve is divided by its first value.
Resolution is that of the logging schedule.
"""
from __future__ import annotations

import numpy as np

from grokjax._errors import require


def first_below(steps, curve, threshold) -> np.ndarray:
    """First step where ``curve`` (last axis = time) drops below ``threshold``; NaN where it never does."""
    curve = np.asarray(curve, dtype=float)
    below = np.nan_to_num(curve, nan=np.inf) < threshold
    idx = np.argmax(below, axis=-1)
    hit = np.take_along_axis(below, idx[..., None], axis=-1)[..., 0]
    return np.where(hit, np.asarray(steps, dtype=float)[idx], np.nan)


def grokking_metrics(steps, train, test, threshold: float, relative: bool = False) -> dict[str, np.ndarray]:
    """Train/test threshold-crossing steps, their delay (test - train) and the test-loss bump height."""
    require(isinstance(threshold, (int, float, np.floating)) and not isinstance(threshold, bool)
            and np.isfinite(threshold) and threshold > 0, "threshold", f"must be a finite number > 0, got {threshold!r}")
    train, test = np.asarray(train, float), np.asarray(test, float)
    if relative:
        train = train / train[..., :1]
        test = test / test[..., :1]
    t_train = first_below(steps, train, threshold)
    t_test = first_below(steps, test, threshold)
    return {"t_train": t_train, "t_test": t_test, "delay": t_test - t_train,
            "bump": np.nanmax(test, axis=-1) - test[..., 0]}


def grokking_summary(ds, threshold: float, relative: bool = False,
                     train: str = "train_loss", test: str = "test_loss"):
    """:func:`grokking_metrics` of a sweep dataset, as a dataset over its non-step dims."""
    import xarray as xr

    dims = [d for d in ds[train].dims if d != "step"]
    values = grokking_metrics(ds["step"].values, ds[train].values, ds[test].values, threshold, relative)
    coords = {d: ds[d] for d in dims}
    return xr.Dataset({k: (dims, v) for k, v in values.items()}, coords=coords)
