"""experiments/memory_curse.py --quick: fields, the 1-D picture against closed forms, physics.

The script runs in-process once (its float32; the suite's float64 is restored after).
The 1-D theory arrays are checked against the paper's formulas written out here in
NumPy, the Monte Carlo points against the exact finite-length value through their
standard errors, and the success counts against the per-seed test losses.
"""

import math

import numpy as np
import pytest
from _experiments import load, run_quick

import rnngrad as rg

mc = load("memory_curse")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    record, arrays = run_quick(mc, tmp_path_factory.mktemp("memory_curse"))
    return record, record, arrays


def test_picture_theory_is_the_papers_closed_form(run):
    _, rec, arrays = run
    lam, rho = arrays["lam"], arrays["rho"]
    assert list(rho) == list(mc.RHOS) and np.all(np.diff(lam) > 0) and lam[-1] < 1
    lam2, r = lam[None, :], rho[:, None]
    # Zucchet & Orvieto (2024), section 2, for real λ and AR(1) inputs.
    var = (1 + lam2 * r) / ((1 - lam2**2) * (1 - lam2 * r))
    sens = ((1 + lam2**2) * (1 - lam2**2 * r**2) + 2 * lam2 * r * (1 - lam2**2)) / (
        (1 - lam2**2) ** 3 * (1 - lam2 * r) ** 2
    )
    np.testing.assert_allclose(arrays["theory_variance"], var, rtol=1e-4)
    np.testing.assert_allclose(arrays["theory_sensitivity"], sens, rtol=1e-4)
    gamma2 = 1 - lam2**2
    np.testing.assert_allclose(arrays["theory_variance_normalised"], gamma2 * var, rtol=1e-4)
    np.testing.assert_allclose(arrays["theory_sensitivity_normalised"], gamma2 * sens, rtol=1e-4)
    nu = (lam2 * np.log(lam2)) ** 2 * gamma2 * sens
    np.testing.assert_allclose(arrays["theory_sensitivity_nu"], nu, rtol=1e-4)
    # The finite-length values: the exact double sums at the script's T.
    t = rec["picture"]["length"]
    k = np.arange(t)
    for i, rho_i in enumerate(rho):
        corr = rho_i ** np.abs(k[:, None] - k[None, :])
        for j, lam_j in enumerate(lam):
            powers, weights = lam_j**k, k * lam_j ** np.maximum(k - 1, 0)
            var_ij, sens_ij = powers @ corr @ powers, weights @ corr @ weights
            assert arrays["theory_finite_variance"][i, j] == pytest.approx(var_ij, rel=1e-4)
            assert arrays["theory_finite_sensitivity"][i, j] == pytest.approx(sens_ij, rel=1e-4)


def test_monte_carlo_points_agree_with_the_exact_value(run):
    _, rec, arrays = run
    pic = rec["picture"]
    z = (
        np.abs(arrays["measured_sensitivity"] - arrays["theory_finite_sensitivity"])
        / arrays["measured_sensitivity_se"]
    )
    np.testing.assert_allclose(z, pic["z_sensitivity"], rtol=1e-6)
    assert pic["max_z_variance"] < 4.5 and pic["max_z_sensitivity"] < 4.5
    assert np.all(arrays["measured_variance_se"] > 0)
    # The normalised points are the γ²-scaled ones (γ a fixed factor of the input).
    gamma2 = 1 - arrays["lam"] ** 2
    np.testing.assert_allclose(
        arrays["measured_sensitivity_normalised"], gamma2 * arrays["measured_sensitivity"]
    )


def test_picture_slopes_and_comparisons(run):
    returned, rec, _ = run
    slopes = rec["picture"]["slopes_rho0"]
    # At the quick sizes' 1 - λ = 0.05 the local slopes are within 0.05 of the exponents.
    assert slopes["sensitivity"] == pytest.approx(-3, abs=0.05)
    assert slopes["variance"] == pytest.approx(-1, abs=0.05)
    assert slopes["sensitivity_normalised"] == pytest.approx(-2, abs=0.05)
    assert abs(slopes["variance_normalised"]) < 1e-3  # ρ = 0: γ² E[h²] = 1 exactly
    assert abs(slopes["sensitivity_nu"]) < 0.2
    checks = rec["checks"]
    assert checks["sensitivity_slope_minus_-3"] == pytest.approx(slopes["sensitivity"] + 3)
    rows = {row["result"]: row for row in rec["comparisons"]}
    assert len(rows) == len(mc.EXPECTED) and all(len(r) == 7 for r in rows.values())
    assert rows["Monte Carlo = exact finite-T value"]["match"] == "yes"
    assert returned["checks"] == checks


