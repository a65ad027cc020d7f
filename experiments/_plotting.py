"""Plot helpers in the paper's conventions (log-x, train dashed / test solid)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def new_figure(ncols: int = 1, width: float = 4.8, height: float = 3.6):
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, list(axes[0])


def loss_curves(ax, steps, train, test, color=None, label=None, normalise: int | None = None, lw=1.6):
    """Train dashed, test solid, on log-x (step 0 is drawn at step 1 / 2 on the log axis)."""
    steps = np.asarray(steps, float)
    x = np.where(steps == 0, 0.5, steps)
    train, test = np.asarray(train, float), np.asarray(test, float)
    if normalise is not None:
        train, test = train / train[normalise], test / test[normalise]
    (line,) = ax.plot(x, test, "-", color=color, label=label, lw=lw)
    ax.plot(x, train, "--", color=line.get_color(), lw=lw)
    ax.set_xscale("log")
    ax.set_xlabel("GD steps")
    return line


def close(fig):
    plt.close(fig)


def colors(n: int, cmap: str = "viridis"):
    return [plt.get_cmap(cmap)(v) for v in np.linspace(0.05, 0.9, n)]
