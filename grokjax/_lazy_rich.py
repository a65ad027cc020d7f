"""Lazy-vs-rich diagnosis of any JAX model: the paper's measurements for a model you bring.

You give a :class:`Model`: ``apply(params, x) -> outputs`` (any output shape, leading axis = points),
``init(key) -> params`` (any pytree: dicts of arrays, equinox modules with non-array leaves such as activation
functions, Flax-style ``{"params": ...}`` variables), data (:class:`Data`, or a function of a key returning
it), a loss (``"mse"``, ``"cross_entropy"`` or a callable) and optionally an accuracy rule. :func:`run_model`
trains, in one compiled program vmapped over α × seeds × optimizer hyperparameters, the α-scaled network and
its exact linearisation side by side, and returns a labelled :class:`xarray.Dataset`.

Conventions (stated once; they are also written into every dataset's ``attrs``):

* **Trainable parameters** are the floating-point array leaves of ``init(key)`` (``eqx.partition(params,
  eqx.is_inexact_array)``); every other leaf (functions, integers, strings) is kept fixed. You never partition.
* **Predictor.** ``f(x; θ) = α [h(x; θ) − h(x; θ0)]`` (``centered=True``, Chizat–Oyallon–Bach; the default)
  or ``f(x; θ) = α h(x; θ)`` (``centered=False``), with ``h = apply`` and ``θ0`` the initial parameters.
* **Exact linearisation** ``h_lin(x; θ) = h(x; θ0) + J(x; θ0)(θ − θ0)`` by forward mode (``jax.linearize`` /
  ``jax.jvp``; no Jacobian is formed), α-scaled and centred like the network, trained side by side from the same
  θ0 by the same optimizer (``lin_*`` variables).
* **Learning rate.** ``lr_rule="alpha^-2"`` (default, as the paper): the optimizer's learning rate is
  ``lr / α²``, which keeps the function-space speed of gradient descent independent of α; ``"alpha^-p"``:
  ``lr / α^lr_power``; ``"constant"``: ``lr``. With ``warmup_steps = W > 0`` the rate at optimizer step
  ``t = 0, 1, ...`` is multiplied by ``min((t + 1) / W, 1)`` (linear warm-up).
* **Minibatches** (``batch_size > 0``): ``batch_order="random"`` draws ``batch_size`` indices uniformly (with
  replacement) at each step from the seed's key; ``"cycle"`` takes step ``t``'s batch as the ``batch_size``
  consecutive entries from position ``(t · batch_size) mod n_train`` of ``[π, π]``, with ``π`` one fixed
  shuffle of the training set, ``jax.random.permutation(PRNGKey(data_seed + 1), n_train)`` (every seed sees the
  same batches).
* **Model hyperparameters** (``Model.init_axes = {name: values}``): ``init(key, name=value)`` is called with each
  value (a traced scalar), vmapped; each name is a dimension right after ``alpha``.
* **θ0** of every (init_axes values, seed) combination is computed once, by :func:`check_model`'s compiled
  check, and fed to the training program (``init`` is compiled once per run, not twice).
* **Loss.** ``"mse"``: mean over every output entry of ``(f − y)²`` (no ½); ``"cross_entropy"``: mean softmax
  cross-entropy of the predictor's outputs as logits (labels: integers ``(n,)`` or one-hot ``(n, k)``); or a
  callable ``loss(outputs, y) -> scalar``.
* **Metrics** at each logged step (log-spaced, step 0 = initialisation) — see :data:`VARIABLES`.
  Kernels are the output-traced empirical NTK Gram of the predictor ``f`` (α² included) on a fixed probe set,
  the first ``kernel_points`` test points, by NTK-vector products (:func:`grokjax.ntk_gram`).
* **Divergence guard.** Per configuration and per model (network, linearisation): a step whose loss (before
  the update) is non-finite or above ``divergence_bound`` freezes that model from then on; ``diverged_step``
  / ``lin_diverged_step`` records it (-1: never). Other configurations of the sweep are unaffected.

Bad input is refused before any compute with :class:`grokjax.ConfigError` naming the culprit (``apply``,
``init``, ``data``, ``loss``, ``accuracy``, ``optimizer``, a config field) — :func:`check_model`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import itertools
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from grokjax._checkpoint import run_chunks
from grokjax._config import param
from grokjax._errors import ConfigError, require
from grokjax._metadata import MODEL_LAYER_VARIABLES
from grokjax.store import attach_config

__all__ = ["Data", "Model", "LazyRichConfig", "run_model", "check_model", "linearize", "plot_lazy_rich",
           "grokking_delays", "VARIABLES", "LR_RULES"]

LOSSES = ("mse", "cross_entropy")
LR_RULES = ("alpha^-2", "alpha^-p", "constant")
BATCH_ORDERS = ("random", "cycle")
#: optimizer hyperparameters the CLI exposes (Python: sweep any keyword of the optax optimizer)
CLI_HYPERPARAMETERS = ("weight_decay", "momentum")


# ------------------------------------------------------------------------------------------------ user input
class Data(NamedTuple):
    """Train and test sets: inputs with a leading point axis, targets with the same leading size.

    Targets: real values of the model's output shape (``"mse"``), or integer labels ``(n,)`` / one-hot
    ``(n, k)`` (``"cross_entropy"``)."""

    x_train: Any
    y_train: Any
    x_test: Any
    y_test: Any


@dataclass(frozen=True)
class Model:
    """A model to diagnose (what :func:`run_model` and ``grokjax run FILE.py:FUNCTION`` take).

    Args:
      apply: ``apply(params, x) -> outputs`` for a batch ``x`` of shape ``(n, *in)``; outputs ``(n,)`` or
        ``(n, *out)``. Must be a pure JAX function (it is traced, vmapped and differentiated).
      init: ``init(key) -> params``, any pytree (see the module docstring for what is trained).
      data: a :class:`Data` (or a 4-tuple / dict with its field names), or ``data(key) -> Data`` called once
        with ``PRNGKey(config.data_seed)`` before compute.
      loss: ``"mse"``, ``"cross_entropy"`` or ``loss(outputs, y) -> scalar``.
      accuracy: ``None`` (default: ``"argmax"`` for cross-entropy, none for MSE), ``"argmax"`` (argmax of the
        outputs equals the integer or one-hot label), ``"sign"`` (sign of a scalar output equals the sign of
        its target) or ``accuracy(outputs, y) -> scalar``.
      name: a short name (dataset ``attrs["task"]``).
      description: one line describing the model and data (dataset ``attrs["model_description"]``).
      accuracy_axis: ``None`` (the accuracy rule returns a scalar), or ``(name, values)``: the accuracy
        rule returns one value per entry of ``values`` (shape ``(len(values),)``; e.g. the fraction of points
        whose error is below each of several thresholds) and the accuracy variables get a trailing dimension
        ``name`` with coordinate ``values``.
      metrics: ``None``, or ``metrics(params) -> {name: scalar}``: extra metrics of the network's parameters
        (the full pytree ``init`` returns, as trained so far), logged at every logged step like the layer's own.
        A name the layer also logs (e.g. ``"weight_norm"``) replaces the layer's definition with the model's
        (the variable's description then says so).
      init_axes: ``None``, or model hyperparameters to sweep, ``{name: [values]}``: ``init`` is then called as
        ``init(key, **{name: value})`` (each value a traced scalar of the run's dtype; e.g. an initial scale
        ``sigma`` multiplying every parameter), every combination vmapped in the same compiled program as α and
        the seeds. Each name becomes a dimension of the dataset right after ``alpha`` (in the given order, kept
        even with a single value), coordinate = the values.
    """

    apply: Callable
    init: Callable
    data: Any
    loss: Any = "mse"
    accuracy: Any = None
    name: str = "model"
    description: str = ""
    accuracy_axis: Any = None
    metrics: Any = None
    init_axes: Any = None


@dataclass(frozen=True)
class LazyRichConfig:
    """How to train and measure a :class:`Model` (every field is a ``grokjax run FILE.py:FUNCTION`` flag;
    tuple fields take several values and become sweep axes in one compiled program)."""

    alpha: tuple[float, ...] = param((1.0,), "output scales alpha (laziness), swept", check=">0")
    seed: tuple[int, ...] = param((0,), "initialisation seeds, swept (vmapped)", check="seed")
    steps: int = param(1000, "optimizer steps", check=">=1")
    log_points: int = param(40, "logged steps (log-spaced; step 0 included)", check=">=1")
    log_schedule: str = param("log", "spacing of the logged steps", choices=("log", "linear"))
    optimizer: str = param("sgd", "any optax optimizer taking learning_rate (sgd, adam, adamw, ...)")
    lr: tuple[float, ...] = param((0.1,), "base learning rate(s), swept; the optimizer gets lr_rule(lr, alpha)",
                                  check=">0")
    lr_rule: str = param("alpha^-2", "alpha^-2: learning rate lr/alpha^2 (paper); alpha^-p: lr/alpha^lr_power; "
                         "constant: lr", choices=LR_RULES)
    lr_power: float = param(2.0, "the exponent p of lr_rule alpha^-p (learning rate lr/alpha^p)")
    warmup_steps: int = param(0, "linear learning-rate warm-up: the rate times min((t + 1) / warmup_steps, 1) at "
                              "optimizer step t = 0, 1, ... (0 = none)", check=">=0")
    weight_decay: tuple[float, ...] = param((), "optimizer weight_decay value(s), swept (only if the optimizer "
                                            "takes it; default: the optimizer's own)", check=">=0")
    momentum: tuple[float, ...] = param((), "optimizer momentum value(s), swept (sgd; default: none)",
                                        check=">=0")
    batch_size: int = param(0, "minibatch size (0 = full batch)", check=">=0")
    batch_order: str = param("random", "minibatches (batch_size > 0): random = batch_size indices drawn uniformly "
                             "(with replacement) at each step from the seed's key; cycle = consecutive slices of one "
                             "fixed shuffle of the training set (permutation by PRNGKey(data_seed + 1)), wrapping "
                             "around", choices=BATCH_ORDERS)
    centered: bool = param(True, "centred predictor alpha (h - h0) (else alpha h)")
    linearized: bool = param(True, "train the exact linearisation around theta0 side by side")
    kernel_points: int = param(0, "probe set for kernel movement / alignment: this many test points (0 = off)",
                               check=">=0")
    after_kernel: bool = param(False, "log the test loss of kernel regression with the current NTK (needs "
                               "kernel_points > 0; Gram on all training points)")
    ridge: float = param(0.0, "after-kernel regression ridge, relative to tr K / n_train", check=">=0")
    divergence_bound: float = param(1e10, "a loss above this (or non-finite) freezes that model and flags it",
                                    check=">0")
    dtype: str = param("float32", "floating-point precision", choices=("float32", "float64"))
    data_seed: int = param(0, "key of data(key) when the data is a function", check="seed")
    chunk_size: int = param(0, "configurations per compiled chunk (0 = as many as fit in memory)", check=">=0")
    checkpoint_dir: str = param("", "folder for finished chunks: a rerun resumes from it (empty = none)")

    def __post_init__(self):
        self.validate()

    def validate(self) -> "LazyRichConfig":
        """Raise :class:`grokjax.ConfigError` naming the first invalid field; return ``self``."""
        from grokjax._config import validate_fields

        validate_fields(self)  # the declarations: type, range, finiteness of every field and list element
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                require(len(set(value)) == len(value), f.name, f"has duplicate values {list(value)}")
        require(self.log_points <= self.steps + 1, "log_points", f"must be <= steps + 1 = {self.steps + 1}")
        require(self.optimizer.isidentifier() and callable(getattr(_optax(), self.optimizer, None)), "optimizer",
                f"must name an optax optimizer (sgd, adam, adamw, ...), got {self.optimizer!r}")
        require(not self.after_kernel or self.kernel_points > 0, "after_kernel", "needs kernel_points > 0")
        require(self.lr_rule == "alpha^-p" or self.lr_power == 2.0, "lr_power",
                f"is only used with lr_rule='alpha^-p' (got lr_rule={self.lr_rule!r})")
        require(self.batch_size > 0 or self.batch_order == "random", "batch_order",
                "'cycle' needs minibatches (batch_size > 0)")
        return self


def _optax():
    import optax

    return optax


# ---------------------------------------------------------------------------------------------- linearisation
def linearize(apply: Callable, params0: Any) -> Callable:
    """The exact first-order Taylor model of ``apply`` around ``params0``.

    Returns ``apply_lin(params, *args) = apply(params0, *args) + J(params0, *args) · (params − params0)``,
    computed with one ``jax.jvp`` (forward mode; no Jacobian is materialised). ``params`` has the structure of
    ``params0``: any pytree, equinox modules with non-array leaves included (only floating-point array leaves
    move; the others are taken from ``params0``). At ``params0`` it equals ``apply`` exactly and it is affine
    in ``params``. (neural-tangents: ``nt.linearize``.)
    """
    import equinox as eqx

    arrays0, static = eqx.partition(params0, eqx.is_inexact_array)

    def apply_lin(params, *args):
        arrays = eqx.filter(params, eqx.is_inexact_array)
        delta = jax.tree_util.tree_map(lambda a, b: a - b, arrays, arrays0)
        y0, dy = jax.jvp(lambda p: apply(eqx.combine(p, static), *args), (arrays0,), (delta,))
        return jax.tree_util.tree_map(jnp.add, y0, dy)

    return apply_lin


def tree_norm(tree) -> jax.Array:
    """Euclidean (Frobenius) norm of all leaves of a pytree together."""
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in leaves))


# ---------------------------------------------------------------------------------------------- losses, accuracy
def _labels_to_targets(y, k: int):
    """Integer labels -> one-hot targets; real targets unchanged (regression / kernel alignment targets)."""
    if jnp.issubdtype(y.dtype, jnp.integer):
        return jax.nn.one_hot(y, k)
    return y


def _loss_fn(loss) -> Callable:
    if callable(loss):
        return loss
    if loss == "mse":
        return lambda out, y: jnp.mean((out - y.reshape(out.shape)) ** 2)

    def cross_entropy(out, y):
        logp = jax.nn.log_softmax(out, axis=-1)
        if jnp.issubdtype(y.dtype, jnp.integer):
            return -jnp.mean(jnp.take_along_axis(logp, y[..., None], axis=-1))
        return -jnp.mean(jnp.sum(y * logp, axis=-1))

    return cross_entropy


def _accuracy_fn(accuracy, loss) -> Callable | None:
    if accuracy is None:
        accuracy = "argmax" if loss == "cross_entropy" else None
    if accuracy is None or callable(accuracy):
        return accuracy
    if accuracy == "argmax":
        def argmax(out, y):
            label = y if jnp.issubdtype(y.dtype, jnp.integer) else jnp.argmax(y, axis=-1)
            return jnp.mean(jnp.argmax(out, axis=-1) == label)
        return argmax
    return lambda out, y: jnp.mean(jnp.sign(out.reshape(y.shape)) == jnp.sign(y))


# ---------------------------------------------------------------------------------------------- validation
class _Checked(NamedTuple):
    data: Data
    n_params: int
    out_shape: tuple
    loss: Callable
    accuracy: Callable | None
    description: str
    metric_names: tuple = ()  # names returned by Model.metrics
    init_axes: Mapping = {}  # Model.init_axes checked: {name: [float values]}
    #: θ0 of every (init_axes values..., seed) combination: (array leaves stacked, the other leaves, combinations)
    theta0: tuple = ((), None, ())


def _as_data(data) -> Data:
    if isinstance(data, Mapping):
        missing = [k for k in Data._fields if k not in data]
        require(not missing, "data", f"a mapping needs the keys {Data._fields}; missing {missing}")
        data = Data(*(data[k] for k in Data._fields))
    require(isinstance(data, (tuple, list)) and len(data) == 4, "data",
            f"must be Data(x_train, y_train, x_test, y_test) (or a function of a key returning it), got "
            f"{type(data).__name__}")
    return Data(*data)


def check_model(model: Model, config: LazyRichConfig | None = None) -> _Checked:
    """Check a :class:`Model` (and its fit with ``config``) before any compute; raise :class:`ConfigError`
    naming the culprit: ``init`` (raises, or returns no floating-point arrays), ``data`` (not four arrays,
    mismatched lengths or shapes, non-finite), ``apply`` (raises, wrong output shape, non-finite at θ0),
    ``loss``, ``accuracy``, ``kernel_points`` / ``batch_size`` (larger than the data). Returns the data as arrays
    and what was learned (number of parameters, output shape). The user's functions are evaluated at θ0 in ONE
    compiled program (``eqx.filter_jit``): shapes are checked while it is traced, finiteness from its outputs.
    ``init`` is evaluated there at every combination of ``Model.init_axes`` values and ``config.seed`` (the
    run's θ0, kept in the result: :func:`run_model` does not compile ``init`` again); the other checks use the
    first. ``init_axes``: refused unless a dict of identifier names to distinct finite numbers."""
    import equinox as eqx

    config = config or LazyRichConfig()
    require(isinstance(model, Model), "task", f"must be a grokjax.Model, got {type(model).__name__}")
    require(callable(model.apply), "apply", "must be a function apply(params, x)")
    require(callable(model.init), "init", "must be a function init(key) -> params")
    require(callable(model.loss) or model.loss in LOSSES, "loss",
            f"must be one of {LOSSES} or a function loss(outputs, y), got {model.loss!r}")
    require(model.accuracy is None or callable(model.accuracy) or model.accuracy in ("argmax", "sign"), "accuracy",
            f"must be None, 'argmax', 'sign' or a function accuracy(outputs, y), got {model.accuracy!r}")
    axis = model.accuracy_axis
    require(axis is None or (isinstance(axis, (tuple, list)) and len(axis) == 2 and isinstance(axis[0], str)
                             and axis[0].isidentifier() and len(axis[1]) >= 1), "accuracy_axis",
            f"must be None or (name, values) with a name and at least one value, got {axis!r}")
    require(model.metrics is None or callable(model.metrics), "metrics",
            f"must be None or a function metrics(params) -> {{name: scalar}}, got {model.metrics!r}")
    require(axis is None or callable(model.accuracy), "accuracy_axis", "needs an accuracy function returning one "
            "value per entry")
    dtype = jnp.float64 if config.dtype == "float64" else jnp.float32
    init_axes = _init_axes(model)
    with jax.enable_x64(config.dtype == "float64"):
        data = model.data
        if callable(data) and not isinstance(data, (tuple, list, Mapping)):
            try:
                data = data(jax.random.PRNGKey(config.data_seed))
            except Exception as exc:
                raise ConfigError("data", f"data(key) raised {type(exc).__name__}: {exc}") from exc
        data = _as_data(data)
        arrays = []
        for name, value in zip(Data._fields, data):
            try:
                a = np.asarray(value)
            except Exception as exc:
                raise ConfigError("data", f"{name} is not an array ({exc})") from exc
            require(a.ndim >= 1 and a.shape[0] >= 1, "data", f"{name} needs a leading axis of points, got shape "
                    f"{a.shape}")
            require(a.dtype.kind in "fiub", "data", f"{name} must be numeric, got dtype {a.dtype}")
            if a.dtype.kind == "f":
                require(bool(np.all(np.isfinite(a))), "data", f"{name} has non-finite values")
                a = a.astype(dtype)
            arrays.append(a)
        xtr, ytr, xte, yte = arrays
        require(xtr.shape[0] == ytr.shape[0], "data", f"x_train has {xtr.shape[0]} points, y_train {ytr.shape[0]}")
        require(xte.shape[0] == yte.shape[0], "data", f"x_test has {xte.shape[0]} points, y_test {yte.shape[0]}")
        require(xtr.shape[1:] == xte.shape[1:], "data", f"x_train points have shape {xtr.shape[1:]}, x_test "
                f"points {xte.shape[1:]}")
        require(ytr.shape[1:] == yte.shape[1:] and ytr.dtype.kind == yte.dtype.kind, "data",
                f"y_train {ytr.shape[1:]} ({ytr.dtype}) and y_test {yte.shape[1:]} ({yte.dtype}) targets differ")
        require(config.kernel_points <= xte.shape[0], "kernel_points", f"exceeds the {xte.shape[0]} test points")
        require(config.batch_size <= xtr.shape[0], "batch_size", f"exceeds the {xtr.shape[0]} training points")
        loss_fn = _loss_fn(model.loss)
        acc_fn = _accuracy_fn(model.accuracy, model.loss)
        learned: dict[str, Any] = {}

        def probe(keys, kws, x_train, x_test, y_few):
            """Everything at θ0 in ONE compiled program: ``init`` at every (init_axes, seed) configuration (θ0 of
            the run, returned), the checks at the first; shapes are checked while tracing (a refusal names the
            culprit), the finiteness flags are outputs."""
            def init_arrays(args):  # the array leaves of one θ0; the other leaves are kept aside
                key, kw = args
                arrays, learned["static"] = eqx.partition(_user_call("init", "init(key)", model.init, key, **kw),
                                                          eqx.is_array)
                return arrays

            arrays = jax.lax.map(init_arrays, (keys, kws))  # a loop, not a vmap: XLA compiles init ~1.4x faster
            params = eqx.combine(jax.tree_util.tree_map(lambda a: a[0], arrays), learned["static"])
            leaves = jax.tree_util.tree_leaves(eqx.filter(params, eqx.is_inexact_array))
            kind = "Array" if isinstance(params, jax.Array) else type(params).__name__  # (traced here)
            require(len(leaves) > 0, "init", f"init(key) returned no floating-point arrays to train (got {kind})")
            learned.update(n_params=int(sum(np.size(x) for x in leaves)), params_type=kind)
            finite, checks = [], []  # the flags, and (culprit, refusal) of each, in check order
            learned["checks"] = checks
            if model.metrics is not None:
                extra = _user_call("metrics", "metrics(params)", model.metrics, params)
                require(isinstance(extra, Mapping) and all(isinstance(k, str) and k.isidentifier() for k in extra),
                        "metrics", f"must return a dict of named scalars, returned {type(extra).__name__}")
                for k, v in extra.items():
                    require(np.shape(v) == (), "metrics", f"metrics(params)[{k!r}] must be a finite scalar at theta0, "
                            f"got shape {np.shape(v)}")
                    checks.append(("metrics", f"metrics(params)[{k!r}] must be a finite scalar at theta0"))
                    finite.append(jnp.isfinite(v))
                learned["metric_names"] = tuple(extra)
            x = jnp.concatenate([x_train, x_test])  # one traced apply (one compilation) for both sets
            out = _user_call("apply", f"apply(params, x) on the data's inputs (x_train + x_test, x of shape "
                             f"{tuple(x.shape)}: do the data's shapes fit the model?)", model.apply, params, x)
            require(hasattr(out, "shape") and hasattr(out, "dtype"), "apply",
                    f"must return an array, returned {type(out).__name__}")
            require(out.ndim >= 1 and out.shape[0] == x.shape[0], "apply",
                    f"must return one output per point (leading axis {x.shape[0]}), returned shape {out.shape}")
            require(jnp.issubdtype(out.dtype, jnp.floating), "apply", f"must return floating-point outputs, got "
                    f"{out.dtype}")
            n_train = x_train.shape[0]
            for part, o in (("x_train", out[:n_train]), ("x_test", out[n_train:])):
                checks.append(("apply", f"returns non-finite values at theta0 on {part}"))
                finite.append(jnp.all(jnp.isfinite(o)))
            out = out[n_train:]
            out_shape = tuple(out.shape[1:])
            learned["out_shape"] = out_shape
            _check_targets(model.loss, out_shape, ytr, yte)
            for name, fn in (("loss", loss_fn), ("accuracy", acc_fn)):
                if fn is None:
                    continue
                value = _user_call(name, f"{name}(outputs, y)", fn, out[: y_few.shape[0]], y_few)
                shape = (len(axis[1]),) if name == "accuracy" and axis is not None else ()
                message = (f"{name}(outputs, y) must return finite values of shape {shape} (a scalar unless "
                           f"accuracy_axis is given), returned shape {jnp.shape(value)}")
                require(jnp.shape(value) == shape, name, message)
                checks.append((name, message))
                finite.append(jnp.all(jnp.isfinite(value)))
            return finite, arrays

        combos = list(itertools.product(*init_axes.values(), config.seed))  # θ0 order: init axes, then seed
        kws = {k: jnp.asarray([c[j] for c in combos], dtype) for j, k in enumerate(init_axes)}
        keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray([c[-1] for c in combos], jnp.uint32))
        few = min(4, xte.shape[0])
        flags, theta0 = eqx.filter_jit(probe)(keys, kws, jnp.asarray(xtr), jnp.asarray(xte), jnp.asarray(yte[:few]))
        for (culprit, message), ok in zip(learned["checks"], jax.device_get(flags)):
            require(bool(ok), culprit, message)
        description = model.description or (f"{getattr(model.apply, '__qualname__', 'apply')} on "
                                             f"{learned['params_type']} parameters")
    return _Checked(Data(xtr, ytr, xte, yte), learned["n_params"], learned["out_shape"], loss_fn, acc_fn, description,
                    learned.get("metric_names", ()), init_axes, (theta0, learned["static"], combos))


def _user_call(culprit: str, what: str, fn: Callable, *args, **kwargs):
    """``fn(*args, **kwargs)``; an exception other than :class:`ConfigError` is refused naming ``culprit``."""
    try:
        return fn(*args, **kwargs)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(culprit, f"{what} raised {type(exc).__name__}: {exc}") from exc


def _check_targets(loss, out_shape: tuple, ytr: np.ndarray, yte: np.ndarray) -> None:
    """The targets fit the model's outputs ``(n, *out_shape)`` for the built-in losses."""
    if loss == "cross_entropy":
        require(len(out_shape) >= 1, "apply", "cross_entropy needs outputs (n, ..., classes)")
        if ytr.dtype.kind in "iub":
            require(ytr.shape[1:] == out_shape[:-1], "data", f"integer labels need shape (n, *{out_shape[:-1]})"
                    f", got (n, *{ytr.shape[1:]}) for outputs (n, *{out_shape})")
            require(int(ytr.min()) >= 0 and int(max(ytr.max(), yte.max())) < out_shape[-1], "data",
                    f"labels must be in [0, {out_shape[-1]})")
        else:
            require(ytr.shape[1:] == out_shape, "data", f"one-hot targets of shape {ytr.shape[1:]} do not match "
                    f"outputs {out_shape}")
    elif loss == "mse":
        require(int(np.prod(ytr.shape[1:])) == int(np.prod(out_shape)) and ytr.dtype.kind == "f", "data",
                f"mse targets must be real with the model's output shape {out_shape}, got {ytr.shape[1:]} "
                f"({ytr.dtype})")


def _init_axes(model: Model) -> dict[str, list[float]]:
    """``Model.init_axes`` checked: ``{name: [values]}`` with identifier names (not a name the dataset already
    uses) and distinct finite values."""
    axes = model.init_axes
    if axes is None:
        return {}
    require(isinstance(axes, Mapping), "init_axes", f"must be None or a dict {{name: [values]}}, got {axes!r}")
    taken = {"alpha", "seed", "step", "lr", *CLI_HYPERPARAMETERS}
    if model.accuracy_axis is not None:
        taken.add(model.accuracy_axis[0])
    out = {}
    for name, values in axes.items():
        require(isinstance(name, str) and name.isidentifier() and name not in taken, "init_axes",
                f"names must be identifiers other than {sorted(taken)}, got {name!r}")
        require(isinstance(values, (list, tuple, np.ndarray)) and len(values) >= 1, "init_axes",
                f"{name!r} takes a list of values, got {values!r}")
        try:
            floats = [float(v) for v in values]
        except (TypeError, ValueError) as exc:
            raise ConfigError("init_axes", f"{name!r} values must be numbers ({exc})") from exc
        require(all(math.isfinite(v) for v in floats) and len(set(floats)) == len(floats), "init_axes",
                f"{name!r} values must be finite and distinct, got {list(values)}")
        out[name] = floats
    return out


# ------------------------------------------------------------------------------------------------- one run
def _optimizer(name: str, lr, hyper: Mapping[str, Any]):
    optax = _optax()
    return optax.inject_hyperparams(getattr(optax, name))(learning_rate=lr, **hyper)


def learning_rate(cfg: LazyRichConfig, lr, alpha):
    """The optimizer's learning rate for base rate ``lr`` at output scale ``alpha``: ``cfg.lr_rule`` (``lr /
    alpha²``, ``lr / alpha^lr_power`` or ``lr``), then, with ``cfg.warmup_steps = W > 0``, the schedule
    ``count -> rate · min((count + 1) / W, 1)`` of the optimizer's step count (``count = 0`` at the first step)."""
    rate = {"alpha^-2": lambda: lr / alpha ** 2, "alpha^-p": lambda: lr / alpha ** cfg.lr_power,
            "constant": lambda: lr}[cfg.lr_rule]()
    if cfg.warmup_steps == 0:
        return rate
    return lambda count: rate * jnp.minimum((count + 1) / cfg.warmup_steps, 1.0)


def batch_indices(cfg: LazyRichConfig, n_train: int) -> Callable:
    """``indices(key, t)``: the training-point indices of optimizer step ``t`` (``batch_size > 0``; the module
    docstring's convention): ``"random"``: ``batch_size`` uniform draws from ``key``; ``"cycle"``: the slice at
    ``(t · batch_size) mod n_train`` of ``[π, π]``, ``π = jax.random.permutation(PRNGKey(data_seed + 1),
    n_train)`` (computed once, here)."""
    if cfg.batch_order == "random":
        return lambda key, t: jax.random.randint(key, (cfg.batch_size,), 0, n_train)
    order = jax.random.permutation(jax.random.PRNGKey(cfg.data_seed + 1), n_train)
    twice = jnp.concatenate([order, order])
    return lambda key, t: jax.lax.dynamic_slice_in_dim(twice, (t * cfg.batch_size) % n_train, cfg.batch_size)


def _make_one(model: Model, checked: _Checked, cfg: LazyRichConfig, hyper_names: Sequence[str]):
    """``one(alpha, lr, hyper: dict, arrays, key) -> metrics`` for one configuration (vmapped by the sweep;
    ``arrays``: the array leaves of its θ0, from :func:`check_model`)."""
    import equinox as eqx

    from grokjax._kernels import cka_cortes, cka_paper, kernel_movement, kernel_regression, ntk_gram
    from grokjax._loop import run_logged
    from grokjax._schedule import log_steps

    Xtr, Ytr, Xte, Yte = (jnp.asarray(a) for a in checked.data)
    steps = log_steps(cfg.steps, cfg.log_points, cfg.log_schedule)
    loss_fn, acc_fn = checked.loss, checked.accuracy
    n_tr, k = Xtr.shape[0], int(np.prod(checked.out_shape)) if checked.out_shape else 1
    kp = cfg.kernel_points
    classes = checked.out_shape[-1] if checked.out_shape else 1
    indices = batch_indices(cfg, n_tr) if cfg.batch_size else None

    def one(alpha, lr, hyper, arrays, key):
        params = eqx.combine(arrays, checked.theta0[1])
        theta0, static = eqx.partition(params, eqx.is_inexact_array)

        def h(p, x):
            return model.apply(eqx.combine(p, static), x)

        opt = _optimizer(cfg.optimizer, learning_rate(cfg, lr, alpha), hyper)
        norm0 = tree_norm(theta0)
        if cfg.linearized:  # one forward-mode linearisation per set (its primal output is h(theta0))
            h0_tr, lin_tr = jax.linearize(lambda p: h(p, Xtr), theta0)
            h0_te, lin_te = jax.linearize(lambda p: h(p, Xte), theta0)
        else:
            h0_tr, h0_te = h(theta0, Xtr), h(theta0, Xte)
        c_tr = 0.0 if cfg.centered else h0_tr  # predictor = alpha * (h - h0) + alpha * c
        c_te = 0.0 if cfg.centered else h0_te

        def sub0(p):
            return jax.tree_util.tree_map(jnp.subtract, p, theta0)

        def f_net(p, X, h0):
            return alpha * (h(p, X) - h0)

        def f_lin(p, X, h0):  # alpha (h_lin - h0) = alpha J0 (p - theta0), for a batch X
            return alpha * jax.jvp(lambda q: h(q, X), (theta0,), (sub0(p),))[1]

        def full_net_tr(p):  # alpha (h - h0) (centred) or alpha h
            return alpha * (h(p, Xtr) - h0_tr) if cfg.centered else alpha * h(p, Xtr)

        def full_net_te(p):
            return alpha * (h(p, Xte) - h0_te) if cfg.centered else alpha * h(p, Xte)

        def full_lin_tr(p):
            return alpha * (lin_tr(sub0(p)) + c_tr)

        def full_lin_te(p):
            return alpha * (lin_te(sub0(p)) + c_te)

        if cfg.batch_size:
            def batch_loss(kind):
                def loss(p, idx):
                    X, Y = Xtr[idx], Ytr[idx]
                    h0 = h(theta0, X)
                    if kind == "net":
                        f = f_net(p, X, h0) if cfg.centered else alpha * h(p, X)
                    else:
                        f = f_lin(p, X, h0) + (0.0 if cfg.centered else alpha * h0)
                    return loss_fn(f, Y)
                return loss
            losses = {"net": batch_loss("net"), "lin": batch_loss("lin")}
        else:
            losses = {"net": lambda p, idx: loss_fn(full_net_tr(p), Ytr),
                      "lin": lambda p, idx: loss_fn(full_lin_tr(p), Ytr)}

        parts = ("net", "lin") if cfg.linearized else ("net",)

        def step(state):
            idx = None
            new = dict(state)
            if cfg.batch_size and cfg.batch_order == "random":
                key_, sub = jax.random.split(state["key"])
                idx, new["key"] = indices(sub, None), key_
            elif cfg.batch_size:  # "cycle": no key, the step counter
                idx, new["t"] = indices(None, state["t"]), state["t"] + 1
            out = {}
            for part in parts:
                p, o = state[part]
                loss, grads = jax.value_and_grad(losses[part])(p, idx)
                updates, o = opt.update(grads, o, p)
                out[part] = loss
                new[part] = (_optax().apply_updates(p, updates), o)
            return out, new

        if kp:
            Xp, Yp = Xte[:kp], _labels_to_targets(Yte[:kp], classes).reshape(kp, -1)
            Ytr_t = _labels_to_targets(Ytr, classes).reshape(n_tr, -1)
            fk = lambda p, X: alpha * h(p, X)  # noqa: E731  (centring does not change the Jacobian)
            batch = None if kp * k <= 256 else 256
            K0 = ntk_gram(fk, theta0, Xp, batch_size=batch)
            f0p = (h0_te[:kp] * alpha).reshape(kp, -1)
            f0tr = (h0_tr * alpha).reshape(n_tr, -1)

        def kernel_metrics(p):
            if not kp:
                return {}
            K = ntk_gram(fk, p, Xp, batch_size=batch)
            out = {**kernel_movement(K, K0), "kernel_target_alignment_paper": cka_paper(K, Yp),
                   "kernel_target_alignment_cortes": cka_cortes(K, Yp)}
            if cfg.after_kernel:
                Ktr = ntk_gram(fk, p, Xtr, batch_size=None if n_tr * k <= 256 else 256)
                Kpt = ntk_gram(fk, p, Xp, Xtr, batch_size=None if n_tr * k <= 256 else 256)
                offset = 0.0 if cfg.centered else f0tr
                test_offset = 0.0 if cfg.centered else f0p
                ridge = cfg.ridge * jnp.trace(Ktr) / n_tr
                pred = kernel_regression(Ktr, Kpt, Ytr_t - offset, ridge) + test_offset
                out["after_kernel_test_loss"] = jnp.mean((pred - Yp) ** 2)
            return out

        def observe(state):
            p = state["net"][0]
            ftr, fte = full_net_tr(p), full_net_te(p)
            m = {"train_loss": loss_fn(ftr, Ytr), "test_loss": loss_fn(fte, Yte),
                 "weight_norm": tree_norm(p), "rel_change": tree_norm(sub0(p)) / norm0}
            if acc_fn is not None:
                m.update(train_acc=acc_fn(ftr, Ytr), test_acc=acc_fn(fte, Yte))
            if cfg.linearized:
                q = state["lin"][0]
                ltr, lte = full_lin_tr(q), full_lin_te(q)
                m.update(lin_train_loss=loss_fn(ltr, Ytr), lin_test_loss=loss_fn(lte, Yte))
                if acc_fn is not None:
                    m.update(lin_train_acc=acc_fn(ltr, Ytr), lin_test_acc=acc_fn(lte, Yte))
                gap = jnp.sqrt(jnp.mean((fte - lte) ** 2))
                moved = jnp.sqrt(jnp.mean((lte - alpha * c_te) ** 2))
                m.update(lin_deviation=gap, lin_distance=jnp.where(moved > 0, gap / jnp.where(moved > 0, moved, 1.0), 0.0))
            m.update(kernel_metrics(p))
            if model.metrics is not None:
                m.update(model.metrics(eqx.combine(p, static)))
            return m

        state = {part: (theta0, opt.init(theta0)) for part in parts}
        if cfg.batch_size and cfg.batch_order == "random":
            state["key"] = jax.random.fold_in(key, 1)
        elif cfg.batch_size:
            state["t"] = jnp.int32(0)
        _, logged, div = run_logged(step, observe, state, steps, bound=cfg.divergence_bound, parts=parts)
        logged["diverged_step"] = div["net"]
        if cfg.linearized:
            logged["lin_diverged_step"] = div["lin"]
        return logged

    return one, steps


# ------------------------------------------------------------------------------------------------- the sweep
def _hyper_axes(cfg: LazyRichConfig, sweep: Mapping[str, Sequence[float]] | None) -> dict[str, list[float]]:
    """Optimizer hyperparameters swept (or fixed), in order: lr, the config's weight_decay / momentum, then
    ``sweep``'s keys."""
    axes: dict[str, list[float]] = {"lr": list(cfg.lr)}
    for name in CLI_HYPERPARAMETERS:
        if getattr(cfg, name):
            axes[name] = list(getattr(cfg, name))
    for name, values in (sweep or {}).items():
        require(name not in ("alpha", "seed", "learning_rate"), "sweep",
                f"{name!r} is a config field (alpha, seed, lr), not a sweep key")
        require(isinstance(values, (list, tuple, np.ndarray)) and len(values) >= 1, str(name),
                f"a swept hyperparameter takes a list of values, got {values!r}")
        require(len(set(map(float, values))) == len(values), str(name), f"has duplicate values {list(values)}")
        axes["lr" if name == "lr" else name] = [float(v) for v in values]
    optax = _optax()
    signature = inspect.signature(getattr(optax, cfg.optimizer))
    takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
    for name in axes:
        if name != "lr":
            require(name in signature.parameters or takes_kwargs, name,
                    f"optax.{cfg.optimizer} takes no hyperparameter {name!r} (it takes "
                    f"{', '.join(signature.parameters)})")
    return axes


def _bytes_per_config(checked: _Checked, cfg: LazyRichConfig, n_log: int) -> int:
    item = 8 if cfg.dtype == "float64" else 4
    n_tr, n_te = checked.data.x_train.shape[0], checked.data.x_test.shape[0]
    k = int(np.prod(checked.out_shape)) if checked.out_shape else 1
    models = 2 if cfg.linearized else 1
    state = 8 * checked.n_params * models  # params, theta0, grads, moments, jvp residuals
    outs = 8 * (n_tr + n_te) * k * models
    kern = 4 * cfg.kernel_points ** 2 + (4 * n_tr * (n_tr + cfg.kernel_points) if cfg.after_kernel else 0)
    return int(item * (state + outs + kern + 32 * n_log) * 2)


def _fingerprint(model: Model, checked: _Checked, cfg: LazyRichConfig, axes, alphas, seeds) -> str:
    digest = hashlib.sha256()
    shown = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)
             if f.name not in ("chunk_size", "checkpoint_dir")}
    digest.update(json.dumps({"config": shown, "axes": axes, "alpha": list(alphas), "seeds": list(seeds),
                              "model": [model.name, checked.description, str(model.loss), str(checked.out_shape),
                                        checked.n_params, str(model.accuracy_axis), checked.init_axes,
                                        getattr(model.metrics, "__qualname__", str(model.metrics))]}, sort_keys=True, default=str).encode())
    for a in checked.data:
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()[:16]


