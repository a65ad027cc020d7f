"""One-layer transformer on modular addition (paper Fig 5b, App 15c), Nanda et al.'s architecture in equinox.

Task: sequences ``[a, b, =]`` (``=`` is token ``p``, vocabulary ``p + 1``), label ``(a + b) mod p``; a fraction
``train_frac`` of the ``p²`` pairs is the training set (seeded shuffle), the rest the test set; full batch.

Model (Nanda et al. 2023): token + learned positional embeddings, one attention layer (``n_heads`` heads,
causal mask, scores / sqrt(d_head)), a ReLU MLP (``d_mlp``), residual stream, no LayerNorm, untied unembedding;
logits at the last position over the whole vocabulary. Init: every weight ``N(0,1)/sqrt(d_model)`` except
``W_U ~ N(0,1)/sqrt(d_vocab)``; biases zero.

α scaling (the authors' cell): **centred** logits ``α · [h(x; θ) − h(x; θ0)]`` with ``θ0`` frozen at init;
softmax cross-entropy (mean over examples). AdamW(b1 = 0.9, b2 = 0.98) with lr ``lr0 / α^lr_power`` (lr_power
= 2 in both of the authors' cells), decoupled weight decay, linear warm-up over ``warmup`` steps.
With ``track_linear`` the exact linearisation ``h_lin(θ) = h(θ0) + J(θ0)(θ − θ0)`` (same centring, same
optimiser) is trained side by side (App 15c). Result dims ``(alpha, seed, step)``; ``diverged_step`` (and
``lin_diverged_step``) per ``(alpha, seed)``: the first step with a non-finite loss, -1 if none. Run through
:func:`grokjax.run_model` (``lr_rule="alpha^-p"``, ``warmup_steps``, ``b1``/``b2`` as fixed optimizer
hyperparameters), which also logs ``lin_deviation`` / ``lin_distance`` with the linearisation.

Presets (``--preset``; explicit flags override):

* ``notebook`` (Fig 5b cell): p = 113, d_model 128, 4 heads, d_mlp 512, train_frac 0.4, lr0 6e-6, wd 1.0,
  α ∈ {0.05, 0.10, …, 0.50}, 200 000 steps, warm-up 10.
* ``nanda`` (Nanda et al.'s own run): as ``notebook`` but train_frac 0.3, lr0 1e-3, α = 1, 40 000 steps.
* ``app15c`` (the authors' JAX re-implementation): train_frac 0.4, lr0 1e-3, wd 2.0 (their ``weight_decay*2``),
  α ∈ {0.15, 1}, 15 000 steps, no warm-up, linearisation tracked.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from grokjax._config import param
from grokjax._errors import require
from grokjax.store import attach_config
from grokjax.tasks import _common as C

_BASE = dict(p=113, d_model=128, n_heads=4, d_mlp=512)
PRESETS: dict[str, dict] = {
    "notebook": dict(_BASE, train_frac=0.4, lr0=6e-6, lr_power=2.0, weight_decay=1.0,
                     alpha=tuple(round(0.05 * i, 2) for i in range(1, 11)), steps=200_000, warmup=10,
                     track_linear=False),
    "nanda": dict(_BASE, train_frac=0.3, lr0=1e-3, lr_power=2.0, weight_decay=1.0, alpha=(1.0,), steps=40_000,
                  warmup=10, track_linear=False),
    "app15c": dict(_BASE, train_frac=0.4, lr0=1e-3, lr_power=2.0, weight_decay=2.0, alpha=(0.15, 1.0),
                   steps=15_000, warmup=0, track_linear=True),
}


class Transformer(eqx.Module):
    """Nanda et al.'s one-layer, LayerNorm-free transformer; ``model(tokens)`` gives last-position logits."""

    W_E: jax.Array      # (d_vocab, d_model)
    W_pos: jax.Array    # (n_ctx, d_model)
    W_Q: jax.Array      # (n_heads, d_head, d_model)
    W_K: jax.Array
    W_V: jax.Array
    W_O: jax.Array      # (d_model, n_heads * d_head)
    W_in: jax.Array     # (d_mlp, d_model)
    b_in: jax.Array
    W_out: jax.Array    # (d_model, d_mlp)
    b_out: jax.Array
    W_U: jax.Array      # (d_model, d_vocab)
    n_heads: int = eqx.field(static=True)

    def __init__(self, key, d_vocab: int, d_model: int, n_heads: int, d_mlp: int, n_ctx: int = 3):
        d_head = d_model // n_heads
        ks = jax.random.split(key, 9)
        s = 1.0 / np.sqrt(d_model)
        self.W_E = jax.random.normal(ks[0], (d_vocab, d_model)) * s
        self.W_pos = jax.random.normal(ks[1], (n_ctx, d_model)) * s
        self.W_Q = jax.random.normal(ks[2], (n_heads, d_head, d_model)) * s
        self.W_K = jax.random.normal(ks[3], (n_heads, d_head, d_model)) * s
        self.W_V = jax.random.normal(ks[4], (n_heads, d_head, d_model)) * s
        self.W_O = jax.random.normal(ks[5], (d_model, n_heads * d_head)) * s
        self.W_in = jax.random.normal(ks[6], (d_mlp, d_model)) * s
        self.b_in = jnp.zeros((d_mlp,))
        self.W_out = jax.random.normal(ks[7], (d_model, d_mlp)) * s
        self.b_out = jnp.zeros((d_model,))
        self.W_U = jax.random.normal(ks[8], (d_model, d_vocab)) / np.sqrt(d_vocab)
        self.n_heads = n_heads

    def __call__(self, tokens: jax.Array) -> jax.Array:
        x = self.W_E[tokens] + self.W_pos[: tokens.shape[-1]]                # (B, T, d)
        q = jnp.einsum("hed,btd->bhte", self.W_Q, x)
        k = jnp.einsum("hed,btd->bhte", self.W_K, x)
        v = jnp.einsum("hed,btd->bhte", self.W_V, x)
        T, d_head = x.shape[1], q.shape[-1]
        scores = jnp.einsum("bhqe,bhke->bhqk", q, k) / np.sqrt(d_head)
        mask = jnp.tril(jnp.ones((T, T), dtype=bool))
        attn = jax.nn.softmax(jnp.where(mask, scores, -1e10), axis=-1)
        z = jnp.einsum("bhqk,bhke->bqhe", attn, v).reshape(x.shape[0], T, -1)
        x = x + z @ self.W_O.T
        x = x + jax.nn.relu(x @ self.W_in.T + self.b_in) @ self.W_out.T + self.b_out
        return x[:, -1] @ self.W_U


