"""The one training loop: a step function run over a static log schedule, with an optional divergence guard.

The run is one ``lax.scan`` over the logging intervals of the schedule (``grokjax._schedule.log_steps``), each
interval a ``lax.fori_loop`` of steps, and ``observe(state)`` is recorded after every interval (the first interval
is empty, so the initial state is logged at step 0). Everything is traceable: call it inside ``jax.jit`` /
``jax.vmap`` (the schedule is static, so vmapping over hyperparameters is free).
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


def _where(flag, old, new):
    return jax.tree.map(lambda a, b: jnp.where(flag, a, b), old, new)


def run_logged(step: Callable[[Any], tuple[Any, Any]], observe: Callable[[Any], Any], state: Any, schedule,
               *, bound=None, parts: tuple[str, ...] | None = None, on_interval: Callable | None = None):
    """Run ``loss, state = step(state)`` up to ``schedule[-1]`` times, recording ``observe(state)`` at each
    logged step; return ``(final_state, logged, diverged_step)`` (``logged``: leading axis ``len(schedule)``).

    Divergence guard (``bound`` not ``None``): a step whose loss (the loss *before* the update) is non-finite or
    above ``bound`` is discarded, the state is frozen from then on and ``diverged_step`` records that step (-1:
    never; ``None`` without a guard). With ``parts`` (keys of a dict state) ``step`` returns a dict of losses
    with those keys and each part is guarded, frozen and recorded on its own (``diverged_step`` is then a dict).
    ``on_interval(step_reached)``, if given, is called from the compiled run (``jax.debug.callback``) after each
    interval (progress bars).
    """
    schedule = np.asarray(schedule, np.int64)
    ends = jnp.asarray(schedule, jnp.int32)
    starts = jnp.asarray(np.concatenate([[0], schedule[:-1]]), jnp.int32)

    if bound is None:
        def body(i, carry):
            return step(carry[0])[1], carry[1]
        div0 = None
    else:
        minus_one = jnp.asarray(-1, jnp.int32)
        div0 = minus_one if parts is None else {k: minus_one for k in parts}

        def body(i, carry):
            old, div = carry
            loss, new = step(old)
            bad = jax.tree.map(lambda l, d: ~jnp.isfinite(l) | (l > bound) | (d >= 0),
                               loss if parts is None else {k: loss[k] for k in parts}, div)
            if parts is None:
                new = _where(bad, old, new)
            else:
                new = {k: _where(bad[k], old[k], v) if k in bad else v for k, v in new.items()}
            return new, jax.tree.map(lambda b, d: jnp.where((d < 0) & b, i, d), bad, div)

    def interval(carry, xs):
        start, end = xs
        carry = lax.fori_loop(start, end, body, carry)
        if on_interval is not None:
            jax.debug.callback(on_interval, end)
        return carry, observe(carry[0])

    (state, div), logged = lax.scan(interval, (state, div0), (starts, ends))
    return state, logged, div
