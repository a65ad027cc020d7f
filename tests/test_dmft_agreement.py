"""Calibration of the theory-vs-simulation verdict (``dmft.agreement``) on synthetic curves.

Null: "theory" and "simulation" seeds are independent draws of the same smooth, correlated, heteroscedastic random
curves (400 time points), as DMFT Monte-Carlo seeds and GD seeds are draws around one mean. A correct theory
must pass; a shifted one must fail.
"""
import numpy as np
import pytest

from dmft import agreement

T = 401
_t = np.linspace(0.0, 1.0, T)
_BASIS = np.stack([np.sin((j + 1) * 1.5 * np.pi * _t + j) * np.exp(-0.15 * j) for j in range(12)])
_AMP = 1.0 + 3.0 * np.exp(-(((_t - 0.2) / 0.1) ** 2))  # a noisy "transition" early on


def _curves(rng, m, scale):
    return 0.5 + 1e-3 * scale * _AMP * (rng.standard_normal((m, 12)) @ _BASIS
                                        + 0.1 * rng.standard_normal((m, T)))


def _rates(shift, reps=40, n_sim=16, n_dmft=4, seed=0):
    rng = np.random.default_rng(seed)
    pointwise = simultaneous = 0
    for r in range(reps):
        sim, th = _curves(rng, n_sim, 1.0), _curves(rng, n_dmft, 0.8) + shift
        # only "test" is judged: "train" and "gap" get two time points (t = 0, which agreement drops, and t = 1) so
        # their bootstraps cost nothing.  The bootstrap's draws depend on the seed counts only, not on the number
        # of time points, so the "test" verdict is bit-identical to passing the whole curve three times.
        curves = lambda a: {"train": a[:, :2], "test": a, "gap": a[:, :2]}
        res = agreement(curves(th), curves(sim), n_boot=1000, seed=r)["test"]
        pointwise += not res["holds_pointwise"]
        simultaneous += not res["holds"]
    return pointwise / reps, simultaneous / reps


def test_pointwise_rule_rejects_a_correct_theory_and_the_band_does_not():
    """Under the null, '2 SEM + spread at every t' fails most of the time (the simulation against an independent
    copy of itself); the simultaneous 95 % band fails at most at about its level."""
    pointwise, simultaneous = _rates(0.0)
    assert pointwise > 0.5, pointwise
    assert simultaneous <= 0.15, simultaneous


def test_band_rejects_a_wrong_theory():
    """A constant offset of 3.5e-3 (about 6 median combined standard errors; the band is conservative with 4 theory
    seeds, power 25 % at 2 and 75 % at 3.5 median errors) is rejected every time; so is the pointwise rule."""
    pointwise, simultaneous = _rates(3.5e-3, reps=20)
    assert simultaneous == 1.0 and pointwise == 1.0


def test_noise_free_theory_and_degenerate_time_points():
    """A one-seed theory (no Monte-Carlo error, e.g. the online limit) is judged against the simulation's error
    alone; time points where every seed agrees exactly (variance 0) do not divide by zero."""
    rng = np.random.default_rng(3)
    sim = _curves(rng, 16, 1.0)
    sim[:, :5] = 0.5  # degenerate stretch
    exact = np.full((1, T), 0.5)
    res = agreement({"train": exact, "test": exact, "gap": exact}, {"train": sim, "test": sim, "gap": sim},
                    n_boot=500)
    assert np.isfinite(res["test"]["z_max"]) and np.isfinite(res["test"]["q"])
    assert res["test"]["holds"]
    res = agreement({"train": exact + 0.01, "test": exact, "gap": exact}, {"train": sim, "test": sim, "gap": sim},
                    n_boot=500)
    assert not res["train"]["holds"] and res["train"]["max_diff"] > 0.009


def test_bootstrap_by_multiplicities_equals_gathering_the_resampled_curves():
    """The band's null law is computed from each resample's seed multiplicities (matrix products); gathering the
    resampled curves and taking their mean and variance directly (the definition) gives the same statistic, with
    the same draws, to round-off: one- and several-seed theories, degenerate time points, one-seed resamples."""
    from dmft._agreement import _VAR_FLOOR, _bootstrap_max_t

    def gathered(Y, X, n_boot, rng):
        n, k = X.shape[0], Y.shape[0]
        out = []
        for lo in range(0, n_boot, 500):
            b = min(500, n_boot - lo)
            Xs, Ys = X[rng.integers(0, n, (b, n))], Y[rng.integers(0, k, (b, k))]
            var = Xs.var(1, ddof=1) / n + (Ys.var(1, ddof=1) / k if k > 1 else 0.0)
            num = np.abs((Ys.mean(1) - Y.mean(0)) - (Xs.mean(1) - X.mean(0)))
            out.append(np.max(num / np.sqrt(np.maximum(var, _VAR_FLOOR)), axis=1))
        return np.concatenate(out)

    rng = np.random.default_rng(7)
    for n, k in ((16, 4), (8, 1), (3, 2)):  # with 3 seeds some resamples draw one seed three times
        X, Y = _curves(rng, n, 1.0)[:, :60], _curves(rng, k, 0.8)[:, :60]
        X[:, :4] = Y[:, :4] = 0.5  # every seed equal there
        a = gathered(Y, X, 1200, np.random.default_rng(1))
        b = _bootstrap_max_t(Y, X, 1200, np.random.default_rng(1))
        big = a > 1e-6  # z values of round-off size (a numerator of ~1e-16) carry no information
        np.testing.assert_allclose(b[big], a[big], rtol=1e-9)
        assert np.all(b[~big] < 1e-6)
        assert np.quantile(b, 0.95) == pytest.approx(np.quantile(a, 0.95), rel=1e-9)
