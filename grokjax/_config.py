"""Configuration of the polynomial-regression committee machine.

Conventions (see README, "Conventions"):

* network      f(x) = (alpha/N) sum_k a_k phi(w_k . x),  phi(h) = h + (eps/2) h^2,  a_k = 1 unless
               ``readouts="trained"`` (then a_k ~ init_scale * N(0,1) and trained);
* inputs       internally always x ~ N(0, I_D/D) so that h_k = w_k . x. Convention "A" draws x this way and
               uses y = 1/2 (beta.x)^2; convention "B" draws x ~ N(0, I_D) and uses h = w.x/sqrt(D),
               y = (beta.x/sqrt(D))^2, which is the same model with the target doubled (c2 = 1);
* target       y = c0 + c2 (beta.x)^2 with c2 = 1/2 (A) or 1 (B); ``target="he2"`` subtracts the mean
               (c0 = -c2 |beta|^2/D), i.e. y = c2 He2-like, with zero projection on constants;
* predictor    f(x; W) - f(x; W0) when ``centered`` (Chizat-Oyallon-Bach), else f(x; W);
* loss         plain mean squared error over the P training points, no 1/2: L = (1/P) sum (f~ - y)^2;
* step size    eta = eta0 * N / alpha^2 (keeps function-space speed independent of alpha and N).
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import re
import sys
import typing
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from grokjax._errors import ConfigError, require

OPTIMIZERS = ("gd", "momentum", "nesterov", "adam", "adamw")
ENGINES = ("auto", "weights", "reduced")
MAX_SEED = 2**32 - 1
MAX_N_LOG = 100_000  # logged steps per run (a larger schedule is refused, not left to hang)


def param(default, help: str, *, sweep: bool = False, choices: tuple | None = None, check: str = "",
          finite: bool = True, open_choices=None, distinct: bool = False, flag: str | None = None,
          positional: bool = False):
    """A declared configuration field (the one declaration every config uses): its default, help text, whether
    it can be swept in one compiled program (:class:`PolyConfig`: an array leaf of the pytree), its allowed
    values (``open_choices``: a predicate admitting further strings), a range ``check`` and whether it must be
    ``finite``; a list field with ``distinct`` refuses repeated values; ``flag`` is its command-line name when it
    is not the field's (``--from`` for ``from_path``), ``positional`` makes it a positional argument. Its type
    comes from the annotation (``int``,
    ``float``, ``str``, ``bool``, ``Optional[...]``, ``tuple[X, ...]``: every element checked).

    ``check``: ``">0"``, ``">=0"``, ``">=1"`` (any ``<op><number>``), an interval ``"[0,1)"``, ``"(0,1]"``,
    ``"[1,28]"`` ..., ``"seed"`` (an integer in [0, 2^32 - 1]), or for a string ``"path"`` (a non-empty file or
    folder name). The CLI flags, config files, Python
    constructors, error messages and the property-based tests are all read from these (:func:`check_field`)."""
    return dataclasses.field(default=default, metadata={"help": help, "sweep": sweep, "choices": choices,
                                                        "check": check, "finite": finite,
                                                        "open_choices": open_choices, "distinct": distinct,
                                                        "flag": flag, "positional": positional})


@dataclass(frozen=True)
class PolyConfig:
    """One committee-machine training run (see module docstring for every convention).

    The single declaration of every parameter of the polynomial task: validated at construction (a
    :class:`grokjax.ConfigError` naming the field), frozen, and a JAX pytree (registered in
    ``grokjax._simulate``) whose swept fields are array leaves and whose other fields are static.
    """

    D: int = param(100, "input dimension", check=">=1")
    N: int = param(500, "hidden neurons", check=">=1")
    P: int = param(550, "training points", check=">=1")
    P_test: int = param(1000, "fresh test points", check=">=1")
    alpha: float = param(1.0, "output scale (laziness); step size eta0 N / alpha^2", sweep=True, check=">0")
    eps: float = param(0.02, "quadratic part of phi(h) = h + (eps/2) h^2 (kernel alignment)", sweep=True,
                       check=">=0")
    eta0: float = param(1.0, "base step size: eta = eta0 N / alpha^2", sweep=True, check=">0")
    init_scale: float = param(1.0, "initial weight scale sigma: W ~ sigma N(0, 1)", sweep=True, check=">0")
    momentum: float = param(0.9, "momentum mu of 'momentum' / 'nesterov' (optax trace decay); only those "
                            "optimizers read it, so leave it at 0.9 otherwise", sweep=True, check="[0,1)")
    weight_decay: float = param(0.0, "decoupled weight decay of 'adamw' (only adamw reads it)", sweep=True,
                                check=">=0")
    steps: int = param(100_000, "training steps", check=">=1")
    n_log: int = param(120, f"logged steps (<= steps and <= {MAX_N_LOG})", check=">=1")
    log_schedule: str = param("log", "spacing of the logged steps", choices=("log", "linear"))
    convention: str = param("A", "A: x ~ N(0, I/D), y = (beta.x)^2 / 2; B: x ~ N(0, I), y = (beta.x/sqrt D)^2",
                            choices=("A", "B"))
    target: str = param("quadratic", "quadratic (paper) or he2 (target mean removed)", choices=("quadratic", "he2"))
    centered: bool = param(True, "centred predictor f - f0 (else the plain network)")
    readouts: str = param("fixed", "readouts a_k = 1 (fixed) or trained", choices=("fixed", "trained"))
    optimizer: str = param("gd", "optimizer; also any optax optimizer name taking the step size (e.g. rmsprop)",
                           choices=OPTIMIZERS, open_choices=lambda name: _is_optax_optimizer(name))
    lazy: bool = param(True, "train the exact linearised (lazy) model side by side")
    kernel_regression: bool = param(True, "kernel-regression baseline with the initial NTK")
    ridge: float = param(0.0, "kernel-regression ridge, relative to tr K0 / P", check=">=0")
    n_align: int = param(1000, "test points for the NTK alignment (0 = off; capped at P_test)", check=">=0")
    cka: str = param("paper", "alignment: paper (one-sided centring, authors' code) or cortes (double-centred)",
                     choices=("paper", "cortes"))
    engine: str = param("auto", "exact engine (auto = cheaper by the cost model)", choices=ENGINES)
    dtype: str = param("float32", "floating-point precision", choices=("float32", "float64"))
    seed: int = param(0, "random seed (data and initialisation)", check="seed")
    divergence_bound: float = param(1e8, "a loss above this (or NaN/inf) freezes the run and flags it", check=">0")

    def __post_init__(self):
        self._validate()

    # ---------------------------------------------------------------- pytree (registered in grokjax._simulate)
    def _tree_flatten(self):
        return tuple(getattr(self, f) for f in SWEEPABLE), tuple(getattr(self, f) for f in STATIC_FIELDS)

    @classmethod
    def _tree_unflatten(cls, static, leaves) -> "PolyConfig":
        """Rebuild from pytree parts without validating again (each configuration was validated once, when it
        was constructed from numbers); leaves may be arrays, tracers or JAX's placeholders."""
        obj = object.__new__(cls)
        for name, value in zip(STATIC_FIELDS, static):
            object.__setattr__(obj, name, value)
        for name, value in zip(SWEEPABLE, leaves):
            object.__setattr__(obj, name, value)
        return obj

    def with_leaves(self, **leaves) -> "PolyConfig":
        """This (validated) configuration with swept fields replaced by arrays (e.g. one value per configuration
        of a sweep chunk), without validation: the caller validated every value as a number before."""
        require(set(leaves) <= set(SWEEPABLE), "sweep", f"only {SWEEPABLE} can hold arrays")
        return PolyConfig._tree_unflatten(tuple(getattr(self, f) for f in STATIC_FIELDS),
                                          tuple(leaves.get(f, getattr(self, f)) for f in SWEEPABLE))

    # ---------------------------------------------------------------- validation
    def _validate(self) -> None:
        """Raise :class:`grokjax.ConfigError` naming the first invalid field. Python, numpy and concrete JAX
        scalars and 0-d arrays are checked alike (and stored as Python numbers); arrays of other shapes are
        refused. Only JAX tracers (a swept field inside the caller's ``jit``) cannot be checked."""
        concrete = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("sweep") and _is_array_leaf(value):
                continue
            concrete[f.name] = check_field(f, value, PolyConfig)
            object.__setattr__(self, f.name, concrete[f.name])  # numpy scalars -> Python int/float
        if concrete.get("n_log", 0) > concrete.get("steps", 0):
            raise ConfigError("n_log", f"must be <= steps={self.steps}, got {self.n_log}")
        if self.optimizer not in OPTIMIZERS:
            require(_is_optax_optimizer(self.optimizer), "optimizer",
                    f"must be one of {OPTIMIZERS} or the name of an optax optimizer (e.g. 'rmsprop', 'lion')")
        if "weight_decay" in concrete and concrete["weight_decay"] != 0 and self.optimizer != "adamw":
            raise ConfigError("weight_decay", f"only optimizer='adamw' uses it; got {self.weight_decay} with "
                              f"optimizer={self.optimizer!r}")
        default_mu = PolyConfig.__dataclass_fields__["momentum"].default
        if "momentum" in concrete and concrete["momentum"] != default_mu and self.optimizer not in (
                "momentum", "nesterov"):
            raise ConfigError("momentum", f"only optimizer='momentum' or 'nesterov' uses it; got {self.momentum} "
                              f"with optimizer={self.optimizer!r}")
        if self.engine != "auto":
            from grokjax._engines import ENGINES as REGISTRY

            refused = REGISTRY[self.engine].supports(self)
            if refused is not None:
                raise ConfigError(*refused)

    def validate(self) -> "PolyConfig":
        """Re-check every field (construction already did); return ``self``."""
        self._validate()
        return self

    def replace(self, **changes) -> "PolyConfig":
        """A copy with ``changes``, validated; on a configuration whose swept fields are arrays (inside a compiled
        sweep) only the changed fields are checked."""
        if any(_is_array_leaf(getattr(self, f)) or hasattr(getattr(self, f), "shape") for f in SWEEPABLE):
            fields = {f.name: f for f in dataclasses.fields(self)}
            for name in changes:
                require(name in fields, name, "is not a PolyConfig field")
            checked = {k: v if fields[k].metadata.get("sweep") and (_is_array_leaf(v) or hasattr(v, "shape"))
                       else check_field(fields[k], v, PolyConfig) for k, v in changes.items()}
            static = tuple(checked.get(f, getattr(self, f)) for f in STATIC_FIELDS)
            return PolyConfig._tree_unflatten(static, tuple(checked.get(f, getattr(self, f)) for f in SWEEPABLE))
        return dataclasses.replace(self, **changes)

    # ---------------------------------------------------------------- derived quantities
    @property
    def lr(self) -> float:
        """Step size on the plain MSE: eta0 * N / alpha^2."""
        return self.eta0 * self.N / self.alpha**2

    @property
    def target_c2(self) -> float:
        return 0.5 if self.convention == "A" else 1.0


