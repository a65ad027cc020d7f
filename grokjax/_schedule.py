"""Static logging schedules (steps after which metrics are recorded; always starts at 0, ends at ``steps``)."""
from __future__ import annotations

import numpy as np


def log_steps(steps: int, n_log: int, kind: str = "log") -> np.ndarray:
    """Integer steps 0 = s_0 < s_1 < ... = steps; log-spaced (unique after rounding) or evenly spaced."""
    if kind == "linear":
        every = max(1, steps // max(1, n_log))
        out = np.arange(0, steps + 1, every)
        if out[-1] != steps:
            out = np.append(out, steps)
        return out.astype(np.int64)
    grid = np.unique(np.round(np.geomspace(1, steps, max(2, n_log - 1))).astype(np.int64))
    return np.concatenate([[0], grid]).astype(np.int64)
