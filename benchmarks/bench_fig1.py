"""Issue 4 benchmark: Figure 1 at paper size end to end (network, exact lazy model, NTK alignment on 1000 test
points every 100 steps) with grokjax's reduced engine, against the authors-style pipeline (jitted per-step
loop in weight space, linearised model by jax.linearize, empirical NTK by Jacobians every 100 steps), in the
same process, on the same data and initialisation; checks that the curves agree.

    python benchmarks/bench_fig1.py [--steps 2000] [--dtype float32]
    python benchmarks/bench_fig1.py --tiny      # every code path in seconds (tests/test_benchmarks.py runs it)

Both pipelines run ``--steps`` steps (default 2 000, i.e. 20 alignment evaluations) and the full 10^5-step
time is extrapolated from the measured per-step rates (both costs are linear in the number of steps).
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


def authors_pipeline(cfg: gj.PolyConfig, every: int, seed: int = 0):
    key = jax.random.PRNGKey(seed)
    k_data, k_init = jax.random.split(key)
    data = gj.make_data(k_data, cfg.D, cfg.P, cfg.P_test)
    params0 = gj.init_params(k_init, cfg.N, cfg.D)
    alpha, eps = cfg.alpha, cfg.eps
    f = lambda p, X: gj.committee(p, X, alpha, eps)  # noqa: E731
    f0, f0t = f(params0, data.X), f(params0, data.X_test)
    _, lin = jax.linearize(lambda p: f(p, data.X), params0)
    _, lin_t = jax.linearize(lambda p: f(p, data.X_test), params0)
    opt = optax.sgd(cfg.lr)

    @jax.jit
    def step(p, o, d, od):
        g = jax.grad(lambda q: jnp.mean((f(q, data.X) - f0 - data.y) ** 2))(p)
        u, o = opt.update(g, o, p)
        gl = jax.grad(lambda q: jnp.mean((lin(q) - data.y) ** 2))(d)
        ul, od = opt.update(gl, od, d)
        return optax.apply_updates(p, u), o, optax.apply_updates(d, ul), od

    @jax.jit
    def observe(p, d):
        K = gj.empirical_ntk(f, p, data.X_test, data.X_test)  # Jacobian route, as the notebook
        return (jnp.mean((f(p, data.X) - f0 - data.y) ** 2), jnp.mean((f(p, data.X_test) - f0t - data.y_test) ** 2),
                jnp.mean((lin_t(d) - data.y_test) ** 2), gj.cka_paper(K, data.y_test))

    d0 = jax.tree.map(jnp.zeros_like, params0)
    state = (params0, opt.init(params0), d0, opt.init(d0))
    jax.block_until_ready(step(*state))
    jax.block_until_ready(observe(params0, d0))
    start = time.perf_counter()
    rows = []
    for t in range(cfg.steps + 1):
        if t % every == 0:
            rows.append([float(v) for v in observe(state[0], state[2])])
        if t < cfg.steps:
            state = step(*state)
    jax.block_until_ready(state)
    return np.asarray(rows), time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--tiny", action="store_true",
                        help="20 steps at D=8, N=16, 20 test points (checks that the benchmark runs; timings meaningless)")
    args = parser.parse_args(argv)
    shape = dict(D=100, N=500, P=550, P_test=1000)
    if args.tiny:
        shape, args.steps, args.every = dict(D=8, N=16, P=20, P_test=20), 20, 10
    cfg = gj.PolyConfig(**shape, alpha=1.0, eps=0.02, eta0=1.0, steps=args.steps,
                        n_log=args.steps // args.every, log_schedule="linear", n_align=shape["P_test"],
                        kernel_regression=False, engine="reduced")
    n_test = cfg.n_align
    peak = matmul_peak_flops(*((128, 1) if args.tiny else ()))
    gj.run_single(cfg)  # compile
    start = time.perf_counter()
    ours = gj.run_single(cfg)
    ours_s = time.perf_counter() - start
    theirs, theirs_s = authors_pipeline(cfg, args.every)
    names = ["train_loss", "test_loss", "lazy_test_loss", "alignment"]
    dev = {n: float(np.max(np.abs(ours[n] - theirs[:, i]) / np.abs(theirs[:, i]))) for i, n in enumerate(names)}
    full = 100_000 / args.steps
    n_align_evals = cfg.steps // args.every + 1
    reduced_flop = 2 * (gj.step_cost(cfg)["reduced"] * cfg.steps  # 2 FLOP per multiply-add
                        + n_align_evals * (2 * n_test**2 * cfg.D + n_test * cfg.D**2))  # closed-form NTK
    jac_flop = 2 * (gj.step_cost(cfg.replace(engine="weights"))["weights"] * cfg.steps
                    + n_align_evals * n_test**2 * cfg.N * cfg.D)  # Jacobian NTK: J J^T
    rows = [
        {"pipeline": "grokjax reduced engine (one compiled run)", "seconds": ours_s,
         "projected 1e5 steps (s)": ours_s * full, "GFLOP/s": reduced_flop / ours_s / 1e9},
        {"pipeline": "authors-style loop + Jacobian NTK", "seconds": theirs_s,
         "projected 1e5 steps (s)": theirs_s * full, "GFLOP/s": jac_flop / theirs_s / 1e9},
    ]
    print(f"device: {jax.devices()[0].device_kind}; float32 matmul peak {peak / 1e9:.1f} GFLOP/s; "
          f"{args.steps} steps, alignment every {args.every} steps on {n_test} test points")
    print(table(rows, ["pipeline", "seconds", "projected 1e5 steps (s)", "GFLOP/s"]))
    print(f"speed-up: {theirs_s / ours_s:.1f}x (FLOP ratio {jac_flop / reduced_flop:.1f}x)")
    print("max relative difference of the curves (grokjax vs authors-style): "
          + ", ".join(f"{k} {v:.2e}" for k, v in dev.items()))


if __name__ == "__main__":
    main()
