"""Plot helpers in the paper's conventions (log-x, train dashed / test solid)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def new_figure(ncols: int = 1, width: float = 4.8, height: float = 3.6, layout: str | None = None):
    """One row of panels; ``layout="constrained"`` keeps axis labels (and twin axes) from running into
    neighbours (the other figures call ``tight_layout`` themselves)."""
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False, layout=layout)
    return fig, list(axes[0])


def step_axis(ax, label: str = "GD steps"):
    """Log-like step axis that shows step 0 where it is: symlog, linear on [0, 1] and logarithmic above."""
    ax.set_xscale("symlog", linthresh=1.0, linscale=1.0)
    ax.set_xmargin(0)  # the axis starts at the first logged step (0)
    ax.set_xlabel(label)


def mean_band(ax, x, values, fmt="-", color=None, label=None, alpha=0.2, **kw):
    """Plot ``values`` against ``x``: a 1-D curve as it is; a 2-D ``(seed, x)`` array as its seed mean with a
    ±1 SEM band (standard error over the seeds). Returns the line."""
    values = np.asarray(values, float)
    mean = values.mean(0) if values.ndim == 2 else values
    (line,) = ax.plot(x, mean, fmt, color=color, label=label, **kw)
    if values.ndim == 2 and values.shape[0] > 1:
        sem = values.std(0, ddof=1) / np.sqrt(values.shape[0])
        ax.fill_between(x, mean - sem, mean + sem, color=line.get_color(), alpha=alpha, lw=0)
    return line


def loss_curves(ax, steps, train, test, color=None, label=None, normalise: int | None = None, lw=1.6):
    """Train dashed, test solid, against steps on :func:`step_axis` (step 0 at 0); 2-D ``(seed, step)`` curves
    are drawn as seed means with ±1 SEM bands (:func:`mean_band`), each seed normalised before averaging."""
    steps = np.asarray(steps, float)
    train, test = np.asarray(train, float), np.asarray(test, float)
    if normalise is not None:
        train, test = train / train[..., normalise:normalise + 1], test / test[..., normalise:normalise + 1]
    line = mean_band(ax, steps, test, "-", color=color, label=label, lw=lw)
    mean_band(ax, steps, train, "--", color=line.get_color(), lw=lw)
    step_axis(ax)
    return line


def loss_panel(ax, steps, train, test, title: str, xlabel: str = "step", color="C0", logy: bool = False):
    """A run's loss panel: train MSE dashed, test MSE solid (2-D ``(seed, step)`` curves as seed means with ±1 SEM
    bands, :func:`mean_band`) on :func:`step_axis`, y label, ``title`` and legend."""
    mean_band(ax, steps, train, "--", color=color, label="train MSE")
    mean_band(ax, steps, test, "-", color=color, label="test MSE")
    step_axis(ax, xlabel)
    if logy:
        ax.set_yscale("log")
    ax.set_ylabel("MSE")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)


def network_vs_linearised(ax, steps, curves, xlabel: str, ylabel: str):
    """The network (C0) beside its exact linearisation (black), train dashed / test solid, from ``curves`` holding
    ``train_loss``, ``test_loss``, ``lin_train_loss``, ``lin_test_loss``; step axis, log y, legend."""
    for var, style, color, label in (("train_loss", "--", "C0", "network train"),
                                     ("test_loss", "-", "C0", "network test"),
                                     ("lin_train_loss", "--", "k", "linearised train"),
                                     ("lin_test_loss", "-", "k", "linearised test")):
        ax.plot(steps, curves[var], style, color=color, label=label)
    step_axis(ax, xlabel)
    ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)


def train_test_keys(ax, **legend_kw):
    """Legend with the model entries of ``ax`` plus keys for the line styles (dashed = train, solid = test)."""
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="0.4", ls="--"), Line2D([], [], color="0.4", ls="-")]
    labels += ["train (dashed)", "test (solid)"]
    return ax.legend(handles, labels, **legend_kw)


def cell_edges(centres) -> np.ndarray:
    """Edges of the cells around grid points (midpoints; half a spacing beyond the ends), for pcolormesh."""
    c = np.asarray(centres, float)
    mid = (c[:-1] + c[1:]) / 2 if len(c) > 1 else np.array([])
    first = c[0] - (mid[0] - c[0]) if len(c) > 1 else c[0] - 0.5
    last = c[-1] + (c[-1] - mid[-1]) if len(c) > 1 else c[0] + 0.5
    return np.concatenate([[first], mid, [last]])


def panel_grid(nrows: int, ncols: int):
    """A grid of small panels (2.3 x 1.9 in each) with room for their titles; returns ``fig, rows of axes``."""
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.3 * ncols, 1.9 * nrows), squeeze=False)
    fig.subplots_adjust(hspace=0.6, wspace=0.35)
    return fig, [list(row) for row in axes]


def colors(n: int, cmap: str = "viridis"):
    return [plt.get_cmap(cmap)(v) for v in np.linspace(0.05, 0.9, n)]
