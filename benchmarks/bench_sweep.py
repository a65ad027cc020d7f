"""Issue 2 benchmark: a 16-configuration sweep compiled once and vmapped, against the same 16 configurations
run one at a time by a jitted per-step Python loop (the authors' notebook style), in the same process.

    python benchmarks/bench_sweep.py [--steps 2000]
    python benchmarks/bench_sweep.py --tiny      # every code path in seconds (tests/test_benchmarks.py runs it)

Reports configs x steps per second for both, the speed-up, and the achieved FLOP/s of the vmapped weight-space
sweep against the machine's measured float32 matmul peak (the weight engine performs ~12 P N D FLOP per step:
network forward + backward and lazy-model JVP + VJP). Also shows the reduced engine (same results, fewer FLOP).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import matmul_peak_flops, table  # noqa: E402

import grokjax as gj  # noqa: E402

ALPHAS = [0.25, 0.5, 1.0, 2.0]
EPSS = [0.02, 0.05, 0.1, 0.2]


def per_config_loop(cfg: gj.PolyConfig, alpha: float, eps: float, seed: int = 0):
    """The authors' style: a jitted GD step (network + linearised model) called from a Python loop."""
    key = jax.random.PRNGKey(seed)
    k_data, k_init = jax.random.split(key)
    data = gj.make_data(k_data, cfg.D, cfg.P, cfg.P_test)
    params0 = gj.init_params(k_init, cfg.N, cfg.D)
    f = lambda p, X: gj.committee(p, X, alpha, eps)  # noqa: E731
    f0 = f(params0, data.X)
    _, lin = jax.linearize(lambda p: f(p, data.X), params0)
    lr = cfg.eta0 * cfg.N / alpha**2
    opt = optax.sgd(lr)

    @jax.jit
    def step(p, o, d, od):
        loss, g = jax.value_and_grad(lambda q: jnp.mean((f(q, data.X) - f0 - data.y) ** 2))(p)
        u, o = opt.update(g, o, p)
        lloss, gl = jax.value_and_grad(lambda q: jnp.mean((lin(q) - data.y) ** 2))(d)
        ul, od = opt.update(gl, od, d)
        return optax.apply_updates(p, u), o, optax.apply_updates(d, ul), od, loss, lloss

    d0 = jax.tree.map(jnp.zeros_like, params0)
    state = (params0, opt.init(params0), d0, opt.init(d0))
    losses = []
    for _ in range(cfg.steps):
        *state, loss, lloss = step(*state)
        losses.append(loss)
    jax.block_until_ready(state)
    return np.asarray(losses)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--sizes", default="small,fig1", help="comma list of: small, fig1")
    parser.add_argument("--tiny", action="store_true",
                        help="a 1 x 2 sweep of 10 steps at D=8, N=8 (checks that the benchmark runs; timings meaningless)")
    args = parser.parse_args(argv)
    sizes = {"small": dict(D=20, N=40, P=110, P_test=200), "fig1": dict(D=100, N=500, P=550, P_test=1000)}
    alphas, epss = ALPHAS, EPSS
    if args.tiny:
        sizes = {"small": dict(D=8, N=8, P=20, P_test=20)}
        args.sizes, args.steps, alphas, epss = "small", 10, ALPHAS[:1], EPSS[:2]
    peak = matmul_peak_flops(*((128, 1) if args.tiny else ()))
    print(f"device: {jax.devices()[0].device_kind}; measured float32 matmul peak: {peak / 1e9:.1f} GFLOP/s")
    rows = []
    for name in args.sizes.split(","):
        steps = args.steps if name == "small" else max(50, args.steps // 10)
        base = gj.PolyConfig(**sizes[name], steps=steps, n_log=min(20, steps), n_align=0, kernel_regression=False)
        sweep = {"alpha": alphas, "eps": epss}
        n_cfg = len(alphas) * len(epss)
        flop_per_step = 12.0 * base.P * base.N * base.D
        for engine in ("weights", "reduced"):
            cfg = base.replace(engine=engine)
            gj.run_sweep(cfg, sweep)  # compile (excluded from timing)
            start = time.perf_counter()
            gj.run_sweep(cfg, sweep)
            seconds = time.perf_counter() - start
            rate = n_cfg * steps / seconds
            rows.append({"size": name, "method": f"vmapped sweep ({engine} engine)", "seconds": seconds,
                         "config-steps/s": rate,
                         "GFLOP/s (weight-FLOP)": rate * flop_per_step / 1e9,
                         "% of peak": 100 * rate * flop_per_step / peak if engine == "weights" else ""})
        per_config_loop(base.replace(steps=2, n_log=2), 1.0, 0.1)  # warm-up (n_log <= steps)
        start = time.perf_counter()
        for alpha in alphas:
            for eps in epss:
                per_config_loop(base, alpha, eps)
        seconds = time.perf_counter() - start
        rate = n_cfg * steps / seconds
        rows.append({"size": name, "method": "per-config jitted step loop (notebook style)", "seconds": seconds,
                     "config-steps/s": rate, "GFLOP/s (weight-FLOP)": rate * flop_per_step / 1e9,
                     "% of peak": 100 * rate * flop_per_step / peak})
    for name in {r["size"] for r in rows}:
        loop = next(r for r in rows if r["size"] == name and r["method"].startswith("per-config"))
        for r in rows:
            if r["size"] == name:
                r["speed-up vs loop"] = r["config-steps/s"] / loop["config-steps/s"]
    print(table(rows, ["size", "method", "seconds", "config-steps/s", "GFLOP/s (weight-FLOP)", "% of peak",
                       "speed-up vs loop"]))


if __name__ == "__main__":
    main()
