"""Modular addition with a two-layer quadratic MLP (paper Fig 2, App 8.3, App 17.1): plain GD, MSE, no weight decay.

Task: inputs are the concatenated one-hots of ``(a, b)`` (dimension ``D = 2p``), the target is the one-hot of
``(a + b) mod p``; a fraction ``train_frac`` of the ``p²`` pairs is the training set, the rest the test set.

Model (Gromov-style, as in the authors' notebook): ``h(x) = W2 (W1 x)² / (D N)``, all weights N(0, 1), no
biases, **un-centred**. The predictor is ``f = α^k h`` with ``k = alpha_power``:

* ``alpha_power = 2`` (preset "notebook", default): the notebook applies ``scale`` twice,
  ``layer2(layer1(x)**2) * scale / (D N) * scale``, and trains ``MSE/α²`` with lr ``100/α²``; i.e. output
  multiplier ``c = α²`` and effective lr ``lr0 / c²`` on the plain MSE.
* ``alpha_power = 1`` (preset "lazy"): the textbook form, output multiplier ``c = α``, lr ``lr0 / α²``.

Loss: ``mean over (examples × p outputs)`` of the squared error (``torch.nn.MSELoss``, no ½). Full-batch GD,
lr ``lr0 / c²``. Logged: train/test MSE and argmax accuracy, the weight norm ``‖W1‖_F + ‖W2‖_F``, and per run
``diverged_step`` (first non-finite loss, -1: none). The run goes through :func:`grokjax.run_model` (output
scale ``c``, lr rule ``lr0 / c²``, ``weight_norm`` from the task's ``metrics`` hook), so the dataset also holds the
layer's other metrics (``rel_change``; kernel-target alignment with ``kernel_points``).
Result dims: ``(alpha, seed, step)``.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from grokjax._config import param, validate_fields
from grokjax._errors import require
from grokjax.tasks import _common as C


@dataclasses.dataclass(frozen=True)
class Config:
    p: int = param(23, "modulus (vocabulary); input dim 2p", check=">=3")
    hidden: int = param(100, "hidden width N", check=">=1")
    train_frac: float = param(0.9, "fraction of the p² pairs used for training", check="(0,1)")
    alpha: tuple[float, ...] = param((0.5, 1.0, 1.5, 2.0), "alpha", check=">0")
    alpha_power: int = param(2, "output multiplier α^k (2 = notebook, 1 = textbook lazy scaling)", choices=(1, 2))
    lr0: float = param(100.0, "GD lr on the plain MSE is lr0 / α^(2k)", check=">0")
    steps: int = param(50_000, "steps", check=">=1")
    log_points: int = param(200, "log points", check=">=2")
    seed: tuple[int, ...] = param((0,), "weight-init seeds (vmapped)", check="seed")
    split_seed: int = param(1, "train/test split", check="seed")
    kernel_points: int = C.kernel_points_field()

    def __post_init__(self):
        validate_fields(self)  # every declared field, once per construction

    def validate(self) -> None:
        require(self.p >= 3, "p", "must be >= 3")
        require(self.hidden >= 1, "hidden", "must be >= 1")
        require(0.0 < self.train_frac < 1.0, "train_frac", "must be in (0, 1)")
        n_train = int(round(self.train_frac * self.p ** 2))
        require(1 <= n_train < self.p ** 2, "train_frac", "leaves an empty train or test set")
        require(self.alpha_power in (1, 2), "alpha_power", "must be 1 or 2")
        require(self.lr0 > 0, "lr0", "must be positive")
        require(self.kernel_points <= self.p ** 2 - n_train, "kernel_points", "exceeds the number of test pairs")
        C.check_run(self)
        from grokjax._memory import check_task_memory

        check_task_memory("modular", self)  # refused before compute if it cannot fit


def make_data(p: int, train_frac: float, split_seed: int):
    """Integer pairs and labels, split into train/test: ``(ab_train, y_train, ab_test, y_test)``."""
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    ab = np.stack([a.ravel(), b.ravel()], axis=1)
    labels = (ab[:, 0] + ab[:, 1]) % p
    perm = np.asarray(jax.random.permutation(jax.random.PRNGKey(split_seed), p * p))
    n_train = int(round(train_frac * p * p))
    tr, te = perm[:n_train], perm[n_train:]
    return ab[tr], labels[tr], ab[te], labels[te]


def init_params(key, p: int, hidden: int):
    k1, k2 = jax.random.split(key)
    return {"W1": jax.random.normal(k1, (hidden, 2 * p)), "W2": jax.random.normal(k2, (p, hidden))}


def one_hot_pairs(ab, p: int):
    """Concatenated one-hots ``[onehot(a), onehot(b)]`` of integer pairs, shape ``(B, 2p)``."""
    return jnp.concatenate([jax.nn.one_hot(ab[:, 0], p), jax.nn.one_hot(ab[:, 1], p)], axis=1)


def hidden_out(params, x):
    """Un-scaled network ``h(x) = W2 (W1 x)² / (D N)`` on inputs ``x`` of shape ``(B, D)``."""
    W1, W2 = params["W1"], params["W2"]
    return (x @ W1.T) ** 2 @ W2.T / (W1.shape[1] * W1.shape[0])


def run(config: Config, quiet: bool = False) -> xr.Dataset:
    """Train the α × seed sweep through :func:`grokjax.run_model` (one compiled program) and return the labelled
    learning curves; the task keeps only its model, data and presets."""
    from grokjax._lazy_rich import Data, LazyRichConfig, Model, run_model

    config.validate()
    cfg = config
    p = cfg.p
    ab_tr, y_tr, ab_te, y_te = (jnp.asarray(v) for v in make_data(p, cfg.train_frac, cfg.split_seed))
    k = cfg.alpha_power
    model = Model(hidden_out, lambda key: init_params(key, p, cfg.hidden),
                  Data(one_hot_pairs(ab_tr, p), jax.nn.one_hot(y_tr, p), one_hot_pairs(ab_te, p), jax.nn.one_hot(y_te, p)),
                  loss="mse", accuracy="argmax", metrics=weight_norm, name="modular",
                  description=f"modular addition mod {p}, quadratic MLP 2p-{cfg.hidden}-p (output multiplier alpha^{k})")
    # the layer's output scale is the multiplier c = alpha^k, its lr rule lr0 / c^2; the coordinate is relabelled alpha
    layer = LazyRichConfig(alpha=tuple(float(a) ** k for a in cfg.alpha), seed=tuple(cfg.seed), steps=cfg.steps,
                           log_points=cfg.log_points, optimizer="sgd", lr=(cfg.lr0,), lr_rule="alpha^-2",
                           centered=False, linearized=False, kernel_points=cfg.kernel_points,
                           divergence_bound=C.NONFINITE_ONLY)
    ds = run_model(model, layer)
    ds = ds.assign_coords(alpha=np.asarray(cfg.alpha, float))
    ds["alpha"].attrs.update(long_name="alpha", units="1", description=f"output multiplier c = alpha^{k} (run_model's "
                             f"alpha): predictor f(x) = c h(x; theta) (not centred), GD learning rate lr0 / c^2")
    ds.attrs.update(task="modular", n_train=int(ab_tr.shape[0]), n_test=int(ab_te.shape[0]), summary=summarize(ds))
    return ds


def weight_norm(params):
    """The task's weight norm ``‖W1‖_F + ‖W2‖_F`` (the sum of the layers' norms, as the notebook logs it)."""
    return {"weight_norm": jnp.linalg.norm(params["W1"]) + jnp.linalg.norm(params["W2"])}


def summarize(ds: xr.Dataset, threshold: float = 0.9) -> str:
    """Per α (seed-mean curves): steps at which train/test accuracy reach ``threshold``, delay, weight norms."""
    def tail(sub):
        wn = sub["weight_norm"].values
        return f"final test acc {sub['test_acc'].values[-1]:.3f}; weight norm {wn[0]:.1f} -> {wn[-1]:.1f}"

    return "\n".join([f"modular addition: steps to {threshold:.0%} accuracy (seed-mean curves)"]
                     + C.delay_lines(ds, threshold, tail))
