"""Errors of the DMFT package; :class:`ConfigError` is ``grokjax``'s own (re-exported)."""
from __future__ import annotations

# one error hierarchy: ``except grokjax.ConfigError`` catches the DMFT's invalid values too (same class)
from grokjax._errors import ConfigError, require  # noqa: F401


class DMFTConvergenceError(RuntimeError):
    """The fixed-point iteration did not reach the tolerance; ``residuals`` holds one norm per sweep."""

    def __init__(self, message: str, residuals):
        self.residuals = list(residuals)
        tail = ", ".join(f"{r:.3e}" for r in self.residuals[-5:])
        super().__init__(f"{message} (residual history, last 5 of {len(self.residuals)}: {tail})")
