"""experiments/phase_diagram.py --quick: fields, the predicted grid against meanfield, bins."""

import json
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import rnngrad as rg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

import phase_diagram as pd  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out, x64 = tmp_path_factory.mktemp("phase_diagram"), jax.config.jax_enable_x64
    try:
        with jax.numpy_dtype_promotion("standard"):  # optax's Adam mixes dtypes
            pd.main(["--quick", "--out", str(out)])
    finally:
        jax.config.update("jax_enable_x64", x64)
    record = json.loads((out / "phase_diagram.json").read_text())
    for fig in record["figures"]:
        assert (out / fig).stat().st_size > 1000
    with np.load(out / "phase_diagram.npz") as arrays:
        return record, dict(arrays)


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
