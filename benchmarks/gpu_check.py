"""One prepared GPU check (driven by ``benchmarks/gpu_check.sh``): times the 14x14 phase diagram and Fig 1 at paper
size and the Fig 5b transformer at its paper preset for as many steps as fit, and checks that accelerator and CPU
results agree, then writes a markdown table for benchmarks/RESULTS.md.

Numerics: float32 matmuls run at ``jax_default_matmul_precision="highest"`` (no TF32 / bf16 passes; the shell
script also sets NVIDIA_TF32_OVERRIDE=0), so accelerator and CPU float32 results are compared at the project's
float32 tolerance (2e-4 relative, the float32-vs-float64 tolerance of the test suite); float64 at 1e-9. The
float32 difference at XLA's *default* precision is reported beside it, to show what TF32 would do.

``--dry-run``: tiny sizes on whatever device there is (CPU in the tests); it checks the plumbing, not the numbers.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_default_matmul_precision", "highest")

import numpy as np  # noqa: E402

F32_TOL, F64_TOL = 2e-4, 1e-9
AGREE = ("train_loss", "test_loss", "lazy_test_loss", "alignment", "kernel_movement", "after_kernel_test_loss")


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def _figure(name: str, size: str, out: Path):
    from grokjax.figures import make_figure

    start = time.perf_counter()
    check, _ = make_figure(name, size, out, quiet=True)
    return time.perf_counter() - start, check


def _agreement(dry: bool) -> list[dict]:
    """Same runs on the default device and on the CPU: float32 (highest and default precision) and float64."""
    import grokjax as gj

    size = dict(D=8, N=16, P=44, P_test=100, steps=200, n_log=10) if dry else \
        dict(D=50, N=250, P=275, P_test=1000, steps=5000, n_log=40)
    cpu = jax.devices("cpu")[0]
    rows = []
    cases = [("float32", "highest", F32_TOL), ("float32", "default", None), ("float64", "highest", F64_TOL)]
    for engine in (("reduced",) if dry else ("reduced", "weights")):
        for dtype, precision, tol in (cases[:1] if dry else cases):
            cfg = gj.PolyConfig(alpha=1.0, eps=0.02, dtype=dtype, engine=engine, **size)
            start = time.perf_counter()
            with jax.default_matmul_precision(precision):
                accel = gj.run_single(cfg)
                with jax.default_device(cpu):
                    ref = gj.run_single(cfg)
            worst = max(_rel(accel[k], ref[k]) for k in AGREE)
            rows.append({"check": f"agreement {jax.default_backend()} vs cpu, {engine} engine, {dtype}, "
                                  f"matmul precision {precision}",
                         "size": f"D={cfg.D} N={cfg.N} P={cfg.P}, {cfg.steps} steps",
                         "wall_s": time.perf_counter() - start,
                         "result": f"max rel diff {worst:.2e}" + (f" (tolerance {tol:g}: "
                                                                   f"{'PASS' if worst <= tol else 'FAIL'})"
                                                                   if tol else " (informational)"),
                         "ok": tol is None or worst <= tol})
    return rows


def _transformer(dry: bool, deadline: float) -> list[dict]:
    """Fig 5b's transformer at the paper (notebook) preset: two short runs give compile time and seconds per step,
    then one run for as many steps as fit before ``deadline`` (capped at the preset's 200k)."""
    from grokjax.tasks import transformer

    base = transformer.Config(preset="notebook")
    if dry:
        base = transformer.Config(preset="notebook", p=7, d_model=8, d_mlp=16, n_heads=4, alpha=(0.5, 1.0))
    full = base.resolved().steps
    s1, s2 = (10, 20) if dry else (200, 1000)

    def timed(steps):
        cfg = transformer.Config(**{**base.__dict__, "steps": steps, "log_points": min(50, steps)})
        start = time.perf_counter()
        ds = transformer.run(cfg, quiet=True)
        return time.perf_counter() - start, ds

    t1, ds = timed(s1)
    if dry:  # plumbing only: one run
        return [{"check": "transformer Fig 5b, notebook preset (tiny model), one run", "size": f"{s1} steps",
                 "wall_s": t1, "result": f"final train loss {float(ds['train_loss'].isel(step=-1).mean()):.3g}",
                 "ok": bool(np.isfinite(ds["train_loss"].values).all())}]
    t2, ds = timed(s2)
    per_step = max((t2 - t1) / (s2 - s1), 1e-9)
    compile_s = max(t1 - s1 * per_step, 0.0)
    n_alpha = len(base.resolved().alpha)
    rows = [{"check": f"transformer Fig 5b, notebook preset ({n_alpha} alphas vmapped), calibration",
             "size": f"{s1} and {s2} steps", "wall_s": t1 + t2,
             "result": f"{per_step * 1e3:.3g} ms/step for all alphas, compile ~{compile_s:.0f} s; full {full} steps "
                       f"~{(compile_s + full * per_step) / 60:.1f} min", "ok": True}]
    left = deadline - time.time() - compile_s - 10.0
    steps = int(min(full, max(0.0, left) / per_step)) // 100 * 100
    if steps > s2:
        t3, ds = timed(steps)
        acc = ds["test_acc"].isel(step=-1).mean("seed").values
        rows.append({"check": "transformer Fig 5b, notebook preset, as many steps as fit", "size": f"{steps} steps",
                     "wall_s": t3, "result": f"{steps / t3:.0f} steps/s; final test acc per alpha "
                                             f"{np.array2string(acc, precision=2)}", "ok": True})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on any device (the test suite, CPU)")
    parser.add_argument("--out", default="results/gpu_check", help="folder for figures and the table")
    parser.add_argument("--budget-s", type=float, default=450.0, help="wall-clock budget of the whole check")
    args = parser.parse_args(argv)
    start = time.time()
    deadline = start + args.budget_s
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    size = "tiny" if args.dry_run else "paper"
    dev = jax.devices()[0]
    rows = []

    def write(final=False):
        """The table so far (rewritten after every section, so a run cut short still leaves its numbers)."""
        total = time.time() - start
        head = (f"GPU check ({'dry run, ' if args.dry_run else ''}{len(jax.devices())}x {dev.device_kind}, "
                f"backend {jax.default_backend()}, jax {jax.__version__}, python {platform.python_version()}, "
                f"float32 matmul precision 'highest'; {'total' if final else 'so far'} {total:.0f} s)")
        lines = [f"### {head}", "", "| check | size | wall s | result |", "|---|---|---|---|"]
        lines += [f"| {r['check']} | {r['size']} | {r['wall_s']:.1f} | {r['result']} |" for r in rows]
        text = "\n".join(lines) + "\n"
        (out / "gpu_check.md").write_text(text)
        (out / "gpu_check.json").write_text(json.dumps({"head": head, "rows": rows, "total_s": total}, indent=1))
        return text

    for name, label in (("phase", "phase diagram (14x14 at paper size)"), ("fig1", "Fig 1")):
        wall, check = _figure(name, size, out)
        rows.append({"check": f"{label}: `grokjax figure {name} --size {size}`", "size": size,
                     "wall_s": wall, "result": ("claim HOLDS" if check.holds else "claim DOES NOT HOLD"),
                     "ok": True})
        print(f"{label}: {wall:.1f} s", flush=True)
        write()
    rows += _agreement(args.dry_run)
    write()
    print("agreement done", flush=True)
    rows += _transformer(args.dry_run, deadline)
    text = write(final=True)
    print(text)
    ok = all(r["ok"] for r in rows)
    print("GPU CHECK", "PASSED" if ok else "FAILED", f"(table: {out / 'gpu_check.md'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
