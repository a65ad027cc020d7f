"""Grokking metrics computed from logged loss curves (numpy, vectorised over leading axes).

* ``first_below(steps, curve, threshold)``: first logged step at which ``curve < threshold`` (NaN if never);
* ``grokking_delay``: first step the test curve is below the threshold minus the same for the train curve;
* ``bump_height``: max over time of the test loss minus its initial value (> 0 means the test loss rose);
* ``half_drop_step(steps, curve)``: first step where a curve has made half of its descent (the figures' delay rule).
Thresholds are absolute unless ``relative=True``, in which case each curve is divided by its first value.
Resolution is that of the logging schedule.
"""
from __future__ import annotations

import numpy as np

from grokjax._errors import require


def first_crossing(steps, curve, threshold, *, below: bool = True, inclusive: bool = False):
    """First logged step where ``curve`` (last axis = time) crosses ``threshold``: ``curve < threshold``
    (``below``; ``<=`` when ``inclusive``) or ``curve > threshold`` (``>=`` when ``inclusive``); NaN where it
    never does (NaN values never cross). The one threshold-crossing rule of the package (simulator, tasks,
    figures); a float for a 1-D curve, else an array over the leading axes."""
    curve = np.asarray(curve, dtype=float)
    if below:
        c = np.nan_to_num(curve, nan=np.inf)
        hit = c <= threshold if inclusive else c < threshold
    else:
        c = np.nan_to_num(curve, nan=-np.inf)
        hit = c >= threshold if inclusive else c > threshold
    idx = np.argmax(hit, axis=-1)
    found = np.take_along_axis(hit, idx[..., None], axis=-1)[..., 0]
    return np.where(found, np.asarray(steps, dtype=float)[idx], np.nan)[()]


def first_below(steps, curve, threshold):
    """First step where ``curve`` drops strictly below ``threshold`` (:func:`first_crossing`)."""
    return first_crossing(steps, curve, threshold)


def half_drop_step(steps, curve):
    """First logged step (from the first update on) at which ``curve`` (last axis = time) has made half of its
    total descent, from its value after the first update to its minimum: the delay rule of the paper figures
    (defined for every run, including lazy ones whose test loss only reaches a plateau)."""
    steps = np.asarray(steps, dtype=float)[1:]
    c = np.asarray(curve, dtype=float)[..., 1:]
    level = c[..., 0] - 0.5 * (c[..., 0] - np.nanmin(c, axis=-1))
    return steps[np.argmax(c <= level[..., None], axis=-1)][()]


def half_drop_delay(steps, train, test, *, below: bool = True):
    """The grokking delay by the half-drop rule (the paper figures'): :func:`half_drop_step` of the test curve
    minus that of the train curve (last axis = time; any leading axes). ``below=False`` for curves that rise
    (accuracies): the step where half of the total rise is made. The one public implementation of this rule."""
    sign = 1.0 if below else -1.0
    train, test = sign * np.asarray(train, float), sign * np.asarray(test, float)
    return half_drop_step(steps, test) - half_drop_step(steps, train)


def threshold_delay(steps, train, test, threshold: float, *, below: bool = True, inclusive: bool = True):
    """The grokking delay by a threshold: first logged step where the test curve crosses ``threshold`` minus
    the same for the train curve (:func:`first_crossing`; losses ``below``, accuracies ``below=False``,
    ``inclusive``: the threshold itself counts). NaN where a curve never crosses. The one public implementation
    of this rule."""
    return (first_crossing(steps, test, threshold, below=below, inclusive=inclusive)
            - first_crossing(steps, train, threshold, below=below, inclusive=inclusive))


def grokking_metrics(steps, train, test, threshold: float, relative: bool = False) -> dict[str, np.ndarray]:
    """Train/test threshold-crossing steps, their delay (test - train) and the test-loss bump height."""
    require(isinstance(threshold, (int, float, np.floating)) and not isinstance(threshold, bool)
            and np.isfinite(threshold) and threshold > 0, "threshold", f"must be a finite number > 0, got {threshold!r}")
    train, test, n = np.asarray(train, float), np.asarray(test, float), np.shape(steps)
    require(len(n) == 1 and n[0] >= 1, "steps", f"must be a non-empty list of steps, got shape {n}")
    for name, curve in (("train", train), ("test", test)):  # a curve of another length would be misread silently
        require(curve.ndim >= 1 and curve.shape[-1] == n[0], name, f"must have one value per step ({n[0]}) on its "
                f"last axis, got shape {curve.shape}")
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
