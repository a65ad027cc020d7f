"""Result record of all DMFT solvers."""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class DMFTResult:
    """Curves on the time axis ``time = step * dt`` (``step`` = simulator GD step, spec §0.1).

    ``train``/``test``: plain MSE; ``gap = train - test``; ``m`` (T+1, N) = ``W beta/D``; ``Q`` (T+1, N, N)
    = ``W W^T/D``; ``Qt0`` = ``W_t W_0^T/D``.  ``residuals``: one relative residual norm per fixed-point
    sweep (empty for solvers without iteration).  ``extras``: solver-specific arrays (e.g. ``train_cv1``).
    """

    time: np.ndarray
    step: np.ndarray
    train: np.ndarray
    test: np.ndarray
    m: np.ndarray
    Q: np.ndarray
    Qt0: np.ndarray
    residuals: tuple = ()
    extras: dict = dataclasses.field(default_factory=dict)
    config: Any = None

    @property
    def gap(self) -> np.ndarray:
        return self.train - self.test

    def to_dataset(self):
        """The curves as an ``xarray.Dataset`` with dims ``("t", "unit", "unit2")``."""
        import xarray as xr

        data = {
            "train": ("t", self.train), "test": ("t", self.test), "gap": ("t", self.gap),
            "m": (("t", "unit"), self.m), "Q": (("t", "unit", "unit2"), self.Q),
            "Qt0": (("t", "unit", "unit2"), self.Qt0),
        }
        for key, value in self.extras.items():
            value = np.asarray(value)
            if value.ndim == 1 and value.shape[0] == self.time.shape[0]:
                data[key] = ("t", value)
        return xr.Dataset(data, coords={"t": self.time, "step": ("t", self.step)})
