"""DMFT solver cost: wall time and peak memory against S (Monte-Carlo samples) and T (time steps).

    python benchmarks/bench_dmft.py [--S 500,1000,2000] [--T 20,40] [--method march|picard] [--N 4]

Each (S, T) point runs in a fresh subprocess (peak RSS = ``ru_maxrss`` of that process, which includes the
Python/JAX baseline, printed separately); ``first`` includes compilation, ``solve`` is a second, compiled run.
Theory: time ~ S N^3 T^3 (Jacobian memory contraction), memory ~ S T^2 N^2 (solver A; solver B per chunk).
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
import jax
from dmft import ModelConfig, SolverConfig, solve_dmft
S, T, N, method, chunk = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
p, sc = ModelConfig(N=N, T=T), SolverConfig(S=S, method=method, chunk=chunk)
t0 = time.perf_counter(); solve_dmft(p, sc); first = time.perf_counter() - t0
t0 = time.perf_counter(); r = solve_dmft(p, sc); solve = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(first=first, solve=solve, peak_mb=peak / 1024, base_mb=base / 1024,
                      sweeps=len(r.residuals), device=str(jax.devices()[0]))))
"""


def _ints(text):
    return [int(v) for v in text.split(",") if v]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--S", type=_ints, default=[500, 1000, 2000])
    ap.add_argument("--T", type=_ints, default=[20, 40])
    ap.add_argument("--N", type=int, default=4)
    ap.add_argument("--method", choices=("march", "picard"), default="march")
    ap.add_argument("--chunk", type=int, default=1000)
    args = ap.parse_args(argv)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    print(f"DMFT solver {args.method}, N={args.N}" + (f", chunk={args.chunk}" if args.method == "picard" else ""))
    print(f"{'S':>6} {'T':>5} {'first [s]':>10} {'solve [s]':>10} {'peak RSS [MB]':>14} {'baseline [MB]':>14} "
          f"{'sweeps':>7}")
    for T in args.T:
        for S in args.S:
            proc = subprocess.run([sys.executable, "-c", CHILD, str(S), str(T), str(args.N), args.method,
                                   str(args.chunk)], capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                print(f"{S:>6} {T:>5} failed: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{S:>6} {T:>5} {r['first']:>10.2f} {r['solve']:>10.2f} {r['peak_mb']:>14.0f} "
                  f"{r['base_mb']:>14.0f} {r['sweeps']:>7}", flush=True)
    print(f"device: {r['device'] if 'r' in locals() else '?'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
