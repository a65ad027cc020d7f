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
from dataclasses import dataclass

from grokjax._errors import ConfigError, require

OPTIMIZERS = ("gd", "momentum", "nesterov", "adam", "adamw")
ENGINES = ("auto", "weights", "reduced")
MAX_SEED = 2**32 - 1
MAX_N_LOG = 100_000  # logged steps per run (a larger schedule is refused, not left to hang)


def param(default, help: str, *, sweep: bool = False, choices: tuple | None = None, check: str = ""):
    """A :class:`PolyConfig` field: its default, help text, whether it can be swept in one compiled program
    (an array leaf of the config pytree), its allowed values, and a range ``check`` (">0", ">=0", ">=1",
    "[0,1)", "seed"). The CLI flags, the sweep axes and the validation are all read from these."""
    return dataclasses.field(default=default, metadata={"help": help, "sweep": sweep, "choices": choices,
                                                        "check": check})


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
                           choices=OPTIMIZERS)
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

    # ---------------------------------------------------------------- validation
    def _validate(self) -> None:
        """Raise :class:`grokjax.ConfigError` naming the first invalid field. Swept fields holding arrays
        (inside a compiled sweep) are not checked: each point was checked as a number before."""
        concrete = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("sweep") and _is_array_leaf(value):
                continue
            concrete[f.name] = check_field(f, value)
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
    """An array or tracer (a swept field inside a compiled sweep), or JAX's placeholder ``object()``."""
    return type(value) is object or (hasattr(value, "shape") and hasattr(value, "dtype")
                                     and not isinstance(value, numbers.Number))


def check_field(f: dataclasses.Field, value):
    """Check one value against its field's type, range and choices; return it (or raise ConfigError)."""
    name, kind = f.name, f.type if isinstance(f.type, str) else f.type.__name__
    if kind == "bool":
        require(isinstance(value, bool), name, f"must be true or false, got {value!r}")
        return value
    if kind == "str":
        require(isinstance(value, str), name, f"must be a string, got {value!r}")
        choices = f.metadata.get("choices")
        if choices and name != "optimizer":
            require(value in choices, name, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
        return value
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if kind == "int":
        require(is_number and float(value).is_integer() and isinstance(value, numbers.Integral), name,
                f"must be an integer, got {value!r}")
        value = int(value)
    else:
        require(is_number, name, f"must be a number, got {value!r}")
        value = float(value)
        require(math.isfinite(value), name, f"must be finite, got {value!r}")
    check = f.metadata.get("check", "")
    bounds = {">0": (value > 0, "must be > 0"), ">=0": (value >= 0, "must be >= 0"),
              ">=1": (value >= 1, "must be an integer >= 1"), "[0,1)": (0 <= value < 1, "must be in [0, 1)"),
              "seed": (0 <= value <= MAX_SEED, f"must be an integer in [0, {MAX_SEED}]")}
    if check:
        ok, message = bounds[check]
        require(ok, name, f"{message}, got {value!r}")
    if name == "n_log":
        require(value <= MAX_N_LOG, name, f"must be <= {MAX_N_LOG}, got {value}")
    return value


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