#: Scalars that may differ between the configurations of one compiled sweep (array leaves of the pytree).
SWEEPABLE = tuple(f.name for f in dataclasses.fields(PolyConfig) if f.metadata["sweep"])
STATIC_FIELDS = tuple(f.name for f in dataclasses.fields(PolyConfig) if not f.metadata["sweep"])


def _is_array_leaf(value) -> bool:
    """A JAX tracer (a swept field inside a user's ``jit``) or JAX's placeholder ``object()``: values that
    cannot be checked here. Concrete numpy / JAX arrays are not leaves: they are checked like numbers."""
    if type(value) is object:
        return True
    jax = sys.modules.get("jax")
    if jax is None or not isinstance(value, jax.Array):
        return False
    try:  # public API only (jax.core is outside JAX's compatibility policy): a tracer cannot become concrete
        value.__array__()
    except jax.errors.JAXTypeError:
        return True
    return False


def _scalar(name: str, value):
    """A Python scalar from a Python / numpy scalar, a 0-d numpy array or a concrete 0-d JAX array (or the value
    unchanged); an array of any other shape is refused: a field takes one value."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "shape") and hasattr(value, "dtype") and not _is_array_leaf(value):
        shape = tuple(value.shape)
        if shape != ():
            raise ConfigError(name, f"takes a single value, got an array of shape {shape}")
        return np.asarray(value).item()
    return value


_OP = re.compile(r"(>=|>|<=|<)\s*(-?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)$")
_INTERVAL = re.compile(r"([\[(])\s*(-?[\d.e+]+|-inf)\s*,\s*(-?[\d.e+]+|inf)\s*([\])])$")


def bounds(check: str) -> tuple[float, bool, float, bool]:
    """``(low, low_closed, high, high_closed)`` of a declared range ``check`` (see :func:`param`)."""
    if not check:
        return -math.inf, False, math.inf, False
    if check == "seed":
        return 0, True, MAX_SEED, True
    match = _OP.match(check)
    if match:
        op, number = match.group(1), float(match.group(2))
        return {">": (number, False, math.inf, False), ">=": (number, True, math.inf, False),
                "<": (-math.inf, False, number, False), "<=": (-math.inf, False, number, True)}[op]
    match = _INTERVAL.match(check)
    if match:
        return float(match.group(2)), match.group(1) == "[", float(match.group(3)), match.group(4) == "]"
    raise ValueError(f"unknown range check {check!r}")


def _in_bounds(value: float, check: str) -> bool:
    low, low_closed, high, high_closed = bounds(check)
    above = low == -math.inf or (value >= low if low_closed else value > low)
    below = high == math.inf or (value <= high if high_closed else value < high)
    return above and below


def _range_text(check: str) -> str:
    if check == "seed":
        return f"an integer in [0, {MAX_SEED}]"
    match = _OP.match(check)
    if match:
        return f"{match.group(1)} {match.group(2)}"
    return f"in {check}"


def field_kind(cls: type, name: str) -> tuple[str, bool, bool]:
    """``(scalar type name, optional, sequence)`` of a declared field from its annotation."""
    hints = _hints(cls)
    tp, optional, sequence = hints[name], False, False
    if typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional, tp = len(args) < len(typing.get_args(tp)), args[0]
    if typing.get_origin(tp) in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        sequence, tp = True, (args[0] if args else float)
    if tp is tuple or tp is list:
        sequence, tp = True, float
    return getattr(tp, "__name__", str(tp)), optional, sequence


_HINTS: dict[type, dict] = {}


def _hints(cls: type) -> dict:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _check_scalar(name: str, kind: str, value, meta: Mapping):
    value = _scalar(name, value)
    if kind == "bool":
        require(isinstance(value, bool), name, f"must be true or false, got {value!r}")
        return value
    if kind == "str":
        require(isinstance(value, str), name, f"must be a string, got {value!r}")
        choices, other = meta.get("choices"), meta.get("open_choices")
        if choices and value not in choices:
            if other is None:
                raise ConfigError(name, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
            require(other(value), name, f"must be one of {choices} or the name of an optax optimizer (e.g. "
                    f"'rmsprop', 'lion'), got {value!r}")
        if meta.get("check") == "path":  # a file or folder name: "" would silently mean "." (or "no output")
            require(value.strip() != "" and "\0" not in value, name, f"must be a non-empty path, got {value!r}")
        return value
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    check = meta.get("check", "")
    if kind == "int":
        require(is_number and isinstance(value, numbers.Integral), name, f"must be an integer, got {value!r}")
        value = int(value)
    else:
        require(is_number, name, f"must be a number, got {value!r}")
        value = float(value)
        if meta.get("finite", True):
            require(math.isfinite(value), name, f"must be finite, got {value!r}")
        else:
            require(not math.isnan(value), name, f"must be a number, got {value!r}")
    if check:
        require(_in_bounds(value, check), name, f"must be {_range_text(check)}, got {value!r}")
    choices = meta.get("choices")
    if choices:
        require(value in choices, name, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_field(f: dataclasses.Field, value, cls: type | None = None):
    """Check one value against its declared field (type from the annotation of ``cls``, range, finiteness,
    allowed values); return it normalised (numpy / JAX scalars -> Python; lists -> tuples) or raise
    :class:`ConfigError` naming the field (by its declared ``flag`` name where it has one)."""
    name = f.metadata.get("flag") or f.name
    if cls is None:
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        optional, sequence = False, False
    else:
        kind, optional, sequence = field_kind(cls, f.name)
    if value is None and optional:
        return None
    if not sequence:
        value = _check_scalar(name, kind, value, f.metadata)
        if name == "n_log" and cls is PolyConfig:
            require(value <= MAX_N_LOG, name, f"must be <= {MAX_N_LOG}, got {value}")
        return value
    if isinstance(value, np.ndarray) or (hasattr(value, "shape") and hasattr(value, "dtype")
                                         and not _is_array_leaf(value)):
        require(np.ndim(value) == 1, name, f"takes a list of values, got an array of shape {np.shape(value)}")
        value = list(np.asarray(value).tolist())
    require(isinstance(value, (list, tuple)), name, f"takes a list of values, got {value!r}")
    require(len(value) >= 1 or f.default == (), name, "needs at least one value")  # () as default: "none"
    value = tuple(_check_scalar(name, kind, v, f.metadata) for v in value)
    if f.metadata.get("distinct"):
        require(len(set(value)) == len(value), name, f"has duplicate values {list(value)}")
    return value


def declared_fields(cls: type) -> tuple[dataclasses.Field, ...]:
    """The declared (``param``) fields of a config class."""
    return tuple(f for f in dataclasses.fields(cls) if "check" in f.metadata)


def validate_fields(obj) -> None:
    """Check every declared field of the dataclass ``obj`` (once, at construction) and store the normalised
    values; the first invalid one raises :class:`ConfigError` naming it."""
    cls = type(obj)
    for f in declared_fields(cls):
        value = getattr(obj, f.name)
        if f.metadata.get("sweep") and _is_array_leaf(value):
            continue
        object.__setattr__(obj, f.name, check_field(f, value, cls))


def is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_seeds(seeds, field: str = "seeds") -> list[int]:
    """A non-empty list of distinct integer seeds in [0, 2^32 - 1], or ConfigError naming ``field``."""
    require(hasattr(seeds, "__len__") and not isinstance(seeds, (str, bytes, dict)), field,
            f"must be a list of integers, got {seeds!r}")
    require(len(seeds) >= 1, field, "needs at least one seed")
    for seed in seeds:
        require(is_int(seed) and 0 <= seed <= MAX_SEED, field,
                f"each seed must be an integer in [0, {MAX_SEED}], got {seed!r}")
    require(len(set(int(s) for s in seeds)) == len(seeds), field, f"has duplicate seeds {list(seeds)}")
    return [int(s) for s in seeds]


def _is_optax_optimizer(name: str) -> bool:
    import optax

    return not name.startswith("_") and callable(getattr(optax, name, None)) and name not in ("chain", "inject_hyperparams")


def reduced_supported(cfg: PolyConfig) -> bool:
    """Whether the reduced engine implements this configuration (see ``grokjax._engines``)."""
    from grokjax._engines import ENGINES as REGISTRY

    return REGISTRY["reduced"].supports(cfg) is None


def step_cost(cfg: PolyConfig) -> dict[str, float]:
    """Multiply-adds per GD step of each exact engine (network + lazy model), after reduced-dynamics.md."""
    lazy = 2.0 if cfg.lazy else 1.0
    weights = 3.0 * cfg.N * cfg.D * cfg.P * lazy
    # network statistics, plus the lazy model in function space (K0 a: P^2)
    reduced = 2.0 * cfg.D**2 * cfg.P + 4.0 * cfg.D**3 + (cfg.P**2 if cfg.lazy else 0.0)
    return {"weights": weights, "reduced": reduced}


def choose_engine(cfg: PolyConfig) -> str:
    """The engine that runs ``cfg``: the one named, or (``auto``) the cheaper exact engine that supports it
    ("reduced" when N is comparable to or larger than D, else "weights")."""
    if cfg.engine != "auto":
        return cfg.engine
    if not reduced_supported(cfg):
        return "weights"
    cost = step_cost(cfg)
    return "reduced" if cost["reduced"] < cost["weights"] else "weights"
