"""float32 matrix products at full precision on every backend (the project-wide default).

On NVIDIA GPUs since Ampere, XLA's *default* float32 matmul precision uses TF32 tensor-core passes (a 10-bit
mantissa, relative error ~1e-3 per product). grokjax measures small differences on purpose -- the network minus
its exact linearisation (∝ 1/α), kernel movement ‖K_t − K₀‖/‖K₀‖ near zero in the lazy regime, float32 against
float64 and GPU against CPU at 2e-4 -- so TF32 would change the answers, not just their last digits. Importing a
computational module of grokjax or dmft therefore sets ``jax_default_matmul_precision="highest"``, unless
the user already chose a precision (``jax.config.update`` / ``JAX_DEFAULT_MATMUL_PRECISION``) or set
``GROKJAX_MATMUL_PRECISION`` (e.g. ``default`` to allow TF32 for speed). On CPUs the setting changes nothing.
"""
from __future__ import annotations

import os

ENV = "GROKJAX_MATMUL_PRECISION"
DEFAULT = "highest"


def ensure_matmul_precision() -> str | None:
    """Set JAX's default matmul precision to ``$GROKJAX_MATMUL_PRECISION`` (``"highest"`` when unset) unless the
    user has already set one; returns the precision in force (``None``: XLA's default)."""
    import jax

    current = jax.config.jax_default_matmul_precision
    if current is None and not os.environ.get("JAX_DEFAULT_MATMUL_PRECISION"):
        wanted = os.environ.get(ENV, DEFAULT).strip().lower()
        if wanted not in ("", "default", "none"):
            jax.config.update("jax_default_matmul_precision", wanted)
        current = jax.config.jax_default_matmul_precision
    return current


ensure_matmul_precision()
