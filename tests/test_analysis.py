"""Analyses in the library: growth rates, success statistics, ridge selection."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import rnngrad as rg
from rnngrad._analysis import wilson_interval


def test_growth_rate_of_a_linear_network_is_log_gain():
    # A linear RNN with orthogonal W_rec of gain g: ‖∂L/∂s_{T-1-d}‖ = g^d exactly.
    for g in (0.5, 0.9, 1.2):
        cell = rg.VanillaCell(
            1,
            4,
            nonlinearity="identity",
            weight_hh_init=rg.init.orthogonal(g),
            key=jax.random.key(0),
        )
        prof = rg.final_step_profile(cell, jnp.zeros((30, 1)), jnp.ones(4), jnp.sum)
        rate = rg.growth_rate(rg.lag_profile(prof, log10=True), start=3)
        np.testing.assert_allclose(rate, math.log(g), rtol=1e-12)


def test_growth_rate_is_the_least_squares_slope_and_batches():
    rng = np.random.default_rng(0)
    profiles = rng.normal(size=(3, 12))
    got = rg.growth_rate(jnp.asarray(profiles), start=2)
    want = [np.polyfit(np.arange(2, 12), math.log(10) * p[2:], 1)[0] for p in profiles]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_growth_rate_bad_input():
    with pytest.raises(ValueError, match="at least two lags"):
        rg.growth_rate(jnp.zeros(5), start=4)
    with pytest.raises(ValueError, match="non-finite values at lags >= start"):
        rg.growth_rate(jnp.array([0.0, -1.0, -jnp.inf, -3.0]))
    with pytest.raises(TypeError, match="real array"):
        rg.growth_rate(jnp.arange(5))
    with pytest.raises(ValueError, match="`start` must be >= 0"):
        rg.growth_rate(jnp.zeros(5), start=-1)


@pytest.mark.parametrize("successes,trials", [(0, 5), (1, 5), (3, 7), (5, 5), (0, 1), (40, 100)])
def test_wilson_interval_matches_scipy_and_is_exact_at_the_edges(successes, trials):
    low, high = wilson_interval(successes, trials)
    ref = stats.binomtest(successes, trials).proportion_ci(0.95, method="wilson")
    np.testing.assert_allclose([low, high], [ref.low, ref.high], rtol=1e-12, atol=1e-15)
    if successes == 0:
        assert low == 0.0  # exactly, not 1e-17 from rounding
    if successes == trials:
        assert high == 1.0


def test_success_stats_flags_seeds_stuck_at_the_baseline():
    s = rg.success_stats(
        np.array([True, False, False, False]),
        test_loss=np.array([0.001, 0.166, 0.17, 0.05]),
        baseline=1 / 6,
    )
    assert (s.successes, s.trials, s.rate, s.stuck) == (1, 4, 0.25, 2)
    assert s.as_dict()["ci95"] == [s.low, s.high]
    with pytest.raises(TypeError, match="array of bools"):
        rg.success_stats(np.array([1, 0]))
    with pytest.raises(ValueError, match="both `test_loss` and `baseline`"):
        rg.success_stats(np.array([True]), test_loss=np.array([0.1]))
    with pytest.raises(ValueError, match="non-empty 1-D"):
        rg.success_stats(np.zeros((0,), bool))


def test_select_ridge_picks_the_validation_minimum():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(80, 5)))
    y = x @ jnp.arange(5.0) + 0.3 * jnp.asarray(rng.normal(size=80))
    ridges = [1e-6, 1e-2, 1.0, 100.0]
    pick = rg.esn.select_ridge(x[:50], y[:50], ridges=ridges, validation=(x[50:], y[50:]))
    scores = [
        float(
            rg.esn.nrmse(
                rg.esn.readout_apply(rg.esn.ridge_readout(x[:50], y[:50], ridge=r), x[50:]), y[50:]
            )
        )
        for r in ridges
    ]
    np.testing.assert_allclose(pick.scores, scores, rtol=1e-10)
    assert pick.index == int(np.argmin(scores)) and pick.ridge == ridges[pick.index]
    np.testing.assert_allclose(
        pick.readout, rg.esn.ridge_readout(x[:50], y[:50], ridge=pick.ridge), rtol=1e-12
    )
    custom = rg.esn.select_ridge(x[:50], y[:50], ridges=ridges, score=lambda w: -jnp.sum(w**2))
    assert custom.index == 0  # the smallest ridge has the largest weights
    with pytest.raises(ValueError, match="exactly one of"):
        rg.esn.select_ridge(x, y, ridges=ridges)
    with pytest.raises(ValueError, match="finite and >= 0"):
        rg.esn.select_ridge(x, y, ridges=[-1.0], validation=(x, y))
