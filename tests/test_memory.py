"""A memory estimate before every compute (grokjax._memory): task runs, the online DMFT and compare dmft refuse
sizes that cannot fit with exit 2 / ConfigError naming the field that drives the estimate, before compute."""
import time

import pytest

import dmft
import grokjax as gj
from grokjax._memory import check_memory, memory_limit_bytes, task_bytes
from grokjax.cli import main
from grokjax.tasks import load_task


@pytest.mark.parametrize("argv, field", [
    (["run", "modular", "--hidden", "20000000"], "hidden"),
    (["run", "modular", "--p", "3000"], "p"),
    (["run", "transformer", "--d-model", "200000", "--n-heads", "1"], "d_model"),
    (["run", "transformer", "--p", "4000"], "p"),
    (["run", "mnist", "--width", "3000000"], "width"),
    (["run", "teacher", "--width", "3000000"], "width"),
    (["run", "teacher", "--n-train", "400000000", "--n-test", "1"], "n_train"),
])
def test_task_sizes_that_cannot_fit_are_refused_before_compute(tmp_path, capsys, argv, field):
    started = time.perf_counter()
    rc = main([*argv, "--out", str(tmp_path / "x.nc"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and f"'{field}'" in err and "GiB" in err, err
    assert time.perf_counter() - started < 10 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("task", ["modular", "transformer", "mnist", "teacher"])
def test_defaults_fit_and_a_tiny_limit_refuses_them(task, monkeypatch):
    cfg = load_task(task).Config()
    cfg.validate()  # the defaults fit this machine
    monkeypatch.setenv("GROKJAX_MEMORY_LIMIT_GB", "0.0001")
    with pytest.raises(gj.ConfigError) as err:
        cfg.validate()
    resolved = cfg.resolved() if hasattr(cfg, "resolved") else cfg
    terms = task_bytes(task, resolved)
    assert err.value.field == max(terms, key=terms.get)


def test_estimate_grows_with_the_sizes():
    small = sum(task_bytes("modular", load_task("modular").Config(hidden=10)).values())
    large = sum(task_bytes("modular", load_task("modular").Config(hidden=1000)).values())
    assert large > 10 * small


def test_check_memory_and_limit(monkeypatch):
    check_memory({"a": 1.0, "b": 2.0}, limit=10)
    with pytest.raises(gj.ConfigError) as err:
        check_memory({"a": 1.0, "b": 20.0}, limit=10)
    assert err.value.field == "b"
    monkeypatch.setenv("GROKJAX_MEMORY_LIMIT_GB", "2")
    assert memory_limit_bytes() == 2 * 2**30
    monkeypatch.setenv("GROKJAX_MEMORY_LIMIT_GB", "nan")
    with pytest.raises(gj.ConfigError, match="GROKJAX_MEMORY_LIMIT_GB"):
        memory_limit_bytes()


def test_online_dmft_with_huge_T_is_refused_not_aborted():
    started = time.perf_counter()
    with pytest.raises(gj.ConfigError) as err:
        dmft.solve_online(dmft.ModelConfig(T=10**9))
    assert err.value.field == "T" and time.perf_counter() - started < 5
    with pytest.raises(gj.ConfigError):
        dmft.solve_online_ode(dmft.ModelConfig(T=10**9))
    assert dmft.solve_online(dmft.ModelConfig(T=5)).train.shape == (6,)


def test_compare_dmft_online_with_huge_T_is_refused(tmp_path, capsys):
    rc = main(["compare", "dmft", "--theory", "online", "--T", "1000000000", "--out", str(tmp_path / "o.nc")])
    err = capsys.readouterr().err
    assert rc == 2 and "'T'" in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("noise", ["stored", "conditional"])
@pytest.mark.parametrize("responses, method", [("blocked", "march"), ("pathwise", "march"), ("pathwise", "picard")])
def test_every_dmft_route_counts_its_kernels_and_refuses_large_T(noise, responses, method):
    """The (TN)^2 kernels are counted on every route (noise='stored' left them out: 51 GB at large T)."""
    p, sc = dmft.ModelConfig(T=8000), dmft.SolverConfig(noise=noise, responses=responses, method=method)
    assert dmft.state_gb(p, sc) > 40
    started = time.perf_counter()
    with pytest.raises(gj.ConfigError) as err:
        dmft.solve_dmft(p, sc)
    # blocked: the kernels dominate (T); pathwise: the S x T^2 N^2 tangents do (S)
    assert err.value.field == ("T" if responses == "blocked" else "S") and time.perf_counter() - started < 5
