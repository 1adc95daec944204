"""experiments/flossing.py --quick: fields, figures, λ₁ toward 0."""

import importlib
import json
import sys
from pathlib import Path

import jax
import numpy as np

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def _module():
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        return importlib.import_module("flossing")
    finally:
        sys.path.remove(str(EXPERIMENTS))


def test_flossing_quick(tmp_path):
    x64 = jax.config.jax_enable_x64  # the runner sets the script's precision (float32)
    module = _module()
    try:
        with jax.numpy_dtype_promotion("standard"):  # optax's Adam is not strict-safe
            module.main(["--quick", "--out", str(tmp_path)])
    finally:
        jax.config.update("jax_enable_x64", x64)
    record = json.loads((tmp_path / "flossing.json").read_text())
    for field in ("delays", "results", "lyapunov_before", "lyapunov_after", "tables", "checks"):
        assert field in record
    assert "seconds" in record
    for delay in record["delays"]:
        for arm in ("plain", "before", "during"):
            res = record["results"][str(delay)][arm]
            assert len(res["test_loss"]) == len(res["solved"]) == record["seeds"]
            assert all(np.isfinite(res["test_loss"]))
            assert all(0 <= a <= 1 for a in res["accuracy"])
            assert res["solved"] == [a >= record["solved_accuracy"] for a in res["accuracy"]]
            assert res["success"]["successes"] == sum(res["solved"])
        # the arms start from other cells: their losses differ
        losses = {
            arm: record["results"][str(delay)][arm]["test_loss"] for arm in ("plain", "before")
        }
        assert losses["plain"] != losses["before"]
    with np.load(tmp_path / "flossing.npz") as arrays:
        assert arrays[f"loss_curve_median_{record['delays'][0]}_plain"].shape == (record["steps"],)
    before, after = record["lyapunov_before"][0], record["lyapunov_after"][0]
    assert abs(after) < abs(before)  # flossing moves the top exponent toward its target 0
    k = record["flossed_exponents"]
    assert abs(record["lyapunov_after"][k - 1]) < abs(record["lyapunov_before"][k - 1])
    assert record["checks"]["lyapunov_after_top"] == after
    assert record["checks"]["benefit_delay"] in record["delays"]
    low, high = record["checks"]["benefit_interval"]
    assert low <= record["checks"]["benefit"] <= high
    assert 0 < record["checks"]["benefit_p"] <= 1
    arms = {"before": {"solved": [True, True, False]}, "plain": {"solved": [False, True, True]}}
    assert module.paired_p(arms) == 0.75  # one win, one loss: P(>= 1 win of 2) = 3/4
    assert [row["result"] for row in record["comparisons"]] == [
        e.result for e in module.EXPERIMENT.expected
    ]
    assert sorted(record["figures"]) == ["delays.png", "lyapunov.png"]
