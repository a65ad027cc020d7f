"""Modular-addition figures (quadratic MLP, full-batch GD, no weight decay; ``grokjax.tasks.modular``): Fig 2,
the alpha sweep of Fig 2c, and App 17.1 (grokking in accuracy read off the loss curves of the same run).
Protocol, sizes, delay rule and plot conventions: ``experiments._task_figures``.
"""
from __future__ import annotations

import numpy as np

from experiments._figure import ClaimCheck
from experiments._plotting import loss_panel, mean_band, plt, step_axis
from experiments._task_figures import AlphaSweep, first_at_least, first_at_most, sweep_times, task_protocol

FIGURES = {
    "fig2": "modular addition, quadratic MLP, GD, no weight decay: accuracy + weight norm (notebook scaling)",
    "fig2c": "modular addition: alpha sweep of train/test accuracy (notebook scaling, output alpha^2)",
    "app17.1": "modular addition (the Fig 2 run): grokking in accuracy read off the loss curves of the same run",
}
SEEDED_FIGURES = set(FIGURES)  # every task figure's run takes ``seeds`` (its configs' init seeds; seed means)


# ------------------------------------------------------------------------------------------------ configs
_TINY = dict(p=11, hidden=50, alpha=(0.5,), steps=1500, log_points=30)
#: figure -> size -> run key -> ``grokjax.tasks.modular.Config`` keywords
CONFIGS = {
    "fig2": {"tiny": {"modular": _TINY},
             "small": {"modular": dict(alpha=(1.0,), steps=50_000, log_points=150, seed=(0,))},
             "paper": {"modular": dict(alpha=(1.0,), steps=50_000, log_points=400)}},
    "app17.1": {"tiny": {"modular": _TINY},
                "small": {"modular": dict(alpha=(1.0,), steps=50_000, log_points=400, seed=(0,))},
                "paper": {"modular": dict(alpha=(1.0,), steps=50_000, log_points=1000)}},
    "fig2c": {"tiny": {"modular": dict(_TINY, alpha=(0.25, 0.5))},
              "small": {"modular": dict(alpha=(0.25, 0.5, 0.75, 1.0), steps=30_000, log_points=120)},
              "paper": {"modular": dict(alpha=(0.5, 1.0, 1.5, 2.0), steps=100_000, log_points=400)}},
}
#: what the ``small`` size changes from the paper's setting
NOTES = {
    "fig2": "small = paper setting (p=23, N=100, 90% train, GD lr 100, alpha=1, 50k steps) with fewer logged points",
    "app17.1": ("small = paper setting (the Fig 2 run: p=23, N=100, 90% train, GD lr 100, alpha=1, 50k steps), 400 "
                "logged points"),
    "fig2c": ("small: alpha in {0.25,0.5,0.75,1} and 30k steps instead of {0.5,1,1.5,2} and 100k steps (the larger "
              "alphas need > 100k GD steps to fit)"),
}


# ------------------------------------------------------------------------------------------------ figures
def _plot_fig2(ds):
    steps = ds["step"].values
    sub = ds.isel(alpha=0).transpose("seed", ...)
    fig, (ax1, ax3) = plt.subplots(1, 2, figsize=(11, 4))
    mean_band(ax1, steps, sub["train_acc"].values, "--", color="C0", label="train accuracy")
    mean_band(ax1, steps, sub["test_acc"].values, "-", color="C0", label="test accuracy")
    step_axis(ax1, "step (full-batch GD)")
    ax1.set_ylabel("accuracy")
    ax2 = ax1.twinx()
    mean_band(ax2, steps, sub["weight_norm"].values, "--", color="C1", label="weight norm")
    ax2.set_ylabel(r"$\|W_1\|_F+\|W_2\|_F$")
    h1, l1 = ax1.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax1.legend(h1 + h2, l1 + l2, fontsize=8, loc="center left")
    a = float(ds["alpha"].values[0])
    ax1.set_title(f"(a) modular addition p={ds.attrs.get('p', '')}, alpha={a:g}, no weight decay", fontsize=9)
    loss_panel(ax3, steps, sub["train_loss"].values, sub["test_loss"].values, "(b) losses", "step (full-batch GD)")
    return fig


def _judge_fig2(ds):
    sub = ds.isel(alpha=0).mean("seed")
    a = float(ds["alpha"].values[0])
    t = sweep_times(ds, "train_acc", "test_acc", 0.9, 0.9)
    tt, te = t["t_train"][0], t["t_test"][0]
    wn = sub["weight_norm"].values
    s = ds["step"].values

    def wn_at(step):
        return float(np.interp(step, s, wn)) if np.isfinite(step) else float("nan")

    numbers = {"alpha": a, "t_train90": tt, "t_test90": te, "delay": te - tt, "delay_ratio": t["ratio"][0],
               "weight_norm_init": float(wn[0]), "weight_norm_at_t_train": wn_at(tt),
               "weight_norm_at_t_test": wn_at(te), "weight_norm_final": float(wn[-1]),
               "final_test_acc": float(sub["test_acc"].values[-1])}
    holds = bool(np.isfinite(te) and t["ratio"][0] >= 1.3 and wn_at(te) > wn_at(tt) > wn[0])
    details = ("holds if test accuracy reaches 90% at least 1.3x later than train accuracy and the weight norm "
               "increases from init to t_train to t_test (no weight decay); t = first logged step at 90%")
    claim = ("Modular addition groks without weight decay under plain GD, and the weight norm increases "
             "(not decreases) through the grok")
    return ClaimCheck("fig2", claim, holds, numbers, details)


