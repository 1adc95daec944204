"""experiments/echo_state.py --quick: runs in this process, writes every field, measures physics.

The script is imported (not run in a subprocess) so that it also runs under this session's
strict dtype promotion and ``-W error``.
"""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "echo_state.py"


def _load_script():
    sys.path.insert(0, str(SCRIPT.parent))  # the script imports its sibling _runner
    try:
        spec = importlib.util.spec_from_file_location("echo_state_experiment", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return module


@pytest.fixture(scope="module")
def script():
    return _load_script()


@pytest.fixture(scope="module")
def quick(script, tmp_path_factory):
    out = tmp_path_factory.mktemp("echo_state")
    returned = script.main(["--quick", "--out", str(out)])
    record = json.loads((out / "echo_state.json").read_text())
    with np.load(out / "echo_state.npz") as arrays:
        return out, returned, record, dict(arrays)


def test_fields_and_files(script, quick):
    out, returned, rec, arrays = quick
    assert set(rec) == {
        "name",
        "size",
        "quick",
        "seconds",
        "figures",
        "series",
        "prediction",
        "sweep",
        "echo_state_property",
        "memory_capacity",
        "checks",
        "tables",
        "comparisons",
    }
    assert rec["quick"] is True and rec["seconds"] > 0 and script.EXPERIMENT.x64 is True
    assert rec["series"]["tau"] == 17.0 and rec["series"]["std"] > 0
    assert sorted(rec["figures"]) == sorted(
        ["prediction.png", "sweep.png", "echo_state_property.png", "memory_capacity.png"]
    )
    for name in rec["figures"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    pred = rec["prediction"]
    assert pred["horizon"] == 84 and pred["sizes"] == [50]
    res = pred["results"]["50"]
    assert set(res) == {
        "hidden",
        "connectivity",
        "one_step_ridge",
        "one_step_validation_nrmse",
        "one_step_nrmse",
        "free_run_ridge",
        "free_run_validation_median84",
        "free_run_windows",
        "free_run_starts",
        "nrmse84_median",
        "nrmse84_rms",
        "nrmse84_rms_trials",
        "example_window_start",
    }
    assert len(res["one_step_validation_nrmse"]) == len(pred["ridges"])
    assert len(res["free_run_validation_median84"]) == len(pred["ridges"])
    assert res["one_step_ridge"] in pred["ridges"] and res["free_run_ridge"] in pred["ridges"]
    assert len(res["free_run_starts"]) == res["free_run_windows"] >= 3
    assert res["example_window_start"] in res["free_run_starts"]
    assert arrays["free_run_error_50"].shape == (84,)
    assert arrays["example_prediction_50"].shape == arrays["example_target_50"].shape == (84,)
    # The validation choices are the argmins of the recorded validation scores.
    i = int(np.argmin(res["one_step_validation_nrmse"]))
    assert res["one_step_ridge"] == pred["ridges"][i]
    i = int(np.nanargmin(np.asarray(res["free_run_validation_median84"], dtype=float)))
    assert res["free_run_ridge"] == pred["ridges"][i]
    assert 0 < res["nrmse84_median"] < np.inf and 0 < res["nrmse84_rms"] < np.inf
    # the free run repeated with other reservoirs: the first trial is the main reservoir,
    # the others differ (a new draw), and the checks read their median and range
    trials = res["nrmse84_rms_trials"]
    assert len(trials) == script.SIZES["quick"]["free_run_trials"] == 2
    assert trials[0] == res["nrmse84_rms"] and trials[1] != trials[0]
    assert rec["checks"]["nrmse84_rms_median_50"] == np.median(trials)
    assert rec["checks"]["nrmse84_rms_range_50"] == [min(trials), max(trials)]

    sweep = rec["sweep"]
    grid = arrays["sweep_nrmse"]
    assert grid.shape == (len(sweep["spectral_radius"]), len(sweep["leak_rate"])) == (4, 4)
    assert np.all(np.isfinite(grid)) and sweep["best"]["one_step_nrmse"] == grid.min()

    esp = rec["echo_state_property"]
    shape = (len(esp["spectral_radius"]), 2, 2)
    assert arrays["esp_satisfied"].shape == arrays["esp_final_distance"].shape == shape
    assert arrays["esp_effective_radius"].shape == shape[:2]
    keys = {"a=1, none", "a=1, mackey-glass", "a=0.3, none", "a=0.3, mackey-glass"}
    assert set(esp["boundary"]) == set(esp["radius_3_violates"]) == keys
    assert set(esp["radius_half_satisfies"]) == keys

    mc = rec["memory_capacity"]
    cap = arrays["memory_capacity"]
    assert cap.shape == (len(mc["spectral_radius"]), len(mc["input_scaling"]))
    assert set(mc["peak"]) == {"0.1", "1"}

    assert len(rec["tables"]) == 4
    for headers, rows in rec["tables"].values():
        assert rows and all(len(r) == len(headers) for r in rows)
    # The paper comparisons: the 100- and 1000-unit reservoirs are not run at --quick.
    assert [row["ours"] for row in rec["comparisons"][:3]] == ["not measured at this size"] * 3
    violated = np.mean(list(esp["radius_3_violates"].values()))
    assert rec["checks"]["esp_radius3_violated_fraction"] == violated
    assert {e.check for e in script.EXPERIMENT.expected} == {
        "one_step_nrmse_100",
        "one_step_nrmse_1000",
        "nrmse84_rms_median_1000",
        "esp_radius3_violated_fraction",
    }
    # The returned record is what was written.
    assert returned["prediction"]["results"]["50"]["one_step_nrmse"] == res["one_step_nrmse"]


def test_physics(quick):
    _, _, rec, arrays = quick
    # A 50-unit reservoir predicts Mackey-Glass one step ahead to well under 5 % NRMSE.
    res = rec["prediction"]["results"]["50"]
    assert res["one_step_nrmse"] < 0.05
    # The free run drifts away from the chaotic series: its error grows with the horizon.
    err = arrays["free_run_error_50"]
    assert err[-10:].mean() > err[:10].mean()

    esp = rec["echo_state_property"]
    radii = np.asarray(esp["spectral_radius"])
    leaks = np.asarray(esp["leak_rate"])
    # ρ = 3 without input: the zero state is unstable, two starts never meet.
    assert esp["radius_3_violates"]["a=1, none"] and esp["radius_3_violates"]["a=0.3, none"]
    # ρ = 0.5: contracting, with or without input, at both leak rates.
    assert all(esp["radius_half_satisfies"].values())
    i3, ih = int(np.argmin(np.abs(radii - 3.0))), int(np.argmin(np.abs(radii - 0.5)))
    sat = arrays["esp_satisfied"]
    assert not sat[i3, :, 0].any() and sat[ih].all()
    # Effective radius: equal to ρ without leak, and at most 1 − a + aρ with leak a.
    eff = arrays["esp_effective_radius"]
    np.testing.assert_allclose(eff[:, 0], radii, rtol=1e-9)
    assert np.all(eff[:, 1] <= 1 - leaks[1] + leaks[1] * radii + 1e-9)
    # Without input and leak, the property fails at the first radius with ρ_eff >= 1.
    first = esp["boundary"]["a=1, none"]["first_violated"]
    assert first == radii[np.argmax(eff[:, 0] >= 1 - 1e-9)]

    # Memory capacity: positive, below Jaeger's bound N, larger near ρ = 1 than at ρ = 0.1.
    mc = rec["memory_capacity"]
    cap = arrays["memory_capacity"]
    assert np.all(cap > 0) and np.all(cap <= mc["hidden"])
    assert np.all(cap.max(axis=0) > cap[0])
