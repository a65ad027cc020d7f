"""Entry checks of the kernel functions (:mod:`grokjax._kernels`): clear errors instead of deep JAX ``TypeError``s,
``ZeroDivisionError``s or silent ``nan``.

Shapes are static, so they are checked even inside ``jit``; values (a negative ridge, a constant target) only
when they are concrete (a traced value cannot be inspected). Every refusal is a :class:`grokjax.ConfigError`
naming the argument.
"""
from __future__ import annotations

import math
import sys

import numpy as np

from grokjax._errors import ConfigError

__all__ = ["points", "regression", "alignment"]


def _shape(name: str, value) -> tuple[int, ...]:
    shape = getattr(value, "shape", None)
    if shape is None:
        try:
            shape = np.shape(value)
        except Exception:  # noqa: BLE001 - ragged lists and the like
            raise ConfigError(name, f"must be an array, got {type(value).__name__}") from None
    return tuple(shape)


def _concrete(value):
    """``value`` as numpy if it is concrete, else None (a JAX tracer cannot become concrete: public API only,
    JAX's private modules are outside its compatibility policy)."""
    jax = sys.modules.get("jax")
    errors = (TypeError, ValueError) + ((jax.errors.JAXTypeError,) if jax is not None else ())
    try:
        return np.asarray(value, dtype=float)
    except errors:
        return None


def points(X1, X2=None) -> None:
    """Inputs of an empirical NTK: arrays with points on axis 0, at least one point each, the same trailing shape."""
    s1 = _shape("X1", X1)
    if len(s1) < 1 or s1[0] == 0:
        raise ConfigError("X1", f"needs at least one point (points on axis 0), got shape {s1}")
    if X2 is not None:
        s2 = _shape("X2", X2)
        if len(s2) < 1 or s2[0] == 0:
            raise ConfigError("X2", f"needs at least one point (points on axis 0), got shape {s2}")
        if s2[1:] != s1[1:]:
            raise ConfigError("X2", f"points of shape {s2[1:]} do not match X1's {s1[1:]}")


def regression(K_train, K_test_train, y, ridge) -> None:
    """Kernel regression: ``K_train`` (P, P), ``K_test_train`` (n, P), ``y`` (P,) or (P, k), ``ridge`` >= 0."""
    sk = _shape("K_train", K_train)
    if len(sk) != 2 or sk[0] != sk[1] or sk[0] == 0:
        raise ConfigError("K_train", f"must be a non-empty square (P, P) Gram matrix, got shape {sk}")
    st = _shape("K_test_train", K_test_train)
    if len(st) != 2 or st[1] != sk[0]:
        raise ConfigError("K_test_train", f"must have shape (n_test, P={sk[0]}), got {st}")
    sy = _shape("y", y)
    if len(sy) not in (1, 2) or sy[0] != sk[0]:
        raise ConfigError("y", f"must have shape (P={sk[0]},) or (P, k), got {sy}")
    r = _concrete(ridge)
    if r is not None:
        if r.shape != ():
            raise ConfigError("ridge", f"takes a single number, got shape {r.shape}")
        if not (math.isfinite(float(r)) and float(r) >= 0):
            raise ConfigError("ridge", f"must be a finite number >= 0, got {float(r)!r}")


def alignment(K, y) -> None:
    """Kernel-target alignment: ``K`` (n, n) with n >= 2, ``y`` (n,) or (n, k), a target that is not constant."""
    sk = _shape("K", K)
    if len(sk) != 2 or sk[0] != sk[1] or sk[0] < 2:
        raise ConfigError("K", f"must be a square (n, n) Gram matrix with n >= 2, got shape {sk}")
    sy = _shape("y", y)
    if len(sy) not in (1, 2) or sy[0] != sk[0]:
        raise ConfigError("y", f"must have shape (n={sk[0]},) or (n, k), got {sy}")
    values = _concrete(y)
    if values is not None and values.size and np.all(values == values[:1]):
        raise ConfigError("y", "is constant: after centring it is zero and the alignment is undefined (0/0)")