def _app17_1_times(ds):
    """The steps and levels App 17.1 reads off the run (shared by the judge and the plot's markers)."""
    sub = ds.isel(alpha=0).mean("seed")
    s = ds["step"].values
    tr_loss = sub["train_loss"].values
    tr_acc, te_acc = sub["train_acc"].values, sub["test_acc"].values
    t_train90 = first_at_least(s, tr_acc, 0.9)
    t_train_perfect = first_at_least(s, tr_acc, 1.0 - 1e-9)
    t_test90 = first_at_least(s, te_acc, 0.9)
    # loss level at which the train set is perfectly classified
    level = float(np.interp(t_train_perfect, s, tr_loss)) if np.isfinite(t_train_perfect) else float("nan")
    return sub, s, t_train90, t_train_perfect, t_test90, level


def _plot_app17_1(ds):
    """App 17.1: one run, two readings. Accuracy (left) is read off the same network as the loss (right)."""
    sub, s, _, t_train_perfect, t_test90, level = _app17_1_times(ds)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(s, sub["train_acc"].values, "--", color="C0", label="train accuracy")
    ax1.plot(s, sub["test_acc"].values, "-", color="C0", label="test accuracy")
    ax1.set_ylabel("accuracy (argmax)")
    ax1.set_title("(a) grokking in accuracy", fontsize=9)
    ax2.plot(s, sub["train_loss"].values, "--", color="C3", label="train MSE")
    ax2.plot(s, sub["test_loss"].values, "-", color="C3", label="test MSE")
    ax2.set_yscale("log")
    ax2.set_ylabel("MSE")
    ax2.set_title("(b) the same run in loss", fontsize=9)
    if np.isfinite(level):
        ax2.axhline(level, color="grey", lw=0.8, ls=":", label="train MSE when train accuracy hits 100%")
    for ax in (ax1, ax2):  # linear steps, as the paper's App 17 panels: the grok is late
        ax.set_xlabel("step (full-batch GD)")
        for t, ls in ((t_train_perfect, "--"), (t_test90, "-")):
            if np.isfinite(t):
                ax.axvline(t, color="grey", lw=0.6, ls=ls)
        ax.legend(fontsize=7)
    return fig


def _judge_app17_1(ds):
    sub, s, t_train90, t_train_perfect, t_test90, level = _app17_1_times(ds)
    tr_loss, te_loss = sub["train_loss"].values, sub["test_loss"].values
    te_acc = sub["test_acc"].values
    # when does the test loss get below the loss level of perfect train classification?
    t_test_below = first_at_most(s, te_loss, level) if np.isfinite(level) else float("nan")
    early = s <= (t_train90 if np.isfinite(t_train90) else s[-1])
    test_acc_rise_early = float(np.max(te_acc[early]) - te_acc[0])
    test_loss_move_early = float(np.max(np.abs(te_loss[early] - te_loss[0])) / te_loss[0])
    train_loss_move_early = float(np.max(np.abs(tr_loss[early] - tr_loss[0])) / tr_loss[0])
    train_fall_after = float(tr_loss[-1] / level) if np.isfinite(level) else float("nan")
    match = float(t_test_below / t_test90) if np.isfinite(t_test_below) and np.isfinite(t_test90) else float("nan")
    numbers = {"alpha": float(ds["alpha"].values[0]), "t_train90": t_train90, "t_train_acc_100": t_train_perfect,
               "t_test90": t_test90, "train_loss_at_train_acc_100": level,
               "t_test_loss_below_that_level": t_test_below, "t_below / t_test90": match,
               "early test acc rise (t <= t_train90)": test_acc_rise_early,
               "early relative test-loss move": test_loss_move_early,
               "early relative train-loss move": train_loss_move_early,
               "final train loss / train loss at train acc 100%": train_fall_after}
    holds = bool(np.isfinite(t_test90) and t_test90 >= 1.3 * t_train90 and test_acc_rise_early <= 0.05
                 and test_loss_move_early >= 0.01 and train_fall_after <= 0.1 and 2 / 3 <= match <= 1.5)
    details = ("holds if (1) test accuracy reaches 90% at least 1.3x later than train accuracy; (2) while train "
               "accuracy climbs to 90% the test accuracy does not rise (<= +0.05) but the test loss moves (>= 1%); "
               "(3) the train loss keeps falling after perfect train accuracy (final <= 10% of its value then); "
               "(4) the test loss gets below that value within a factor 1.5 of the step where test accuracy "
               "reaches 90%")
    claim = ("Grokking in loss and grokking in accuracy are the same event (App 17.1): test accuracy is flat early "
             "while the test loss moves; train loss keeps falling after perfect train accuracy; test accuracy "
             "rises when the test loss gets below the loss level of perfect train classification")
    return ClaimCheck("app17.1", claim, holds, numbers, details)


# ------------------------------------------------------------------------------------------------ protocol
FIG2C = AlphaSweep("fig2c", title="modular addition (output alpha^2, GD lr 100/alpha^4)",
                   claim="Modular addition: alpha tunes grokking: small alpha, train and test rise together; large "
                         "alpha, a long delay")
run, judge, plot = task_protocol(FIGURES, CONFIGS, NOTES, {  # figure -> (judge, plot) of its dataset
    "fig2": (_judge_fig2, _plot_fig2),
    "fig2c": (FIG2C.judge, FIG2C.plot),
    "app17.1": (_judge_app17_1, _plot_app17_1),
})
