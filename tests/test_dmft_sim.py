"""Small DMFT-vs-simulation check (default suite) and the bad-input exits of ``grokjax compare dmft``."""
import warnings

import numpy as np
import pytest

from dmft import ModelConfig, SolverConfig
from experiments import dmft_compare


def test_dmft_matches_simulation_small():
    """Set A for t <= 6 (T = 24): finite-a DMFT within 2 SEM + MC spread of GD at D = 500 (12 seeds),
    while the online (a -> inf) theory is rejected by the same criterion (train-test gap).

    GD runs on the DMFT-convention ("side") simulator: the same draws and the same trajectory as the library's
    simulator to float32 round-off (test_library_simulator_equals_side_simulator), at a fraction of its cost
    (the library's one also records its D x D statistics-based metrics every step: ~10 s of CPU here)."""
    p = ModelConfig(T=24)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        th, sims, stats = dmft_compare.compare(p, SolverConfig(S=2000), [500], seeds=12, dmft_seeds=2,
                                               theory="both", quiet=True, sim="side")
    finite, online = stats[500]["finite"], stats[500]["online"]
    for name in ("train", "test", "gap"):
        assert finite[name]["holds"], (name, finite[name])
        assert finite[name]["max_diff"] < 0.01
    assert not online["gap"]["holds"] and online["gap"]["max_diff"] > 0.05
    # the t = 0 control variate: the estimator equals the known initial loss at t = 0
    sim = sims[500]
    assert np.allclose(sim["train"][:, 0], sim["test"][:, 0])


def test_library_simulator_equals_side_simulator():
    """grokjax.simulate_from (library conventions: x ~ N(0, I/D), MSE without 1/2, lr = eta0 N/alpha^2) and the
    independent DMFT-convention simulator on identical draws: same GD trajectory to float32 round-off; the
    exact-overlap initialisation has W0 beta/D = m0."""
    from experiments._dmft_sim import simulate_side, simulate_library

    p = ModelConfig(T=20, a=6.0, alpha=1.5, eps=0.7)
    side = simulate_side(p, 150, [3, 4, 5], seed_batch=3)
    lib = simulate_library(p, 150, [3, 4, 5], seed_batch=3)
    assert np.allclose(side["m"][:, 0], p.m0_array(), atol=1e-5)
    for name in ("train_raw", "test"):
        assert np.max(np.abs(side[name] - lib[name])) < 2e-5, name
    assert np.max(np.abs(side["train_raw"][:, -1] - side["train_raw"][:, 0])) > 0.05  # it did train


def test_fitted_control_variate():
    """train[t] = raw[t] - c_t (raw[0] - E raw[0]) with the fitted c_t: exact at t = 0, c_t recovers a known
    linear dependence, and the spread is below both the raw one and the coefficient-1 one."""
    from experiments._dmft_sim import fitted_cv

    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    noise = 0.1 * rng.normal(size=400)
    raw = np.stack([1.0 + x, 0.5 + 0.3 * x + noise], axis=1)
    out = fitted_cv(raw, np.array(1.0))
    assert np.allclose(out[:, 0], 1.0)
    assert abs(np.mean(out[:, 1]) - 0.5) < 0.02
    one = raw[:, 1] - (raw[:, 0] - 1.0)
    assert out[:, 1].std() < 0.12 < raw[:, 1].std() and out[:, 1].std() < one.std() / 5


@pytest.mark.parametrize("argv,field", [(["--a", "0"], "a"), (["--a", "-2"], "a"), (["--N", "0"], "N"),
                                        (["--dt", "0"], "dt"), (["--dt", "-0.1"], "dt"), (["--S", "1"], "S"),
                                        (["--D", "0"], "D"), (["--seeds", "1"], "seeds"),
                                        (["--out", "/proc/grokjax-x.nc"], "out")])  # lock file cannot be created
def test_bad_input_exits_2(argv, field, capsys, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("compute started before validation")

    monkeypatch.setattr(dmft_compare, "compare", boom)
    assert dmft_compare.main(argv) == 2
    err = capsys.readouterr().err
    assert f"'{field}'" in err


@pytest.mark.slow
def test_per_seed_spread_shrinks_like_inverse_sqrt_D():
    """Simulation fluctuations are O(D^-1/2): std over seeds times sqrt(D) is D-independent (set A, t = 6)."""
    import dataclasses

    import numpy as np

    from experiments._dmft_sim import simulate_side
    from experiments.fig_dmft import SETS

    p = dataclasses.replace(SETS["A"], T=24)
    scaled = []
    for D in (250, 500, 1000):
        out = simulate_side(p, D, list(range(24)), seed_batch=8)
        scaled.append(out["test"][:, 24].std(ddof=1) * np.sqrt(D))
    scaled = np.asarray(scaled)
    assert np.all(np.abs(scaled / scaled.mean() - 1) < 0.35), scaled
