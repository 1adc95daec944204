"""experiments/gradient_flow.py --quick: the record holds its promised fields and physics."""

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        module = importlib.import_module("gradient_flow")
        out = tmp_path_factory.mktemp("gradient_flow")
        module.main(["--quick", "--out", str(out)])
    finally:
        sys.path.remove(str(EXPERIMENTS))
    data = json.loads((out / "gradient_flow.json").read_text())
    with np.load(out / "gradient_flow.npz") as arrays:
        data["_arrays"] = dict(arrays)
    data["_out"], data["_module"] = out, module
    return data


def test_record_fields_and_figures(record):
    for field in ("hidden", "length", "scales", "nonlinearities", "tables", "checks", "seconds"):
        assert field in record
    gains, arrays = len(record["scales"]), record["_arrays"]
    for name in ("tanh", "relu", "identity"):
        rec = record["nonlinearities"][name]
        for field in ("fitted_rate", "lyapunov", "log_pascanu_rate"):
            assert len(rec[field]) == gains
        assert arrays[f"{name}_log10_profile"].shape == (gains, record["length"])
    t = record["heat_length"]
    assert arrays["contribution_log10_norms"].shape == (3, t, t)
    assert sorted(record["figures"]) == ["contributions.png", "profiles.png", "rates.png"]
    for name in record["figures"]:
        assert (record["_out"] / name).stat().st_size > 10_000
    # The big arrays live in the npz: the JSON stays small.
    assert (record["_out"] / "gradient_flow.json").stat().st_size < 100_000


def test_checks_feed_the_paper_comparisons(record):
    scales, tanh = np.asarray(record["scales"]), record["nonlinearities"]["tanh"]
    g1 = int(np.argmin(np.abs(scales - 1.0)))
    assert record["checks"]["tanh_rate_at_g1"] == pytest.approx(tanh["fitted_rate"][g1])
    assert record["checks"]["tanh_sign_agreement"] == tanh["sign_agreement"]
    assert record["checks"]["tanh_resolved_gains"] == tanh["resolved_gains"]
    expected = record["_module"].EXPERIMENT.expected
    assert [row["result"] for row in record["comparisons"]] == [e.result for e in expected]
    assert record["comparisons"][1]["match"] == "yes"  # signs agree at every resolved gain


def test_vanishing_at_half_and_growth_at_one_and_a_half(record):
    scales = np.asarray(record["scales"])
    lo, hi = int(np.argmin(np.abs(scales - 0.5))), int(np.argmin(np.abs(scales - 1.5)))
    for name in ("tanh", "identity"):
        profile = record["_arrays"][f"{name}_log10_profile"]
        assert profile[lo, -1] < profile[lo, 0] - 10  # vanished by > 10 decades
    linear = record["_arrays"]["identity_log10_profile"]
    assert linear[hi, -1] > linear[hi, 0] + 5  # exploded
    tanh_rate = np.asarray(record["nonlinearities"]["tanh"]["fitted_rate"], dtype=float)
    assert tanh_rate[hi] > tanh_rate[lo] + 0.4


def test_rate_and_lyapunov_agree_in_sign_where_resolved(record):
    """The backward gradient rate and the forward λ₁ agree in sign wherever resolved."""
    band = record["marginal_band"]
    for name in ("tanh", "identity"):
        rec = record["nonlinearities"][name]
        rate = np.asarray(rec["fitted_rate"], dtype=float)
        lyap = np.asarray(rec["lyapunov"], dtype=float)
        resolved = (np.abs(rate) > band) | (np.abs(lyap) > band)
        assert resolved.sum() == rec["resolved_gains"] > len(rate) // 2
        np.testing.assert_array_equal(np.sign(rate[resolved]), np.sign(lyap[resolved]))
        assert rec["sign_agreement"] == 1.0


def test_linear_rate_is_log_spectral_radius_and_matches_lyapunov(record):
    linear = record["nonlinearities"]["identity"]
    rate = np.asarray(linear["fitted_rate"], dtype=float)
    lyap = np.asarray(linear["lyapunov"], dtype=float)
    np.testing.assert_allclose(rate, lyap, atol=0.02)
    # Pascanu's rate ln(‖W‖₂ γ) bounds the growth rate from above at every gain.
    assert np.all(rate <= np.asarray(linear["log_pascanu_rate"], dtype=float) + 1e-6)


def test_report_assembles_identities_and_paper_rows(record, tmp_path):
    """report.py --reuse builds REPORT.md from the quick gradient_flow record."""
    import shutil

    shutil.copytree(record["_out"], tmp_path / "gradient_flow")
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        report = importlib.import_module("report")
        result = report.main(["--reuse", "--only", "gradient_flow", "--out", str(tmp_path)])
    finally:
        sys.path.remove(str(EXPERIMENTS))
    text = (tmp_path / "REPORT.md").read_text()
    head = "| result (paper) | task variant | size (ours) | paper | ours [interval] | match? |"
    assert head + " what differs |" in text
    assert "reused records: gradient_flow (quick)" in text  # a reused record keeps its size
    assert "![gradient_flow: profiles](gradient_flow/profiles.png)" in text
    # The identities are computed, not copied: each must match.
    assert [row["match"] for row in result["identities"]] == ["yes", "yes", "yes"]
    assert any("edge of chaos" in row["result"] for row in result["paper_rows"])


def test_meanfield_column_and_finite_size_edge(record):
    """The theory beside the measurement: ln g below the edge (q* = 0, χ₁ = g²), the
    edge at g = 1, and the finite W0's own edge 1/ρ(W0) where λ₁ = ln(g ρ)."""
    scales, mf = np.asarray(record["scales"]), record["meanfield"]
    below = scales < 1.0
    np.testing.assert_allclose(np.asarray(mf["tanh_rate"])[below], np.log(scales[below]),
                               rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(mf["identity_rate"], np.log(scales), rtol=1e-12)
    assert np.all(np.asarray(mf["tanh_rate"])[scales > 1.05] > 0)  # chaos above the edge
    assert mf["critical_gain"] == pytest.approx(1.0, rel=1e-7)
    assert mf["finite_size_edge"] == pytest.approx(1.0 / mf["spectral_radius_W0"])
    lam = np.asarray(record["nonlinearities"]["tanh"]["lyapunov"])
    stable = scales < 0.95 / mf["spectral_radius_W0"]
    dev = np.max(np.abs(lam[stable] - np.log(scales[stable] * mf["spectral_radius_W0"])))
    assert dev == pytest.approx(mf["stable_max_abs_lyapunov_minus_ln_g_rho"]) and dev < 0.01
    assert record["checks"]["stable_lyapunov_minus_ln_g_rho"] == pytest.approx(dev)
    (title,) = [t for t in record["tables"] if t.startswith("Edge of chaos")]
    assert record["tables"][title][0][0] == "MF edge"
    headers = next(iter(record["tables"].values()))[0]
    assert "mean-field" in headers
