"""Student–teacher tanh MLPs (paper App 8.3.1, App 15b, App 17.2–17.3): AdamW, MSE, accuracy under a threshold.

Data: ``x ~ N(0, I_D)``, ``n_train`` training and ``n_test`` test points; labels ``y = T(x)`` from a teacher
MLP ``D → width → width → D_out`` with tanh hidden layers and a linear readout.

Student: the same architecture, predictor ``f(x) = α · S(x; θ)`` (**un-centred**, as in both sources), every
initial parameter multiplied by ``init_scale``. Loss: mean over (points × outputs) of the squared error (no ½).
Optimiser: AdamW with fixed ``lr`` (**not rescaled with α**) and decoupled weight decay ``weight_decay``.
"Accuracy" at threshold τ is the fraction of points whose per-point MSE (mean over outputs) is below τ.

Presets (``--preset``; explicit flags override):

* ``omnigrok`` (App 8.3.1, Omnigrok's regression notebook): biases, PyTorch default init
  ``U(±1/sqrt(fan_in))`` for weights and biases, teacher × 1, **student × 2**, AdamW lr 3e-4, wd 0.05,
  α ∈ {0.1, 0.25, 0.5, 0.75, 1, 3}, 10 000 steps, threshold 1e-3.
* ``app15b`` (the authors' JAX cell, App 15b): no biases, all weights N(0, 1) (no fan-in scaling), α = 1,
  AdamW lr 3e-3, wd 0.1, 20 000 steps; the exact linearisation of the student around θ0 is trained side by
  side with the same AdamW (as in the authors' code).

With ``track_linear`` the linearised student ``S_lin(θ) = S(θ0) + J(θ0)(θ − θ0)`` (predictor ``α S_lin``) is
trained alongside and its losses and the relative distance ``‖f − f_lin‖ / ‖f_lin − f_0‖`` on the test set are
logged. The run goes through :func:`grokjax.run_model` (the task keeps only its model, data and presets; the
thresholded accuracy is its ``accuracy`` rule with ``accuracy_axis=("threshold", ...)``), so the dataset also
holds the layer's other metrics (``rel_change``, ``lin_deviation``, kernel-target alignment with
``kernel_points``). Result dims: ``(alpha, seed, step)`` (and ``threshold`` for accuracies); ``diverged_step`` (and
``lin_diverged_step``) per ``(alpha, seed)``: the first step with a non-finite loss, -1 if none.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from grokjax._config import param
from grokjax._errors import require
from grokjax.store import attach_config
from grokjax.tasks import _common as C

PRESETS: dict[str, dict] = {
    "omnigrok": dict(bias=True, init="torch", init_scale=2.0, lr=3e-4, weight_decay=0.05,
                     alpha=(0.1, 0.25, 0.5, 0.75, 1.0, 3.0), steps=10_000, track_linear=False),
    "app15b": dict(bias=False, init="normal", init_scale=1.0, lr=3e-3, weight_decay=0.1,
                   alpha=(1.0,), steps=20_000, track_linear=True),
}


@dataclasses.dataclass(frozen=True)
class Config(C.PresetConfig):
    PRESETS = PRESETS
    preset: str = param("omnigrok", "omnigrok | app15b; fields left unset come from the preset", choices=tuple(PRESETS))
    d_in: int = param(5, "d in", check=">=1")
    width: int = param(100, "width", check=">=1")
    d_out: int = param(5, "d out", check=">=1")
    n_train: int = param(100, "n train", check=">=1")
    n_test: int = param(100, "n test", check=">=1")
    bias: Optional[bool] = param(None, "bias")
    init: Optional[str] = param(None, "torch (U(±1/sqrt(fan_in))) | normal (N(0,1))", choices=("torch", "normal"))
    init_scale: Optional[float] = param(None, "student parameters × init_scale at init", check=">0")
    alpha: Optional[tuple[float, ...]] = param(None, "output multiplier (swept, vmapped)", check=">0")
    lr: Optional[float] = param(None, "lr", check=">0")
    weight_decay: Optional[float] = param(None, "weight decay", check=">=0")
    steps: Optional[int] = param(None, "steps", check=">=1")
    track_linear: Optional[bool] = param(None, "track linear")
    threshold: tuple[float, ...] = param((1e-3,), "accuracy thresholds on per-point MSE", check=">0")
    log_points: int = param(150, "log points", check=">=2")
    seed: tuple[int, ...] = param((1,), "student-init seeds (vmapped)", check="seed")
    teacher_seed: int = param(0, "teacher seed", check="seed")
    data_seed: int = param(0, "data seed", check="seed")
    kernel_points: int = C.kernel_points_field()

    def check(self) -> None:
        for name in ("d_in", "width", "d_out", "n_train", "n_test"):
            require(getattr(self, name) >= 1, name, "must be >= 1")
        require(self.init in ("torch", "normal"), "init", "must be 'torch' or 'normal'")
        require(self.kernel_points <= self.n_test, "kernel_points", "must be <= n_test")
        require(self.init_scale > 0, "init_scale", "must be positive")
        C.check_adamw(self)
        require(len(self.threshold) >= 1 and all(t > 0 for t in self.threshold), "threshold", "needs positive values")


def init_mlp(key, sizes, bias: bool, init: str, scale: float = 1.0):
    """List of ``{"W": (out, in)[, "b": (out,)]}`` layers; all parameters multiplied by ``scale``."""
    layers = []
    for k, (fan_in, fan_out) in zip(jax.random.split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:])):
        kw, kb = jax.random.split(k)
        if init == "torch":
            bound = 1.0 / np.sqrt(fan_in)
            layer = {"W": jax.random.uniform(kw, (fan_out, fan_in), minval=-bound, maxval=bound)}
            if bias:
                layer["b"] = jax.random.uniform(kb, (fan_out,), minval=-bound, maxval=bound)
        else:
            layer = {"W": jax.random.normal(kw, (fan_out, fan_in))}
            if bias:
                layer["b"] = jnp.zeros((fan_out,))
        layers.append(jax.tree_util.tree_map(lambda w: scale * w, layer))
    return layers


def mlp(params, x):
    """tanh MLP with a linear readout; ``x`` has shape ``(B, d_in)``."""
    h = x
    for i, layer in enumerate(params):
        h = h @ layer["W"].T + (layer["b"] if "b" in layer else 0.0)
        if i < len(params) - 1:
            h = jnp.tanh(h)
    return h


def run(config: Config, quiet: bool = False) -> xr.Dataset:
    """Train the α × seed sweep (optionally with the linearised student) through :func:`grokjax.run_model` and
    return labelled curves (the task keeps only its model, data and presets)."""
    from grokjax._lazy_rich import Data, LazyRichConfig, Model, run_model

    config.validate()
    cfg = config.resolved()
    sizes = (cfg.d_in, cfg.width, cfg.width, cfg.d_out)
    kx, kt = jax.random.split(jax.random.PRNGKey(cfg.data_seed))
    X = jax.random.normal(kx, (cfg.n_train, cfg.d_in))
    Xt = jax.random.normal(kt, (cfg.n_test, cfg.d_in))
    teacher = init_mlp(jax.random.PRNGKey(cfg.teacher_seed), sizes, cfg.bias, cfg.init, 1.0)
    thresholds = jnp.asarray(cfg.threshold)

    def accuracy(out, y):  # one value per threshold: fraction of points whose per-point MSE is below it
        per_point = jnp.mean((out - y) ** 2, axis=1)
        return jnp.mean(per_point[None, :] < thresholds[:, None], axis=1)

    model = Model(mlp, lambda key: init_mlp(key, sizes, cfg.bias, cfg.init, cfg.init_scale),
                  Data(X, mlp(teacher, X), Xt, mlp(teacher, Xt)), loss="mse", accuracy=accuracy,
                  accuracy_axis=("threshold", list(cfg.threshold)), name="teacher",
                  description=f"student-teacher tanh MLPs {'-'.join(map(str, sizes))} ({cfg.preset} preset)")
    layer = LazyRichConfig(alpha=tuple(cfg.alpha), seed=tuple(cfg.seed), steps=cfg.steps, log_points=cfg.log_points,
                           optimizer="adamw", lr=(cfg.lr,), weight_decay=(cfg.weight_decay,), lr_rule="constant",
                           centered=False, linearized=bool(cfg.track_linear), kernel_points=cfg.kernel_points,
                           divergence_bound=C.NONFINITE_ONLY)
    ds = run_model(model, layer)
    ds.attrs.update(task="teacher", preset=cfg.preset)
    ds.attrs["summary"] = summarize(ds)
    attach_config(ds, cfg)  # the resolved config (presets applied), in the store's one schema
    return ds


def summarize(ds: xr.Dataset, level: float = 0.9) -> str:
    """Per α: steps at which train/test accuracy (first threshold) reach ``level``, and the delay."""
    thr = float(ds["threshold"].values[0])

    def tail(sub):
        line = f"final acc train {sub['train_acc'].values[-1]:.2f} test {sub['test_acc'].values[-1]:.2f}"
        if "lin_distance" in sub:
            line += f"; final |f-f_lin|/|f_lin-f0| {float(sub['lin_distance'].values[-1]):.3g}"
        return line

    return "\n".join([f"student-teacher ({ds.attrs.get('preset')}): steps to {level:.0%} accuracy "
                      f"(per-point MSE < {thr:g}; seed-mean curves)"]
                     + C.delay_lines(ds, level, tail, select=lambda sub: sub.isel(threshold=0)))
