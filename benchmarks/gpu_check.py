"""The prepared accelerator check (driven by ``benchmarks/gpu_check.sh``; ≤ 8 minutes on one H100).

Parts, each in its own process under its own time budget (a part that runs out is stopped, and the table says
so; the other parts still run and the table is always written):

* ``phase``       -- ``grokjax figure phase --size paper``: the 14 x 14 (alpha, eps) phase diagram, 196 runs vmapped;
* ``fig1``        -- ``grokjax figure fig1 --size paper``;
* ``agreement``   -- the same polynomial runs on the accelerator and on its host CPU: float32 at matmul precision
  ``highest`` (tolerance 2e-4 relative, the suite's float32-vs-float64 tolerance), float32 at XLA's ``default``
  precision (TF32 on NVIDIA GPUs; informational, to show what TF32 does) and float64 (1e-9);
* ``dmft``        -- the finite-P/D DMFT solver at S = 64 000, T = 400, and the S that fits in 60 s (extrapolated
  linearly in S from that run);
* ``transformer`` -- Fig 5b's transformer at its paper (notebook) preset: seconds per step from two short runs, the
  projected time of the whole figure, then as many steps as fit;
* ``model``       -- the public model layer on a user-written MLP (``grokjax.run_model``), 16 configurations
  (alpha x seeds) in one program, kernel movement on 256 probe points.

Every row stands beside the CPU figure recorded in ``benchmarks/RESULTS.md`` (2-core CPU, jax 0.10.2).

Output (``--out DIR``, else ``$OUT``, else ``results/gpu_check``): at most 8 flat files, each ≤ 16 MiB --
``gpu_check.md`` (the table for RESULTS.md), ``gpu_check.json`` (the same, machine-readable), ``gpu_check.log``
(every part's output), ``phase.png``, ``phase.nc``, ``fig1.png``, ``fig1.nc``, ``model.png``. Scratch files live
in a temporary folder that is removed at the end.

``--dry-run``: tiny sizes on whatever device there is (the test suite runs it on the CPU); it checks the
plumbing, not the numbers.

It needs no installation: run from a plain checkout (``gpu_check.sh`` puts the checkout on ``PYTHONPATH``), with
neither ``h5netcdf`` (datasets then fall back to netCDF3 through scipy) nor ``mlxtend`` importable.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

F32_TOL, F64_TOL = 2e-4, 1e-9
AGREE = ("train_loss", "test_loss", "lazy_test_loss", "alignment", "kernel_movement", "after_kernel_test_loss")
MAX_FILES, MAX_FILE_BYTES = 8, 16 * 2**20

#: part -> (budget in seconds on the accelerator, budget in a dry run)
BUDGETS = {"phase": (120.0, 120.0), "fig1": (60.0, 90.0), "agreement": (60.0, 90.0), "dmft": (75.0, 90.0),
           "transformer": (90.0, 90.0), "model": (45.0, 90.0)}

#: the CPU figures of benchmarks/RESULTS.md each row is shown beside (2-core CPU, jax 0.10.2, float32)
CPU_REFERENCE = {
    "phase": "≈ 3 h projected (1 950 config-steps/s; RESULTS.md 'Polynomial sweeps at paper size')",
    "fig1": "42 s projected unloaded, 210 s measured loaded (RESULTS.md issue 4)",
    "agreement": "(CPU is the reference)",
    "dmft": "S=16 000, T=400: 103 s, 1.38 GB (RESULTS.md issue 10, session 10); S=64 000 not run on CPU",
    "transformer": "0.17 s per step per alpha; whole figure ≈ 96 CPU-hours (README, fig5b)",
    "model": "see RESULTS.md 'model layer' (bench_model.py)",
}


# ------------------------------------------------------------------------------------------------------ parts
def _rel(a, b) -> float:
    import numpy as np

    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def _figure_part(name: str, label: str):
    def part(dry: bool, scratch: Path, deadline: float) -> list[dict]:
        from grokjax.figures import make_figure

        size = "tiny" if dry else "paper"
        start = time.perf_counter()
        check, _ = make_figure(name, size, scratch, quiet=True, formats=("png",))  # only the PNG is sent back
        wall = time.perf_counter() - start
        return [{"check": f"{label}: `grokjax figure {name} --size {size}`", "size": size, "wall_s": wall,
                 "result": "claim HOLDS" if check.holds else "claim DOES NOT HOLD", "ok": True,
                 "files": [f"{name}.png", f"data/{name}.nc"]}]
    return part


def _agreement(dry: bool, scratch: Path, deadline: float) -> list[dict]:
    """The same runs on the default device and on the CPU: float32 at 'highest' and 'default' precision, float64."""
    import jax

    import grokjax as gj

    size = dict(D=8, N=16, P=44, P_test=100, steps=200, n_log=10) if dry else \
        dict(D=50, N=250, P=275, P_test=1000, steps=5000, n_log=40)
    cpu = jax.devices("cpu")[0]
    cases = [("float32", "highest", F32_TOL), ("float32", "default", None), ("float64", "highest", F64_TOL)]
    rows = []
    if dry:  # plumbing only: one engine, one judged case
        cases = cases[:1]
    for engine in (("reduced",) if dry else ("reduced", "weights")):
        for dtype, precision, tol in cases:
            if time.time() > deadline - 5:
                break
            cfg = gj.PolyConfig(alpha=1.0, eps=0.02, dtype=dtype, engine=engine, **size)
            start = time.perf_counter()
            with jax.default_matmul_precision(precision):
                accel = gj.run_single(cfg)
                with jax.default_device(cpu):
                    ref = gj.run_single(cfg)
            worst = max(_rel(accel[k], ref[k]) for k in AGREE)
            verdict = (f" (tolerance {tol:g}: {'PASS' if worst <= tol else 'FAIL'})" if tol else " (informational)")
            rows.append({"check": f"agreement {jax.default_backend()} vs cpu, {engine} engine, {dtype}, matmul "
                                  f"precision {precision}", "size": f"D={cfg.D} N={cfg.N} P={cfg.P}, {cfg.steps} steps",
                         "wall_s": time.perf_counter() - start, "result": f"max rel diff {worst:.2e}{verdict}",
                         "ok": tol is None or worst <= tol})
    return rows


def _dmft(dry: bool, scratch: Path, deadline: float) -> list[dict]:
    """The finite DMFT at S = 64 000, T = 400 (N = 4, a = 8): compile, then a timed solve; the S that fits in
    60 s by linear extrapolation in S (the solver's cost and memory are linear in S at fixed T)."""
    from dmft import ModelConfig, SolverConfig, solve_dmft

    S, T = (2000, 24) if dry else (64_000, 400)
    p = ModelConfig(N=4, T=T, a=8.0, alpha=2.0, eps=0.5, dt=0.25)
    sc = SolverConfig(S=S, memory_gb=60.0)
    start = time.perf_counter()
    r = solve_dmft(p, sc)
    solve = time.perf_counter() - start
    import numpy as np

    finite = bool(np.isfinite(np.asarray(r.test)).all() and np.isfinite(np.asarray(r.train)).all())
    s60 = int(S * 60.0 / solve) // 1000 * 1000
    return [{"check": "DMFT finite P/D, blocked responses, conditional noise (N=4, a=8, alpha=2, eps=0.5)",
             "size": f"S={S}, T={T}", "wall_s": solve,
             "result": f"solve incl. compile {solve:.1f} s; final test loss {float(np.asarray(r.test)[-1]):.4g}; "
                       f"S in 60 s ≈ {s60} (linear in S)", "ok": finite}]


def _transformer(dry: bool, scratch: Path, deadline: float) -> list[dict]:
    """Fig 5b's transformer at the paper (notebook) preset: two short runs give seconds per step and compile time,
    then one run for as many steps as fit before ``deadline`` (capped at the preset's 200k)."""
    import numpy as np

    from grokjax.tasks import transformer

    base = transformer.Config(preset="notebook")
    if dry:
        base = transformer.Config(preset="notebook", p=7, d_model=8, d_mlp=16, n_heads=4, alpha=(0.5, 1.0))
    full = base.resolved().steps
    n_alpha = len(base.resolved().alpha)
    s1, s2 = (10, 20) if dry else (100, 600)

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
    rows = [{"check": f"transformer Fig 5b, notebook preset ({n_alpha} alphas vmapped), calibration",
             "size": f"{s1} and {s2} steps", "wall_s": t1 + t2,
             "result": f"{per_step * 1e3:.3g} ms/step for all alphas, compile ≈ {compile_s:.0f} s; whole figure "
                       f"({full} steps) ≈ {(compile_s + full * per_step) / 60:.1f} min",
             "ok": bool(np.isfinite(ds["train_loss"].values).all())}]
    left = deadline - time.time() - compile_s - 5.0
    steps = int(min(full, max(0.0, left) / per_step)) // 100 * 100
    if steps > s2:
        t3, ds = timed(steps)
        acc = ds["test_acc"].isel(step=-1).mean("seed").values
        rows.append({"check": "transformer Fig 5b, notebook preset, as many steps as fit", "size": f"{steps} steps",
                     "wall_s": t3, "result": f"{steps / t3:.0f} steps/s; final test acc per alpha "
                                             f"{np.array2string(acc, precision=2)}", "ok": True})
    return rows


def _model(dry: bool, scratch: Path, deadline: float) -> list[dict]:
    """The public model layer on a user-written two-layer tanh MLP: 4 alphas x 4 seeds in one program."""
    import grokjax as gj

    if not all(hasattr(gj, name) for name in ("Model", "LazyRichConfig", "run_model")):
        return [{"check": "model layer (your own model)", "size": "-", "wall_s": 0.0,
                 "result": "not in this version of grokjax", "ok": True}]
    import jax
    import jax.numpy as jnp
    import numpy as np

    d, width, n = (4, 16, 32) if dry else (64, 1024, 4096)
    steps = 50 if dry else 5000

    def init(key):
        k1, k2 = jax.random.split(key)
        return {"W": jax.random.normal(k1, (d, width)) / jnp.sqrt(d),
                "v": jax.random.normal(k2, (width,)) / jnp.sqrt(width)}

    def apply(params, x):
        return jnp.tanh(x @ params["W"]) @ params["v"]

    def data(key):
        kx, kb = jax.random.split(key)
        x = jax.random.normal(kx, (2 * n, d))
        y = (x @ (jax.random.normal(kb, (d,)) / jnp.sqrt(d))) ** 2
        return x[:n], y[:n], x[n:], y[n:]

    model = gj.Model(apply=apply, init=init, data=data, loss="mse", name="tanh-mlp",
                     description=f"two-layer tanh MLP {d}-{width}-1 (gpu_check)")
    cfg = gj.LazyRichConfig(alpha=(0.5, 1.0, 2.0, 4.0), seed=(0, 1, 2, 3), steps=steps, lr=(0.05,),
                            kernel_points=8 if dry else 256)
    start = time.perf_counter()
    ds = gj.run_model(model, cfg)
    wall = time.perf_counter() - start
    gj.save_dataset(ds, scratch / "data" / "model.nc", overwrite=True)  # the store on a user's run (not sent back)
    files = []
    if hasattr(gj, "plot_lazy_rich"):
        from grokjax.figures import save_figure

        save_figure(gj.plot_lazy_rich(ds), scratch, "model", formats=("png",))
        files.append("model.png")
    return [{"check": "model layer: user tanh MLP, 4 alphas x 4 seeds in one program (`grokjax.run_model`)",
             "size": f"d={d} width={width} n={n}, {steps} steps", "wall_s": wall,
             "result": f"train loss {float(ds['train_loss'].isel(step=0).mean()):.3g} -> "
                       f"{float(ds['train_loss'].isel(step=-1).mean()):.3g} (seed/alpha mean); diverged "
                       f"{int((ds['diverged_step'].values >= 0).sum())} of 16",
             "ok": bool(np.isfinite(ds["train_loss"].values).all() and (ds["diverged_step"].values < 0).all()),
             "files": files}]


PARTS = {"phase": _figure_part("phase", "phase diagram (14x14 at paper size)"),
         "fig1": _figure_part("fig1", "Fig 1"), "agreement": _agreement, "dmft": _dmft,
         "transformer": _transformer, "model": _model}


def _run_part(name: str, dry: bool, scratch: Path, deadline: float) -> int:
    """Child process: run one part and write its rows to ``scratch/<name>.json``."""
    import jax

    rows = PARTS[name](dry, scratch, deadline)
    for row in rows:
        row.setdefault("status", "done")
    (scratch / f"{name}.json").write_text(json.dumps({"rows": rows, "device": str(jax.devices()[0].device_kind),
                                                      "backend": jax.default_backend(),
                                                      "jax": jax.__version__}))
    return 0


# ------------------------------------------------------------------------------------------------- the driver
def default_out() -> Path:
    """``$OUT`` when set (the GPU machine's result folder), else ``results/gpu_check``."""
    return Path(os.environ["OUT"]) if os.environ.get("OUT") else Path("results/gpu_check")


def _table(rows: list[dict], head: str) -> str:
    lines = [f"### {head}", "", "| check | size | wall s | result | CPU (RESULTS.md) |", "|---|---|---|---|---|"]
    lines += [f"| {r['check']} | {r['size']} | {r['wall_s']:.1f} | {r['result']} | {r.get('cpu', '')} |"
              for r in rows]
    return "\n".join(lines) + "\n"


def _collect(scratch: Path, out: Path, rows: list[dict]) -> list[str]:
    """Copy the part outputs named in ``rows`` (flat) and the logs into ``out``: at most MAX_FILES files of at most
    MAX_FILE_BYTES each (the GPU machine's limits); returns notes on anything left out."""
    notes = []
    wanted = [f for r in rows for f in r.get("files", [])]
    room = MAX_FILES - 3  # gpu_check.md, gpu_check.json, gpu_check.log
    for rel in wanted:
        src = scratch / rel
        if not src.is_file():
            continue
        if room <= 0:
            notes.append(f"{rel} left out (at most {MAX_FILES} files)")
            continue
        if src.stat().st_size > MAX_FILE_BYTES:
            notes.append(f"{rel} left out ({src.stat().st_size / 2**20:.1f} MiB > 16 MiB)")
            continue
        shutil.copyfile(src, out / Path(rel).name)
        room -= 1
    return notes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on any device (the test suite, CPU)")
    parser.add_argument("--out", type=Path, default=None,
                        help="result folder (default: $OUT when set, else results/gpu_check)")
    parser.add_argument("--budget-s", type=float, default=460.0, help="wall-clock budget of the whole check")
    parser.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS), help="parts to run")
    parser.add_argument("--part", choices=list(PARTS), help=argparse.SUPPRESS)      # child process
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)             # child process
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)           # child process
    args = parser.parse_args(argv)
    if args.part:
        return _run_part(args.part, args.dry_run, args.scratch, args.deadline)

    start = time.time()
    deadline = start + args.budget_s
    out = args.out or default_out()
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    rows: list[dict] = []
    info: dict = {}
    log = open(out / "gpu_check.log", "w")

    def write(final: bool = False) -> str:
        """The table so far, rewritten after every part (a run cut short still leaves its numbers)."""
        total = time.time() - start
        head = (f"GPU check ({'dry run, ' if args.dry_run else ''}{info.get('device', '?')}, backend "
                f"{info.get('backend', '?')}, jax {info.get('jax', '?')}, python {platform.python_version()}, "
                f"float32 matmul precision 'highest'; {'total' if final else 'so far'} {total:.0f} s)")
        text = _table(rows, head)
        (out / "gpu_check.md").write_text(text)
        (out / "gpu_check.json").write_text(json.dumps({"head": head, "rows": rows, "total_s": total,
                                                        "dry_run": args.dry_run, **info}, indent=1))
        return text

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        for name in args.parts:
            budget = BUDGETS[name][1 if args.dry_run else 0]
            left = deadline - time.time()
            if left < 10:
                rows.append({"check": name, "size": "-", "wall_s": 0.0, "status": "skipped", "ok": True,
                             "result": "skipped: the whole check's budget is spent", "cpu": CPU_REFERENCE[name]})
                continue
            budget = min(budget, left)
            cmd = [sys.executable, str(Path(__file__).resolve()), "--part", name, "--scratch", str(scratch),
                   "--deadline", str(time.time() + budget)] + (["--dry-run"] if args.dry_run else [])
            t0 = time.time()
            log.write(f"===== part {name} (budget {budget:.0f} s)\n")
            log.flush()
            try:
                proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=budget + 15, env=env)
                code = proc.returncode
            except subprocess.TimeoutExpired:
                code = None
            wall = time.time() - t0
            result_file = scratch / f"{name}.json"
            if code == 0 and result_file.is_file():
                got = json.loads(result_file.read_text())
                info.update({k: got[k] for k in ("device", "backend", "jax")})
                part_rows = got["rows"]
            elif code is None:
                part_rows = [{"check": name, "size": "-", "wall_s": wall, "status": "stopped", "ok": True,
                              "result": f"stopped at its budget of {budget:.0f} s (not finished)"}]
            else:
                part_rows = [{"check": name, "size": "-", "wall_s": wall, "status": "failed", "ok": False,
                              "result": f"FAILED (exit {code}; see gpu_check.log)"}]
            for row in part_rows:
                row["cpu"] = CPU_REFERENCE[name]
            rows.extend(part_rows)
            print(f"{name}: {wall:.1f} s ({part_rows[-1]['status']})", flush=True)
            write()
        notes = _collect(scratch, out, rows)
        for note in notes:
            rows.append({"check": "output", "size": "-", "wall_s": 0.0, "result": note, "ok": True})
        text = write(final=True)
    finally:
        log.close()
        shutil.rmtree(scratch, ignore_errors=True)
    print(text)
    ok = all(r["ok"] for r in rows)
    stopped = sum(r.get("status") in ("stopped", "skipped") for r in rows)
    print("GPU CHECK", "PASSED" if ok else "FAILED", f"({stopped} part(s) stopped at their budget; "
          f"table: {out / 'gpu_check.md'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
