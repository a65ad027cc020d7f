"""The prepared GPU check runs end to end in its tiny --dry-run mode on the CPU and writes its table."""
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_dry_run_writes_its_table(tmp_path):
    start = time.perf_counter()
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "GPU CHECK PASSED" in result.stdout
    table = (tmp_path / "gpu_check.md").read_text()
    assert table.startswith("### GPU check (dry run") and "| check | size | wall s | result |" in table
    for row in ("phase diagram", "Fig 1", "agreement", "transformer Fig 5b"):
        assert row in table, row
    assert "PASS)" in table and "FAIL" not in table
    assert (tmp_path / "phase.png").exists() and (tmp_path / "data" / "fig1.nc").exists()
    print(f"gpu_check --dry-run: {time.perf_counter() - start:.1f} s")


def test_gpu_check_without_accelerator_refuses_the_full_run(tmp_path):
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin",
                                                                              "JAX_PLATFORMS": "cpu"})
    assert result.returncode == 3 and "no accelerator" in result.stderr
    assert not (tmp_path / "gpu_check.md").exists()
