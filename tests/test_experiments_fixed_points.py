"""experiments/fixed_points.py --quick: fields, consistency of the fixed points and rates."""

import numpy as np
import pytest
from _experiments import load, run_quick

fp = load("fixed_points")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return run_quick(fp, tmp_path_factory.mktemp("fixed_points"))


def test_fields_and_consistency(run):
    rec, arrays = run
    assert sorted(rec["figures"]) == ["eigenvalues.png", "state_space.png", "training.png"]
    cfg = rec["config"]
    for m in fp.MODELS:
        e = rec["results"][m]
        stable = arrays[f"stable_{m}"]
        points = arrays[f"points_{m}"]
        assert points.shape == (e["fixed"], cfg["hidden"]) and stable.shape == (e["fixed"],)
        assert e["stable"] + e["unstable"] == e["fixed"] == len(e["counts"])
        assert e["stable"] == int(stable.sum()) == len(e["memories"]) == len(e["log_rho_stable"])
        assert sum(e["counts"]) <= cfg["starts"]
        assert all(len(c) == 3 and set(c) <= {"+", "-"} for c in e["memories"])
        assert e["distinct_memories"] == len(set(e["memories"]))
        mags = arrays[f"eigenvalues_abs_{m}"]
        # stable <=> every |eigenvalue| < 1; ln ρ is the log of the largest modulus
        np.testing.assert_array_equal(stable, np.all(mags < 1.0, axis=1))
        np.testing.assert_allclose(e["log_rho_stable"], np.log(mags[stable, 0]), rtol=1e-5)
        assert np.all(np.diff(mags, axis=1) <= 1e-6)  # sorted by decreasing modulus
        profile = arrays[f"profile_{m}"]
        assert profile.shape == (cfg["length"],) and np.isfinite(e["measured_rate"])
        assert arrays[f"trajectories_{m}"].shape == (cfg["trajectories"], cfg["length"],
                                                     cfg["hidden"])  # fmt: skip
        if e["max_residual"] is not None:
            assert e["max_residual"] < 1e-10
    assert set(rec["checks"]) >= {"gru_distinct_memories", "tanh_distinct_memories"}
    assert [row["result"] for row in rec["comparisons"]] == [x.result for x in fp.EXPECTED]
