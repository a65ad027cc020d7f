"""Traced parameter pytree: physical constants are jit *arguments* (no recompilation when they change);
only the shapes ``N, T`` and the ``centered`` switch are static."""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from dmft._config import ModelConfig

_DATA = ("a", "alpha", "eps", "eta", "dt", "rho", "c0", "c1", "c2", "sigma", "m0", "Q0")


@functools.partial(jax.tree_util.register_dataclass, data_fields=list(_DATA), meta_fields=["N", "T", "centered"])
@dataclasses.dataclass(frozen=True)
class Params:
    N: int
    T: int
    centered: bool
    a: jax.Array
    alpha: jax.Array
    eps: jax.Array
    eta: jax.Array
    dt: jax.Array
    rho: jax.Array
    c0: jax.Array
    c1: jax.Array
    c2: jax.Array
    sigma: jax.Array
    m0: jax.Array
    Q0: jax.Array

    @property
    def kappa(self):
        return self.eta / (self.alpha * self.N)

    def m0_array(self):
        return self.m0

    def Q0_array(self):
        return self.Q0


def to_params(p: ModelConfig) -> Params:
    """Float64 :class:`Params` of a (validated) :class:`ModelConfig`; call inside ``jax.enable_x64``."""
    f = lambda v: jnp.asarray(v, jnp.float64)
    a = p.a if p.a is not None else float("inf")
    return Params(N=int(p.N), T=int(p.T), centered=bool(p.centered), a=f(a), alpha=f(p.alpha), eps=f(p.eps),
                  eta=f(p.eta), dt=f(p.dt), rho=f(p.rho), c0=f(p.c0), c1=f(p.c1), c2=f(p.c2), sigma=f(p.sigma),
                  m0=f(p.m0_array()), Q0=f(p.Q0_array()))
