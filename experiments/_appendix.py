"""Shared pieces of the appendix studies of the polynomial committee machine (paper-math.md section 4,
App 8.4-18; modules ``experiments/app_*.py``): the regime rule and the labelled-dataset helper.

Every appendix figure is run -> dataset -> judge -> plot (``experiments/__init__.py``): ``paper`` is the spec's
setting where it is known, ``small`` runs in about a minute or two on 2 shared CPU cores, ``tiny`` is for the tests
(not meant to show the claim). Conventions: symlog step axes (step 0 at 0), train dashed, test solid; losses are
the plain MSE (no 1/2); step size eta = eta0 N / alpha^2. Values the spec marks UNKNOWN (or that we changed so the
claim can show) are stated in each figure's ClaimCheck ``details`` and in the dataset attribute ``choices``.

Regime classification (:func:`classify`; eigenvector-label tasks App 8.4 / App 18, and the other studies' reports),
on each run's train/test curves divided by their initial values:

* ``never``: the final test loss is >= half its initial value;
* ``grokking``: it generalises (final < half) and, while the network fits the train set, the test loss does not
  follow: when the train loss first halves the test loss is still >= 90% of its initial value, or before that
  moment the test loss rose above 110% of its initial value (the lazy-phase bump);
* ``immediate``: it generalises without either signature.
"""
from __future__ import annotations

import json

import numpy as np

from experiments._figure import drop_index
from grokjax.store import attach_config, config_to_json

REGIMES = ("immediate", "grokking", "never")


def study_dataset(ds, size, config, **attrs):
    """``ds`` with what judge and plot read besides the curves: the run's config (:func:`grokjax.store.attach_config`;
    read it with ``grokjax.store.run_config(ds)``), ``size`` and the extra attributes (made JSON-able)."""
    ds.attrs.update({k: v if isinstance(v, (str, int, float)) else json.loads(config_to_json(v))
                     for k, v in attrs.items()})
    attach_config(ds, config).attrs["size"] = size
    return ds


def classify(steps, train, test) -> str:
    """Regime of one run: "immediate", "grokking" or "never" (module docstring)."""
    train, test = np.asarray(train, float), np.asarray(test, float)
    r_tr, r_te = train / train[0], test / test[0]
    if not np.isfinite(r_te[-1]) or r_te[-1] >= 0.5:
        return "never"
    i = drop_index(r_tr, 0.5)
    return "grokking" if (r_te[i] >= 0.9 or r_te[: i + 1].max() >= 1.1) else "immediate"


def test_at_train_half(train, test):
    """Test loss (relative to its initial value) when the train loss first halves (the last point if never)."""
    train, test = np.asarray(train, float), np.asarray(test, float)
    r_tr = train / train[0]
    i = drop_index(r_tr, 0.5)
    return float(test[i] / test[0])
