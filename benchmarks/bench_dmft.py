"""DMFT solver cost: the blocked-tangent solver against the pathwise reference (solver A), wall time and memory.

    python benchmarks/bench_dmft.py                       # both tables (about 15 min on 2 cores)
    python benchmarks/bench_dmft.py --only compare        # new vs old at equal S, T, N
    python benchmarks/bench_dmft.py --only scaling --S 2000,8000 --T 48,200

Each point runs in a fresh subprocess: ``first`` = first solve (includes compilation), ``solve`` = a second
solve of the same shape (compiled; for the largest blocked points, where a second solve would double the run,
``solve`` = ``first`` minus the separately measured compile time of the step), ``peak RSS`` = ``ru_maxrss`` of that process (includes the Python/JAX
baseline, printed separately), ``state`` = the solver's own estimate of its per-sample state.  Both solvers use
the same random numbers; ``|d test|``/``|d train|`` = max over t of the difference of their curves (the blocked
spreading approximation; the Monte-Carlo standard error at these S is ~1e-3).
Theory: pathwise time ~ S N^3 T^3, memory ~ S T^2 N^2; blocked time ~ S N^3 T (W^2 + nB (W + nB)) + N^3 T^3,
memory ~ S N^2 (W^2 + nB (W + nB)) + S^2 with nB = T/block.
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
from dmft import ModelConfig, SolverConfig, solve_dmft
from dmft._finite import state_gb
S, T, N, responses, jdtype = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
block = int(sys.argv[7]) if len(sys.argv) > 7 else 16
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
p = ModelConfig(N=N, T=T, a=8.0, alpha=2.0, eps=0.5, dt=0.25)
sc = SolverConfig(S=S, responses=responses, jac_dtype=jdtype, memory_gb=64, block=block)
repeat = S * T <= 8000 * 200 or responses == "pathwise"
t0 = time.perf_counter(); r = solve_dmft(p, sc); first = time.perf_counter() - t0
if repeat:
    t0 = time.perf_counter(); r = solve_dmft(p, sc); solve = time.perf_counter() - t0
else:  # one solve only: compile time measured separately (ahead-of-time compilation of the step)
    from dmft import _blocked, _finite
    from dmft._params import to_params
    with jax.enable_x64(True):
        pp = to_params(p); edges = _blocked.block_edges(T, sc.block); W = min(sc.window, T)
        st, big = _blocked.init_state(pp, S, W, edges, np.float32)
        E = tuple(map(tuple, edges.tolist()))
        t0 = time.perf_counter()
        _blocked._step_jit.lower(jax.numpy.asarray(1), st, big, _finite._samples(p, sc),
                                 jax.numpy.zeros((S, S), np.float32), pp, sc.cv, True, W, E).compile()
        new = jax.eval_shape(lambda: _blocked._step(jax.numpy.asarray(1), st, big, _finite._samples(p, sc),
                                                     jax.numpy.zeros((S, S), np.float32), pp, sc.cv, True, W, E)[1])
        _blocked._write_big_jit.lower(jax.numpy.asarray(1), big, new, W, E).compile()
        solve = first - (time.perf_counter() - t0)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if len(sys.argv) > 6 and sys.argv[6] != "-":
    np.savez(sys.argv[6], train=r.train, test=r.test)
print(json.dumps(dict(first=first, solve=solve, peak_mb=peak / 1024, base_mb=base / 1024,
                      state_mb=state_gb(p, sc) * 1e3, device=str(jax.devices()[0]))))
"""


def _ints(text):
    return [int(v) for v in text.split(",") if v]


def _run(S, T, N, responses, jdtype, env, save=None, block=16):
    args = [sys.executable, "-c", CHILD, str(S), str(T), str(N), responses, jdtype, save or "-", str(block)]
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return None, tail[:80]
    return json.loads(proc.stdout.strip().splitlines()[-1]), None


def _row(label, S, T, r, err, extra=""):
    if r is None:
        return f"{label:>9} {S:>6} {T:>5}   failed: {err}"
    return (f"{label:>9} {S:>6} {T:>5} {r['first']:>10.2f} {r['solve']:>10.2f} {r['peak_mb']:>10.0f} "
            f"{r['base_mb']:>9.0f} {r['state_mb']:>9.0f}{extra}")


HEADER = (f"{'solver':>9} {'S':>6} {'T':>5} {'first [s]':>10} {'solve [s]':>10} {'peak [MB]':>10} {'base [MB]':>9} "
          f"{'state[MB]':>9}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("compare", "scaling"), default=None, help="run one table only")
    ap.add_argument("--N", type=int, default=4, help="hidden units (default 4)")
    ap.add_argument("--S", type=_ints, default=[2000, 8000, 16000], help="scaling table: comma list of S")
    ap.add_argument("--T", type=_ints, default=[48, 200, 400], help="scaling table: comma list of T")
    ap.add_argument("--block", type=_ints, default=[16], help="scaling table: comma list of block sizes (default 16)")
    ap.add_argument("--compare", type=str, default="4000:48,2000:120",
                    help="comparison points S:T (default 4000:48 and 2000:120, the largest T the old solver fits in "
                         "a few GB here)")
    args = ap.parse_args(argv)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    device = "?"
    if args.only in (None, "compare"):
        import numpy as np
        import tempfile

        print(f"Blocked (window 16, block 16, float32) vs pathwise responses (float64 = the old default, and float32), "
              f"solver A, N={args.N}; speed-up and differences against pathwise float32")
        print(HEADER + f" {'speed-up':>9} {'|d test|':>9} {'|d train|':>9}")
        for point in args.compare.split(","):
            S, T = (int(v) for v in point.split(":"))
            with tempfile.TemporaryDirectory() as tmp:
                old64 = None
                if S * T * T <= 4000 * 48 * 48:  # the old default (float64 tangents) where it fits comfortably
                    old64, err64 = _run(S, T, args.N, "pathwise", "float64", env)
                    print(_row("path f64", S, T, old64, err64))
                old, err_old = _run(S, T, args.N, "pathwise", "float32", env, f"{tmp}/old.npz")
                new, err_new = _run(S, T, args.N, "blocked", "float32", env, f"{tmp}/new.npz")
                print(_row("path f32", S, T, old, err_old))
                extra = ""
                if old and new:
                    a, b = np.load(f"{tmp}/old.npz"), np.load(f"{tmp}/new.npz")
                    extra = (f" {old['solve'] / new['solve']:>8.1f}x {np.abs(a['test'] - b['test']).max():>9.1e} "
                             f"{np.abs(a['train'] - b['train']).max():>9.1e}")
                    if old64:
                        extra += f"   {old64['solve'] / new['solve']:.1f}x against path f64 (the old default)"
                print(_row("blocked", S, T, new, err_new, extra), flush=True)
                device = (new or old or {}).get("device", device)
    if args.only in (None, "scaling"):
        print(f"\nBlocked solver scaling (window 16), N={args.N}, float32 tangents")
        print(HEADER)
        for B in args.block:
            for T in args.T:
                for S in args.S:
                    r, err = _run(S, T, args.N, "blocked", "float32", env, block=B)
                    print(_row(f"block {B}", S, T, r, err), flush=True)
                device = (r or {}).get("device", device)
    print(f"device: {device}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
