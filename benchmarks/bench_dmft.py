"""DMFT solver cost: the blocked-tangent solver against the pathwise reference (solver A), wall time and memory.

    python benchmarks/bench_dmft.py                       # both tables (about 15 min on 2 cores)
    python benchmarks/bench_dmft.py --only compare        # new vs old at equal S, T, N
    python benchmarks/bench_dmft.py --only scaling --S 2000,8000 --T 48,200
    python benchmarks/bench_dmft.py --tiny                # every code path in seconds (tests/test_benchmarks.py)

Rows (N = 4, set-A physics a = 8, alpha = 2, eps = 0.5, dt = 0.25, float32 tangents unless named):

* ``old f64``: solver A as the issue found it: every tangent kept (``responses="pathwise"``), float64 tangents, the
  stored ``S x S`` noise matrix (``noise="stored"``).  The speed baseline.
* ``path f32``: the same pathwise solver with float32 tangents and the default conditional noise: the same random
  numbers as the new default, so ``|d test|``/``|d train|`` (max over t of the curve differences) isolate the
  blocked estimator's one approximation (the Monte-Carlo standard error at these S is ~1e-3).
* ``new``: the defaults (``responses="blocked"``, ``noise="conditional"``, default window and block).

Each point runs in a fresh subprocess: ``first`` = first solve (includes compilation), ``solve`` = a second
solve of the same shape (compiled; for the largest points, where a second solve would double the run, the step
functions are compiled first on shapes alone, as the march does, and ``first`` = that compile time + ``solve``), ``peak RSS`` = ``ru_maxrss`` of
that process (includes the Python/JAX baseline, printed separately), ``state`` = the solver's own estimate of its
per-sample state and noise source.
Theory: pathwise time ~ S N^3 T^3, memory ~ S T^2 N^2 (+ S^2 stored noise); blocked time ~
S N^2 T (W^2 + nB (W + nB)) + S T^2 N^2 (noise and histories), memory ~ S N^2 (W^2 + nB (W + nB)) + S T N with
nB = the number of blocks (T/block uniform; 7, 13, 16 growing blocks at T = 48, 200, 400).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
import jax
import jax.numpy as jnp
from dmft import ModelConfig, SolverConfig, solve_dmft
from dmft import state_gb
S, T, N, save, settings = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], json.loads(sys.argv[5])
ahead = settings.pop("compile_ahead", False)  # force the one-solve branch (the tiny mode exercises it)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
p = ModelConfig(N=N, T=T, a=8.0, alpha=2.0, eps=0.5, dt=0.25)
sc = SolverConfig(S=S, memory_gb=64, **settings)
repeat = not ahead and (S * T <= 8000 * 200 or sc.responses == "pathwise")
if repeat:
    t0 = time.perf_counter(); r = solve_dmft(p, sc); first = time.perf_counter() - t0
    t0 = time.perf_counter(); r = solve_dmft(p, sc); solve = time.perf_counter() - t0
else:  # one solve only: the step functions compiled first, on shapes alone (as the march itself does)
    from dmft import _blocked, _sampled
    from dmft._params import to_params
    with jax.enable_x64(True):
        pp = to_params(p); W = min(sc.window, T); edges = sc.block_edges(T)
        E = tuple(map(tuple, edges.tolist()))
        shapes = jax.eval_shape(lambda q: _blocked.init_state(q, S, W, edges, np.float32), pp)
        mixer = jax.ShapeDtypeStruct((S, S) if sc.noise == "stored" else (S, T * N), np.float32)
        t0 = time.perf_counter()
        _blocked._compile_ahead(shapes, _sampled._samples(p, sc), mixer, pp, sc.cv, W, E, sc.noise)
        compile_s = time.perf_counter() - t0
    t0 = time.perf_counter(); r = solve_dmft(p, sc); solve = time.perf_counter() - t0
    first = compile_s + solve
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if save != "-":
    np.savez(save, train=r.train, test=r.test)
print(json.dumps(dict(first=first, solve=solve, peak_mb=peak / 1024, base_mb=base / 1024,
                      state_mb=state_gb(p, sc) * 1e3, device=str(jax.devices()[0]))))
"""

OLD = dict(responses="pathwise", jac_dtype="float64", noise="stored")  # solver A as the issue found it
PATH32 = dict(responses="pathwise")  # same random numbers as the default
NEW = dict()  # the defaults


def _ints(text):
    return [int(v) for v in text.split(",") if v]


def _run(S, T, N, settings, env, save=None):
    args = [sys.executable, "-c", CHILD, str(S), str(T), str(N), save or "-", json.dumps(settings)]
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return None, tail[:80]
    return json.loads(proc.stdout.strip().splitlines()[-1]), None