def run_model(model: Model, config: LazyRichConfig | None = None, *, sweep: Mapping[str, Sequence[float]] | None = None,
              memory_limit: int | None = None):
    """Train ``model`` at every α × optimizer hyperparameter × seed of ``config`` in one compiled program and
    return the labelled learning curves.

    Args:
      model: the :class:`Model` (checked first by :func:`check_model`; nothing is computed on bad input).
      config: a :class:`LazyRichConfig` (default: its defaults).
      sweep: extra optimizer hyperparameters to sweep, ``{name: [values]}`` (any keyword of
        ``optax.<config.optimizer>``, e.g. ``{"b1": [0.9, 0.99]}``; ``"lr"`` replaces ``config.lr``). Each is an
        ``optax.inject_hyperparams`` state leaf, so all values share one compilation.
      memory_limit: bytes per device for one chunk of configurations (default: the device's usable memory); the
        flat configuration axis is split into chunks that fit (``config.chunk_size`` overrides). With several
        local devices each chunk is sharded over them (``jax.sharding``, one program).

    Returns:
      An ``xarray.Dataset`` with dims ``(alpha, [Model.init_axes], [lr, hyperparameters swept with > 1 value],
      seed, step)``
      (curves) and ``(alpha, ..., seed)`` (``diverged_step``, ``lin_diverged_step``); variables are described in
      :data:`VARIABLES` (each carries ``long_name``/``units``/``description``); ``attrs`` state the model
      description, loss, predictor convention, learning-rate rule, optimizer and the fixed hyperparameters.
    """
    from grokjax._memory import memory_limit_bytes

    cfg = LazyRichConfig() if config is None else config
    require(isinstance(cfg, LazyRichConfig), "config", f"must be a LazyRichConfig, got {type(cfg).__name__}")
    cfg.validate()
    checked = check_model(model, cfg)
    axes = _hyper_axes(cfg, sweep)
    fixed_hyper = {k: v[0] for k, v in axes.items() if len(v) == 1}
    swept = {k: v for k, v in axes.items() if len(v) > 1}
    with jax.enable_x64(cfg.dtype == "float64"):
        try:  # the optimizer takes these hyperparameters (before compute)
            _optimizer(cfg.optimizer, 0.1, {k: v[0] for k, v in axes.items() if k != "lr"}).init(
                jnp.zeros((1,), jnp.float32))
        except Exception as exc:
            raise ConfigError("optimizer", f"optax.{cfg.optimizer} refused the hyperparameters "
                              f"{[k for k in axes if k != 'lr']}: {type(exc).__name__}: {exc}") from exc
    hyper_names = [k for k in axes if k != "lr"]
    model_axes = checked.init_axes
    grid = list(itertools.product(cfg.alpha, *model_axes.values(), *axes.values(), cfg.seed))
    total = len(grid)
    columns = [f"m_{name}" for name in model_axes] + [f"h_{name}" for name in axes]
    theta0_index = {combo: i for i, combo in enumerate(checked.theta0[2])}  # check_model's θ0 of each row
    flat = {"alpha": np.array([g[0] for g in grid], np.float64),
            **{col: np.array([g[1 + j] for g in grid], np.float64) for j, col in enumerate(columns)},
            "seed": np.array([g[-1] for g in grid], np.uint32),
            "theta0": np.array([theta0_index[(*g[1:1 + len(model_axes)], g[-1])] for g in grid], np.int64)}
    with jax.enable_x64(cfg.dtype == "float64"):  # the data it closes over keep the run's precision
        one, steps = _make_one(model, checked, cfg, hyper_names)
    per = _bytes_per_config(checked, cfg, len(steps))
    limit = memory_limit if memory_limit is not None else memory_limit_bytes()
    require(per <= limit, "memory_limit", f"one configuration needs ~{per / 2**20:.1f} MiB, more than the limit "
            f"of {limit / 2**20:.1f} MiB")
    devices = jax.local_devices()
    n_dev = len(devices)
    chunk = min(total, cfg.chunk_size or total, max(1, limit // per) * n_dev)
    if n_dev > 1:  # every device gets the same number of configurations (the last chunk is padded by wrapping)
        chunk = -(-chunk // n_dev) * n_dev
    ckpt = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else None
    if ckpt is not None:
        from grokjax.store import check_writable

        check_writable(ckpt, "checkpoint_dir", directory=True)
    fingerprint = _fingerprint(model, checked, cfg, axes, cfg.alpha, cfg.seed)
    dtype = jnp.float64 if cfg.dtype == "float64" else jnp.float32

    def batched(inputs, theta0):
        alpha, seed, h = inputs["alpha"], inputs["seed"], inputs
        keys = jax.vmap(jax.random.PRNGKey)(seed)
        hyper = {name: h[f"h_{name}"].astype(dtype) for name in hyper_names}
        arrays = jax.tree_util.tree_map(lambda a: a[h["theta0"]], theta0)
        args = (alpha.astype(dtype), h["h_lr"].astype(dtype), hyper, arrays, keys)
        if chunk == 1:  # one configuration per program: no vmap (XLA:CPU runs batched matmuls ~2x slower)
            out = one(*jax.tree_util.tree_map(lambda x: x[0], args))
            return jax.tree_util.tree_map(lambda x: x[None], out)
        return jax.vmap(one)(*args)

    if n_dev > 1:  # the configuration axis sharded over the local devices (one program, as run_sweep)
        from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

        mesh = Mesh(np.array(devices), ("configs",), axis_types=(AxisType.Auto,))
        sharding = NamedSharding(mesh, PartitionSpec("configs"))
        compiled = jax.jit(batched, in_shardings=(sharding, NamedSharding(mesh, PartitionSpec())),
                           out_shardings=sharding)
    else:
        compiled = jax.jit(batched)
    started = time.perf_counter()
    with jax.enable_x64(cfg.dtype == "float64"):
        # the one chunk loop of every resumable run: lock, manifest, verified resume, atomic chunks, multi-host
        out, _, _ = run_chunks(lambda idx: compiled({k: jnp.asarray(v[idx]) for k, v in flat.items()},
                                                    checked.theta0[0]),
                               flat, chunk, checkpoint_dir=ckpt, fingerprint=fingerprint, chunk_size=chunk)
    wall = time.perf_counter() - started
    return _to_dataset(model, checked, cfg, axes, swept, fixed_hyper, steps, out, wall, chunk, total, fingerprint)


# ------------------------------------------------------------------------------------------- labelled results
def _loss_words(loss) -> str:
    if loss == "mse":
        return "mean squared error over every output entry (no 1/2)"
    if loss == "cross_entropy":
        return "mean softmax cross-entropy of the outputs as logits"
    return f"the user's loss {getattr(loss, '__qualname__', repr(loss))}(outputs, y)"


def _predictor_words(cfg: LazyRichConfig) -> str:
    return ("f(x) = alpha [h(x; theta) - h(x; theta0)] (centred)" if cfg.centered
            else "f(x) = alpha h(x; theta) (not centred)")


#: Variables and coordinates of :func:`run_model` datasets: name -> (long_name, units, description template);
#: ``{loss}``, ``{predictor}``, ``{accuracy}``, ``{probe}`` and ``{lr_rule}`` are filled with the run's own loss,
#: predictor convention, accuracy rule, probe set and learning-rate rule (the table: ``grokjax/variables.json``).
VARIABLES: dict[str, tuple[str, str, str]] = MODEL_LAYER_VARIABLES["variables"]
COORDINATES: dict[str, tuple[str, str, str]] = MODEL_LAYER_VARIABLES["coordinates"]


def _attrs_for(name: str, table, fill) -> dict[str, str]:
    long_name, units, text = table.get(name, (name.replace("_", " "), "1", f"optimizer hyperparameter {name} "
                                              "(optax.inject_hyperparams)"))
    return {"long_name": long_name, "units": units, "description": text.format(**fill)}


def _to_dataset(model, checked, cfg, axes, swept, fixed_hyper, steps, out, wall, chunk, total, fingerprint):
    import xarray as xr

    model_axes = checked.init_axes
    shape = [len(cfg.alpha)] + [len(v) for v in model_axes.values()] + [len(v) for v in axes.values()] + [len(cfg.seed)]
    names = ["alpha"] + list(model_axes) + list(axes) + ["seed"]
    keep = ["alpha"] + list(model_axes) + list(swept) + ["seed"]
    coords = {"alpha": np.asarray(cfg.alpha, float), "seed": np.asarray(cfg.seed), "step": steps,
              **{k: np.asarray(v, float) for k, v in {**model_axes, **swept}.items()}}
    axis = model.accuracy_axis
    if axis is not None:
        coords[axis[0]] = np.asarray(axis[1])
    drop = tuple(i for i, n in enumerate(names) if n not in keep)
    data_vars = {}
    for name, value in out.items():
        value = value.reshape(shape + list(value.shape[1:]))
        value = value.reshape([s for i, s in enumerate(value.shape) if i not in drop])
        extra = [axis[0]] if axis is not None and name.endswith("_acc") else []
        data_vars[name] = (keep + (["step"] if value.ndim > len(keep) + len(extra) else []) + extra, value)
    ds = xr.Dataset(data_vars, coords=coords)
    accuracy = model.accuracy if model.accuracy is not None else ("argmax" if model.loss == "cross_entropy" else None)
    lr_rule = {"alpha^-2": "lr / alpha^2", "alpha^-p": f"lr / alpha^{cfg.lr_power:g}",
               "constant": "lr (constant in alpha)"}[cfg.lr_rule]
    if cfg.warmup_steps:
        lr_rule += f" x min((t + 1) / {cfg.warmup_steps}, 1) at optimizer step t (linear warm-up)"
    fill = {"loss": _loss_words(model.loss), "predictor": _predictor_words(cfg),
            "accuracy": getattr(accuracy, "__qualname__", str(accuracy)), "lr_rule": lr_rule,
            "probe": f"the first {cfg.kernel_points} test points"}
    own = set(checked.metric_names)
    for name in ds.variables:
        table = COORDINATES if name in ds.coords else VARIABLES
        if name in own:
            table = {name: (VARIABLES.get(name, (name.replace("_", " "),))[0], "1", "the model's own metric "
                            f"({getattr(model.metrics, '__qualname__', 'metrics')}) of the network's parameters")}
        if axis is not None and name == axis[0]:
            table = {name: (name.replace("_", " "), "1", "entries of the accuracy rule's output (Model.accuracy_axis)")}
        if name in model_axes:
            table = {name: (name.replace("_", " "), "1", f"model hyperparameter: init(key, {name}=value) "
                            "(Model.init_axes)")}
        ds[name].attrs.update(_attrs_for(str(name), table, fill))
    ds.attrs.update(
        task=model.name, model_description=checked.description, loss=fill["loss"], predictor=fill["predictor"],
        linearisation="h_lin(x; theta) = h(x; theta0) + J(x; theta0)(theta - theta0) by jax.jvp, trained side by "
        "side" if cfg.linearized else "not trained",
        learning_rate_rule=f"optax.{cfg.optimizer}(learning_rate={lr_rule})",
        optimizer=cfg.optimizer, fixed_hyperparameters=json.dumps(fixed_hyper),
        n_parameters=checked.n_params, output_shape=json.dumps(list(checked.out_shape)),
        n_train=int(checked.data.x_train.shape[0]), n_test=int(checked.data.x_test.shape[0]),
        engine="grokjax.run_model (weights of the user's model, one compiled vmapped program)",
        conventions=("grokjax.run_model (grokjax/_lazy_rich.py): " + fill["predictor"] + "; h = the user's apply; "
                     f"loss: {fill['loss']}; learning rate {lr_rule}; NTK = output-traced empirical NTK of the "
                     "predictor (alpha^2 included); 'step' counts optimizer steps"),
        n_chunks=-(-total // chunk), chunk_size=chunk, wall_seconds=wall, sweep_fingerprint=fingerprint,
        n_diverged=int(np.sum(out["diverged_step"] >= 0)))
    ds.attrs["summary"] = _summary(ds)
    attach_config(ds, cfg)  # the run's LazyRichConfig in the store's one schema (a task attaches its own instead)
    return ds


def _summary(ds) -> str:
    lines = [f"{ds.attrs['task']}: {ds.attrs['model_description']}"]
    for a in ds["alpha"].values:
        sub = ds.sel(alpha=a)
        sub = sub.isel({d: 0 for d in sub["train_loss"].dims if d not in ("seed", "step")}).mean("seed")
        line = (f"  alpha={a:g}: train loss {float(sub['train_loss'][0]):.3g} -> {float(sub['train_loss'][-1]):.3g}, "
                f"test loss {float(sub['test_loss'][0]):.3g} -> {float(sub['test_loss'][-1]):.3g}")
        if "lin_test_loss" in sub:
            line += f", linearised test loss -> {float(sub['lin_test_loss'][-1]):.3g}"
        if "kernel_movement" in sub:
            line += f", kernel movement {float(sub['kernel_movement'][-1]):.3g}"
        lines.append(line)
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- analysis, plot
def grokking_delays(ds, threshold: float | None = None, *, train: str = "train_loss", test: str = "test_loss"):
    """Grokking delays of a :func:`run_model` dataset (per configuration): ``half_drop_delay`` (always, the
    paper figures' rule, :func:`grokjax.half_drop_delay`) and, with ``threshold``, ``threshold_delay``
    (:func:`grokjax.threshold_delay`: losses below, accuracies — names ending in ``acc`` — at or above)."""
    import xarray as xr

    from grokjax._metrics import half_drop_delay, threshold_delay

    dims = [d for d in ds[train].dims if d != "step"]
    steps = ds["step"].values
    tr, te = ds[train].transpose(*dims, "step").values, ds[test].transpose(*dims, "step").values
    out = {"half_drop_delay": (dims, np.asarray(half_drop_delay(steps, tr, te, below=not train.endswith("acc"))))}
    if threshold is not None:
        out["threshold_delay"] = (dims, np.asarray(threshold_delay(steps, tr, te, threshold,
                                                                   below=not train.endswith("acc"))))
    return xr.Dataset(out, coords={d: ds[d] for d in dims})


def plot_lazy_rich(ds, path: str | Path | None = None):
    """The standard lazy-vs-rich figure of a :func:`run_model` dataset (or the path of a saved one): per α
    (seed means): (a) train/test loss of the network (solid) and the linearisation (dashed), (b) the
    network–linearisation distance, (c) kernel movement, (d) kernel-target alignment, (e) relative parameter
    change and weight norm. Written to ``path`` (any matplotlib format) when given; returns the figure."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if isinstance(ds, (str, Path)):
        from grokjax.store import load_dataset

        ds = load_dataset(ds)
    extra = [d for d in ds["train_loss"].dims if d not in ("alpha", "seed", "step")]
    ds = ds.isel({d: 0 for d in extra})
    steps = np.maximum(ds["step"].values, 1)
    fig, axes = plt.subplots(1, 5, figsize=(20, 3.6))
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(ds["alpha"])))
    for colour, a in zip(colours, ds["alpha"].values):
        sub = ds.sel(alpha=a).mean("seed")
        axes[0].loglog(steps, sub["test_loss"], color=colour, label=f"alpha={a:g}")
        axes[0].loglog(steps, sub["train_loss"], color=colour, alpha=0.4)
        if "lin_test_loss" in sub:
            axes[0].loglog(steps, sub["lin_test_loss"], color=colour, ls="--")
            axes[1].semilogx(steps, sub["lin_distance"], color=colour)
        if "kernel_movement" in sub:
            axes[2].semilogx(steps, sub["kernel_movement"], color=colour)
            axes[3].semilogx(steps, sub["kernel_target_alignment_paper"], color=colour)
        axes[4].semilogx(steps, sub["rel_change"], color=colour)
    titles = ["loss: test (solid), train (faint), linearised test (dashed)", "||f - f_lin|| / ||f_lin - f0||",
              "kernel movement ||K_t - K_0|| / ||K_0||", "kernel-target alignment (paper CKA)",
              "||theta - theta0|| / ||theta0||"]
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{ds.attrs.get('task', 'model')}: {ds.attrs.get('model_description', '')}", fontsize=10)
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    return fig