def apply(model: Transformer, tokens: jax.Array) -> jax.Array:
    return model(tokens)


@dataclasses.dataclass(frozen=True)
class Config(C.PresetConfig):
    PRESETS = PRESETS
    preset: str = param("notebook", "notebook | nanda | app15c; unset fields come from the preset",
                        choices=tuple(PRESETS))
    p: Optional[int] = param(None, "p", check=">=3")
    d_model: Optional[int] = param(None, "d model", check=">=1")
    n_heads: Optional[int] = param(None, "n heads", check=">=1")
    d_mlp: Optional[int] = param(None, "d mlp", check=">=1")
    train_frac: Optional[float] = param(None, "train frac", check="(0,1)")
    lr0: Optional[float] = param(None, "AdamW lr = lr0 / α^lr_power", check=">0")
    lr_power: Optional[float] = param(None, "lr power")
    weight_decay: Optional[float] = param(None, "weight decay", check=">=0")
    alpha: Optional[tuple[float, ...]] = param(None, "logit scale (swept, vmapped)", check=">0")
    steps: Optional[int] = param(None, "steps", check=">=1")
    warmup: Optional[int] = param(None, "warmup", check=">=0")
    track_linear: Optional[bool] = param(None, "track linear")
    log_points: int = param(100, "log points", check=">=2")
    seed: tuple[int, ...] = param((0,), "init seeds (vmapped)", check="seed")
    split_seed: int = param(0, "split seed", check="seed")
    kernel_points: int = C.kernel_points_field()

    def check(self) -> None:
        require(self.p >= 3, "p", "must be >= 3")
        require(self.n_heads >= 1, "n_heads", "must be >= 1")
        require(self.d_model >= 1 and self.d_model % self.n_heads == 0, "d_model", "must be a multiple of n_heads")
        require(self.d_mlp >= 1, "d_mlp", "must be >= 1")
        require(0.0 < self.train_frac < 1.0, "train_frac", "must be in (0, 1)")
        n_train = int(self.train_frac * self.p ** 2)
        require(1 <= n_train < self.p ** 2, "train_frac", "leaves an empty train or test set")
        require(self.lr0 > 0, "lr0", "must be positive")
        require(self.weight_decay >= 0, "weight_decay", "must be >= 0")
        require(self.warmup >= 0, "warmup", "must be >= 0")
        require(self.kernel_points <= self.p ** 2 - n_train, "kernel_points", "exceeds the number of test pairs")