def test_learning_fields_and_success_counts(run):
    _, rec, arrays = run
    seeds, lengths = rec["config"]["seeds"], rec["config"]["lengths"]
    assert set(rec["results"]) == set(mc.TASKS)
    cfg = mc.SIZES["quick"]
    ran = {(t, m, n) for t in mc.TASKS for n in lengths for m in mc.planned(cfg, t, n)}
    # the quick size narrows its longer T to two models on one task, as the full size
    assert (("copy", "lru", max(lengths)) not in ran) and ("adding", "lru", max(lengths)) in ran
    assert len(ran) == len(mc.TASKS) * len(mc.MODELS) + 2
    for task_name in mc.TASKS:
        for model in mc.MODELS:
            assert set(rec["results"][task_name][model]) == {
                str(n) for n in lengths if (task_name, model, n) in ran
            }
            for length in [n for n in lengths if (task_name, model, n) in ran]:
                e = rec["results"][task_name][model][str(length)]
                assert len(e["test_loss"]) == len(e["success"]) == seeds
                if task_name == "adding":
                    assert e["success"] == [v < mc.MSE_THRESHOLD for v in e["test_loss"]]
                    assert e["baseline_loss"] == pytest.approx(1 / 6)
                else:
                    assert e["baseline_loss"] == pytest.approx(math.log(8))
                    # solved (< 1 % wrong symbols) implies a small error rate
                    for ok, err in zip(e["success"], e["test_error_rate"]):
                        assert not ok or err < 0.01
                assert e["success_rate"] == pytest.approx(sum(e["success"]) / seeds)
                lo, hi = e["success_95ci"]
                assert 0.0 <= lo <= e["success_rate"] <= hi <= 1.0
                assert 0 <= e["stuck"] <= seeds - sum(e["success"])
                assert e["seconds"] > 0 and e["steps"] == rec["config"]["steps"][str(length)]
                curve = arrays[f"loss_curve_{task_name}_{model}_T{length}"]
                assert curve.shape[0] == seeds
    gap = rec["gaps"][f"lru_adding_T{max(lengths)}"]
    lru = rec["results"]["adding"]["lru"][str(max(lengths))]
    assert gap["successes"] == sum(lru["success"])
    assert gap["seeds_short"] == max(0, math.ceil(0.8 * seeds) - sum(lru["success"]))
    assert sorted(rec["figures"]) == sorted(
        ["memory_curse.png", "success.png", "lag_profiles.png", "training.png"]
    )


def test_initial_lag_profiles(run):
    _, rec, arrays = run
    length = min(rec["config"]["lengths"])  # every model and task
    assert arrays[f"profile_adding_T{max(rec['config']['lengths'])}"].shape[0] == 2
    assert f"profile_copy_T{max(rec['config']['lengths'])}" not in arrays
    adding = arrays[f"profile_adding_T{length}"]
    copy = arrays[f"profile_copy_T{length}"]
    task = rg.CopyTask.from_delay(length)
    assert adding.shape == (len(mc.MODELS), length)
    assert copy.shape == (len(mc.MODELS), task.length - task.pattern_length + 1)
    assert np.all(np.abs(adding[:, 0]) < 1e-5) and np.all(np.abs(copy[:, 0]) < 1e-5)
    prof = dict(zip(mc.MODELS, adding))
    # The LRU's ring |λ| >= 0.9 keeps the far past within a factor 0.9^d; minGRU's
    # gates start half open (a ≈ 0.5 a step) and lose it.
    assert prof["lru"][-1] > length * math.log10(0.9) - 0.5
    assert prof["lru"][-1] > prof["mingru"][-1] + 1.0
    far = mc.far_lag(rg.AddingTask(length))
    assert rec["lag_profiles"][f"adding_T{length}"]["lru"] == pytest.approx(prof["lru"][far])
