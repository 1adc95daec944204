"""The experiments' shared runner: a paper comparison's row (no compiles)."""

import math

from _experiments import load

_runner = load("_runner")


def _expect(**kw):
    args = dict(result="LSTM at T = 100 (Arjovsky et al. 2016)", paper="solves", check="rate")
    return _runner.Expect(**{**args, "op": ">=", "bound": 0.8, "fmt": "{:.0%}", **kw})


def test_row_has_every_field_in_the_report_order():
    row = _expect(variant="arjovsky", size="H = 32", differs="Adam", interval="ci").row(
        {"rate": 0.8, "ci": [0.376, 0.964]}
    )
    assert list(row) == list(_runner.ROW_FIELDS)
    assert row["ours"] == "80% [38%, 96%]" and row["match"] == "yes"
    assert (row["variant"], row["size"], row["differs"]) == ("arjovsky", "H = 32", "Adam")


def test_row_says_what_failed_and_what_is_missing():
    assert _expect().row({"rate": 0.6})["match"] == "no (>= 0.8)"
    assert _expect().row({"rate": math.nan})["match"].startswith("no")
    missing = _expect(interval="ci").row({})
    assert (missing["ours"], missing["match"]) == ("not measured at this size", "?")
    # an interval that was not recorded is left out, the value still reported
    assert _expect(interval="ci").row({"rate": 1.0})["ours"] == "100%"