def make_data(p: int, train_frac: float, split_seed: int):
    """``(tokens_train, labels_train, tokens_test, labels_test)``; tokens are ``[a, b, p]``."""
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    tokens = np.stack([a.ravel(), b.ravel(), np.full(p * p, p)], axis=1).astype(np.int32)
    labels = ((tokens[:, 0] + tokens[:, 1]) % p).astype(np.int32)
    perm = np.random.default_rng(split_seed).permutation(p * p)
    n = int(train_frac * p * p)
    return tokens[perm[:n]], labels[perm[:n]], tokens[perm[n:]], labels[perm[n:]]


def run(config: Config, quiet: bool = False) -> xr.Dataset:
    """Train the α × seed sweep (optionally with the linearised model) through :func:`grokjax.run_model` (one
    compiled program) and return labelled curves (the task keeps only its model, data and presets)."""
    from grokjax._lazy_rich import Data, LazyRichConfig, Model, run_model

    config.validate()
    cfg = config.resolved()
    xtr, ytr, xte, yte = make_data(cfg.p, cfg.train_frac, cfg.split_seed)
    model = Model(apply, lambda key: Transformer(key, cfg.p + 1, cfg.d_model, cfg.n_heads, cfg.d_mlp),
                  Data(xtr, ytr, xte, yte), loss="cross_entropy", accuracy="argmax", name="transformer",
                  description=f"one-layer transformer (d_model {cfg.d_model}, {cfg.n_heads} heads, d_mlp {cfg.d_mlp}) "
                  f"on modular addition mod {cfg.p} ({cfg.preset} preset)")
    layer = LazyRichConfig(alpha=tuple(cfg.alpha), seed=tuple(cfg.seed), steps=cfg.steps, log_points=cfg.log_points,
                           optimizer="adamw", lr=(cfg.lr0,), lr_rule="alpha^-p", lr_power=float(cfg.lr_power),
                           warmup_steps=cfg.warmup, weight_decay=(cfg.weight_decay,), centered=True,
                           linearized=bool(cfg.track_linear), kernel_points=cfg.kernel_points,
                           divergence_bound=C.NONFINITE_ONLY)
    ds = run_model(model, layer, sweep={"b1": [0.9], "b2": [0.98]})
    ds.attrs.update(task="transformer", preset=cfg.preset, n_train=int(xtr.shape[0]), n_test=int(xte.shape[0]))
    ds.attrs["summary"] = summarize(ds)
    attach_config(ds, cfg)  # the resolved config (presets applied), in the store's one schema
    return ds


def summarize(ds: xr.Dataset, level: float = 0.9) -> str:
    def tail(sub):
        line = f"final acc train {sub['train_acc'].values[-1]:.3f} test {sub['test_acc'].values[-1]:.3f}"
        if "lin_train_loss" in sub:
            line += (f"; final loss net {sub['train_loss'].values[-1]:.3g}/{sub['test_loss'].values[-1]:.3g}"
                     f" lin {sub['lin_train_loss'].values[-1]:.3g}/{sub['lin_test_loss'].values[-1]:.3g}")
        return line

    return "\n".join([f"transformer ({ds.attrs.get('preset')}): steps to {level:.0%} accuracy (seed-mean curves)"]
                     + C.delay_lines(ds, level, tail))
