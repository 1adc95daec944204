"""experiments/phase_diagram.py --quick: fields, the predicted grid against meanfield, bins."""

import numpy as np
import pytest
from _experiments import load, run_quick

import rnngrad as rg

pd = load("phase_diagram")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return run_quick(pd, tmp_path_factory.mktemp("phase_diagram"))


def test_rates_grid(run):
    rec, arrays = run
    sw, sb = arrays["sigma_w"], arrays["sigma_b"]
    shape = (len(sb), len(sw))
    for name in ("predicted_rate", "measured_rate", "lyapunov"):
        assert arrays[name].shape == shape and np.all(np.isfinite(arrays[name]))
    # The predicted grid is meanfield's rate at each (σ_b row, σ_w column); float32 run.
    for i, b in enumerate(sb):
        for j, w in enumerate(sw):
            want = float(rg.theory.meanfield("tanh", sigma_w=float(w), sigma_b=float(b)).rate)
            assert arrays["predicted_rate"][i, j] == pytest.approx(want, rel=1e-4, abs=1e-5)
    err = np.max(np.abs(arrays["measured_rate"] - arrays["predicted_rate"]))
    assert rec["rates"]["max_abs_rate_minus_predicted"] == pytest.approx(err, rel=1e-6)
    # The critical line: χ₁ = 1 at each of its points.
    for w, b in zip(arrays["critical_sigma_w"][::10], arrays["critical_sigma_b"][::10]):
        chi = float(rg.theory.meanfield("tanh", sigma_w=float(w), sigma_b=float(b)).chi1)
        assert chi == pytest.approx(1.0, abs=1e-4)
    assert sorted(rec["figures"]) == ["rates.png", "trainability.png"]


def test_trainability_records(run):
    rec, arrays = run
    cfg = rec["config"]["train"]
    n = len(cfg["lengths"]) * len(cfg["sigma_w"]) * len(cfg["sigma_b"])
    assert arrays["train_T_over_xi"].shape == arrays["train_success"].shape == (n,)
    for length, entries in rec["trainability"].items():
        for e in entries.values():
            assert len(e["test_mse"]) == cfg["seeds"]
            assert e["successes"] == sum(m < pd.MSE_THRESHOLD for m in e["test_mse"])
            assert e["T_over_xi"] == pytest.approx(int(length) / abs(e["depth_scale"]))
    assert sum(row[1] for row in rec["success_by_T_over_xi"]) == n