def _row(label, S, T, r, err, extra=""):
    if r is None:
        return f"{label:>10} {S:>6} {T:>5}   failed: {err}"
    return (f"{label:>10} {S:>6} {T:>5} {r['first']:>10.2f} {r['solve']:>10.2f} {r['peak_mb']:>10.0f} "
            f"{r['base_mb']:>9.0f} {r['state_mb']:>9.0f}{extra}")


HEADER = (f"{'solver':>10} {'S':>6} {'T':>5} {'first [s]':>10} {'solve [s]':>10} {'peak [MB]':>10} {'base [MB]':>9} "
          f"{'state[MB]':>9}")


def main(argv=None) -> int:
    from dmft import SolverConfig

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("compare", "scaling"), default=None, help="run one table only")
    ap.add_argument("--N", type=int, default=4, help="hidden units (default 4)")
    ap.add_argument("--S", type=_ints, default=[2000, 8000, 16000], help="scaling table: comma list of S")
    ap.add_argument("--T", type=_ints, default=[48, 200, 400], help="scaling table: comma list of T")
    ap.add_argument("--block", type=_ints, default=[], help="scaling table: comma list of block sizes "
                                                             "(default: the solver's own choice per T)")
    ap.add_argument("--compare", type=str, default="4000:48,2000:120",
                    help="comparison points S:T (default 4000:48 and 2000:120, the largest T the old solver fits in "
                         "a few GB here)")
    ap.add_argument("--tiny", action="store_true",
                    help="one comparison point (S=200, T=8, N=2; path f32 and new) and one scaling point through the "
                         "compile-ahead branch: checks that the benchmark runs (timings meaningless); exit 1 if a "
                         "point fails")
    args = ap.parse_args(argv)
    if args.tiny:
        args.N, args.S, args.T, args.compare = 2, [200], [8], "200:8"
    failed = 0
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    sd = SolverConfig()
    device = "?"
    if args.only in (None, "compare"):
        import numpy as np
        import tempfile

        print(f"New default (blocked, window {sd.window}, growing blocks, conditional noise, float32) against solver A "
              f"as found (old f64: pathwise, float64, stored Xi) and pathwise float32 on the same random numbers "
              f"(path f32); N={args.N}")
        print(HEADER + f" {'vs old':>7} {'vs p32':>7} {'|d test|':>9} {'|d train|':>9}")
        for point in args.compare.split(","):
            S, T = (int(v) for v in point.split(":"))
            with tempfile.TemporaryDirectory() as tmp:
                old64 = None
                if S * T * T <= 4000 * 48 * 48 and not args.tiny:  # the old default (float64) where it fits
                    old64, err64 = _run(S, T, args.N, OLD, env)
                    print(_row("old f64", S, T, old64, err64), flush=True)
                    failed += old64 is None
                old, err_old = _run(S, T, args.N, PATH32, env, f"{tmp}/old.npz")
                print(_row("path f32", S, T, old, err_old), flush=True)
                new, err_new = _run(S, T, args.N, NEW, env, f"{tmp}/new.npz")
                extra = ""
                failed += (old is None) + (new is None)
                if old and new:
                    a, b = np.load(f"{tmp}/old.npz"), np.load(f"{tmp}/new.npz")
                    vs_old = f"{old64['solve'] / new['solve']:>6.1f}x" if old64 else f"{'':>7}"
                    extra = (f" {vs_old} {old['solve'] / new['solve']:>6.1f}x "
                             f"{np.abs(a['test'] - b['test']).max():>9.1e} {np.abs(a['train'] - b['train']).max():>9.1e}")
                print(_row("new", S, T, new, err_new, extra), flush=True)
                device = (new or old or {}).get("device", device)
    if args.only in (None, "scaling"):
        print(f"\nNew default scaling (blocked, window {sd.window}, conditional noise), N={args.N}, float32 tangents; "
              f"growing blocks unless a block size is given; 'blocks' = their number")
        print(HEADER + f" {'blocks':>6}")
        for B in args.block or [None]:
            for T in args.T:
                for S in args.S:
                    settings = {} if B is None else dict(block=B)
                    r, err = _run(S, T, args.N, dict(settings, compile_ahead=True) if args.tiny else settings, env)
                    failed += r is None
                    label = "new" if B is None else f"block {B}"
                    print(_row(label, S, T, r, err, f" {SolverConfig(**settings).block_edges(T).shape[1]:>6}"), flush=True)
                    device = (r or {}).get("device", device)
    print(f"device: {device}")
    if failed:
        print(f"{failed} point(s) failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
