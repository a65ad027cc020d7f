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
from dataclasses import dataclass

from grokjax._errors import require

#: Scalars that may differ between the configurations of one compiled sweep (array leaves under vmap).
SWEEPABLE = ("alpha", "eps", "eta0", "init_scale", "momentum", "weight_decay")

OPTIMIZERS = ("gd", "momentum", "nesterov", "adam", "adamw")
ENGINES = ("auto", "weights", "reduced")


@dataclass(frozen=True)
class PolyConfig:
    """One committee-machine training run (see module docstring for every convention)."""

    D: int = 100
    N: int = 500
    P: int = 550
    P_test: int = 1000
    alpha: float = 1.0
    eps: float = 0.02
    eta0: float = 1.0
    init_scale: float = 1.0
    steps: int = 100_000
    n_log: int = 120
    log_schedule: str = "log"  # "log" (log-spaced steps) or "linear" (every steps/n_log)
    convention: str = "A"
    target: str = "quadratic"  # "quadratic" (paper) or "he2" (mean removed)
    centered: bool = True
    readouts: str = "fixed"  # "fixed" (a_k = 1) or "trained"
    optimizer: str = "gd"  # gd | momentum | nesterov | adam | adamw | any optax optimizer name (taking the lr)
    momentum: float = 0.9  # used by "momentum"/"nesterov" (optax trace decay), adam b1 otherwise ignored
    weight_decay: float = 0.0  # used by "adamw"
    lazy: bool = True  # train the exact linearisation around W0 side by side
    kernel_regression: bool = True  # kernel-regression baseline with the initial NTK
    ridge: float = 0.0
    n_align: int = 1000  # test points used for the NTK alignment (0 = off; capped at P_test)
    cka: str = "paper"  # "paper" (one-sided centring, authors' code) or "cortes" (double-centred)
    engine: str = "auto"
    dtype: str = "float32"
    seed: int = 0
    divergence_bound: float = 1e8

    # ---------------------------------------------------------------- validation
    def validate(self) -> "PolyConfig":
        """Raise :class:`grokjax.ConfigError` naming the first invalid field; return ``self``."""
        for name in ("D", "N", "P", "P_test", "steps", "n_log"):
            value = getattr(self, name)
            require(isinstance(value, int) and value >= 1, name, f"must be an integer >= 1, got {value!r}")
        require(self.alpha > 0, "alpha", f"must be > 0, got {self.alpha}")
        require(self.eps >= 0, "eps", f"must be >= 0, got {self.eps}")
        require(self.eta0 > 0, "eta0", f"must be > 0, got {self.eta0}")
        require(self.init_scale > 0, "init_scale", f"must be > 0, got {self.init_scale}")
        require(0 <= self.momentum < 1, "momentum", f"must be in [0, 1), got {self.momentum}")
        require(self.weight_decay >= 0, "weight_decay", f"must be >= 0, got {self.weight_decay}")
        require(self.ridge >= 0, "ridge", f"must be >= 0, got {self.ridge}")
        require(self.n_align >= 0, "n_align", f"must be >= 0 (it is capped at P_test), got {self.n_align}")
        require(self.n_log <= self.steps, "n_log", f"must be <= steps={self.steps}")
        require(self.log_schedule in ("log", "linear"), "log_schedule", "must be 'log' or 'linear'")
        require(self.convention in ("A", "B"), "convention", "must be 'A' or 'B'")
        require(self.target in ("quadratic", "he2"), "target", "must be 'quadratic' or 'he2'")
        require(self.readouts in ("fixed", "trained"), "readouts", "must be 'fixed' or 'trained'")
        require(self.optimizer in OPTIMIZERS or _is_optax_optimizer(self.optimizer), "optimizer",
                f"must be one of {OPTIMIZERS} or the name of an optax optimizer (e.g. 'rmsprop', 'lion')")
        require(self.cka in ("paper", "cortes"), "cka", "must be 'paper' or 'cortes'")
        require(self.engine in ENGINES, "engine", f"must be one of {ENGINES}")
        require(self.dtype in ("float32", "float64"), "dtype", "must be 'float32' or 'float64'")
        require(self.divergence_bound > 0, "divergence_bound", "must be > 0")
        if self.engine == "reduced":
            require(reduced_supported(self), "engine",
                    "the reduced engine needs readouts='fixed' and optimizer 'gd', 'momentum' or 'nesterov'")
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


def _is_optax_optimizer(name: str) -> bool:
    import optax

    return not name.startswith("_") and callable(getattr(optax, name, None)) and name not in ("chain", "inject_hyperparams")


def reduced_supported(cfg: PolyConfig) -> bool:
    """Whether GD closes exactly on the sufficient statistics (w-bar, M) for this configuration."""
    return cfg.readouts == "fixed" and cfg.optimizer in ("gd", "momentum", "nesterov")


def step_cost(cfg: PolyConfig) -> dict[str, float]:
    """Multiply-adds per GD step of each exact engine (network + lazy model), after reduced-dynamics.md."""
    lazy = 2.0 if cfg.lazy else 1.0
    weights = 3.0 * cfg.N * cfg.D * cfg.P * lazy
    # network statistics, plus the lazy model in function space (K0 a: P^2)
    reduced = 2.0 * cfg.D**2 * cfg.P + 4.0 * cfg.D**3 + (cfg.P**2 if cfg.lazy else 0.0)
    return {"weights": weights, "reduced": reduced}


def choose_engine(cfg: PolyConfig) -> str:
    """The cheaper exact engine ("reduced" when N is comparable to or larger than D, else "weights")."""
    if cfg.engine != "auto":
        return cfg.engine
    if not reduced_supported(cfg):
        return "weights"
    cost = step_cost(cfg)
    return "reduced" if cost["reduced"] < cost["weights"] else "weights"
