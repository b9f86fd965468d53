"""popgrad verify: table, JSON, exit code, determinism; and the result types."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from popgrad.claims import REGISTRY, Check, ClaimResult, make_battery, run
from popgrad.cli import main
from popgrad.verify import exit_status, format_table, summary_line, verify


def test_check_and_result():
    ok = Check("a", 1.0, "<=", 2.0)
    bad = Check("b", 3.0, "<", 2.0)
    assert ok.holds and not bad.holds and not Check("nan", float("nan"), ">=", 0.0).holds
    r = ClaimResult("k", "T", "Lemma 1", "m", (ok, bad), 5, values={"x": 1.5})
    assert not r.holds and r.worst is bad and r.status == "FAIL"
    d = r.to_dict()
    assert d["worst"]["name"] == "b" and d["values"] == {"x": 1.5} and "points" not in d
    with pytest.raises(ValueError, match="op"):
        Check("c", 1.0, "=>", 2.0)
    table = format_table([r])
    assert "FAIL" in table and "Lemma 1" in table and "b = 3 (needs < 2)" in table


def test_battery_is_deterministic_and_seeded():
    a, b, c = make_battery(0), make_battery(0), make_battery(1)
    assert all(np.array_equal(x.v, y.v) and np.array_equal(x.w, y.w) for x, y in zip(a.cases, b.cases, strict=True))
    assert not np.array_equal(a.cases[0].v, c.cases[0].v)
    assert {x.model.n for x in a.cases} >= {1, 2} and {x.model.m for x in a.cases} >= {1}


def test_run_rejects_unknown_claims():
    with pytest.raises(ValueError, match="unknown claim"):
        run(make_battery(0), ("nope",))
    keys = [spec.key for spec in REGISTRY]
    assert keys[0] == "formulas" and {"finite_samples", "remark2", "prop1_sum_zero"} <= set(keys)


def test_verify_json_is_deterministic(capsys):
    assert main(["verify", "--json", "--claim", "vanishing", "descent"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["verify", "--json", "--claim", "vanishing", "descent"]) == 0
    second = json.loads(capsys.readouterr().out)
    first.pop("seconds"), second.pop("seconds")
    assert first == second and first["ok"] is True and first["exit_status"] == 0
    assert [c["key"] for c in first["claims"]] == ["descent", "vanishing"]
    assert [c["status"] for c in first["claims"]] == ["PASS", "PASS"]


# --- statuses: PASS, FAIL, REFUTED -------------------------------------------------------------------


def _refutation(value: float, n_points: int = 2) -> ClaimResult:
    """A synthetic refuted claim: its check confirms the counterexample while value >= 1."""
    check = Check("teachers where the statement fails", value, ">=", 1)
    return ClaimResult("x", "X as written", "Prop. 0", "search", (check,), n_points, expect="refuted", corrected_by="y")


def _corrected() -> ClaimResult:
    return ClaimResult("y", "X corrected", "Prop. 0", "search", (Check("a", 1.0, "<=", 2.0),), 2)


def _failing() -> ClaimResult:
    return ClaimResult("z", "Z", "Lemma 0", "m", (Check("b", 3.0, "<", 2.0),), 2)


def test_status_of_refuted_claims():
    assert _refutation(3.0).status == "REFUTED"
    # the counterexample stopped being one: a defect to understand, not a finding
    assert _refutation(0.0).status == "FAIL"
    assert _refutation(float("nan")).status == "FAIL"
    # a refutation with no point checked has no counterexample
    assert _refutation(3.0, n_points=0).status == "FAIL"
    assert _corrected().status == "PASS" and _failing().status == "FAIL"
    assert ClaimResult("y", "Y", "R", "m", _corrected().checks, 0).status == "n/a"
    d = _refutation(3.0).to_dict()
    assert d["status"] == "REFUTED" and d["expect"] == "refuted" and d["corrected_by"] == "y"
    assert d["checks_hold"] is True and "holds" not in d
    assert _corrected().to_dict()["corrected_by"] is None


def test_expect_is_validated():
    checks = (Check("a", 1.0, "<=", 2.0),)
    with pytest.raises(ValueError, match="expect must be one of"):
        ClaimResult("k", "T", "R", "m", checks, 1, expect="false")
    with pytest.raises(ValueError, match="corrected_by must name"):
        ClaimResult("k", "T", "R", "m", checks, 1, expect="refuted")
    with pytest.raises(ValueError, match="corrected_by must name"):
        ClaimResult("k", "T", "R", "m", checks, 1, corrected_by="z")


def test_exit_status_and_summary():
    assert exit_status([_refutation(3.0), _corrected()]) == 0
    assert exit_status([_refutation(3.0), _corrected()], strict=True) == 1
    assert exit_status([_corrected(), _failing()]) == 1 and exit_status([_corrected()], strict=True) == 0
    assert exit_status([_refutation(0.0), _corrected()]) == 1
    assert summary_line([_refutation(3.0), _corrected()]) == "1 PASS, 1 REFUTED (x), 0 FAIL: exit status 0"
    assert summary_line([_failing()], strict=True) == "0 PASS, 0 REFUTED, 1 FAIL (z): exit status 1"
    table = format_table([_refutation(3.0), _corrected()])
    assert "REFUTED" in table and "corrected statement: y (X corrected)" in table


@pytest.fixture
def synthetic_registry(monkeypatch):
    """The registry replaced by synthetic claims: a refutation (``state["counterexample"] >= 1`` confirms
    it), its corrected statement, and a claim that fails."""
    import popgrad.claims as claims

    state = {"counterexample": 3.0}
    specs = (
        claims.ClaimSpec("x", lambda battery: _refutation(state["counterexample"])),
        claims.ClaimSpec("y", lambda battery: _corrected()),
        claims.ClaimSpec("z", lambda battery: _failing()),
    )
    monkeypatch.setattr(claims, "REGISTRY", specs)
    return state


def test_cli_exit_codes_on_synthetic_claims(synthetic_registry, capsys):
    assert main(["verify", "--claim", "x", "y"]) == 0
    out = capsys.readouterr().out
    assert "REFUTED" in out and "1 PASS, 1 REFUTED (x), 0 FAIL: exit status 0" in out
    assert main(["verify", "--claim", "x", "y", "--strict"]) == 1
    assert "(--strict: REFUTED counts)" in capsys.readouterr().out
    assert main(["verify", "--claim", "y", "z"]) == 1
    assert main(["verify", "--claim", "y"]) == 0 and main(["verify", "--claim", "y", "--strict"]) == 0
    synthetic_registry["counterexample"] = 0.0  # the counterexample stops being one
    capsys.readouterr()
    assert main(["verify", "--claim", "x", "y"]) == 1
    assert "1 PASS, 0 REFUTED, 1 FAIL (x): exit status 1" in capsys.readouterr().out


def test_cli_json_carries_status_and_exit_status(synthetic_registry, capsys):
    assert main(["verify", "--json", "--claim", "x", "y", "--strict"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["strict"] is True and data["exit_status"] == 1
    assert data["counts"] == {"PASS": 1, "REFUTED": 1, "FAIL": 0, "n/a": 0}
    assert {c["key"]: c["status"] for c in data["claims"]} == {"x": "REFUTED", "y": "PASS"}
    assert main(["verify", "--json", "--claim", "x", "y"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["strict"] is False and data["exit_status"] == 0
    assert main(["verify", "--json", "--claim", "x", "y", "z"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["exit_status"] == 1 and data["counts"]["FAIL"] == 1


def test_registry_order_of_refutations_is_enforced(monkeypatch):
    import popgrad.claims as claims

    monkeypatch.setattr(claims, "REGISTRY", (claims.ClaimSpec("x", lambda battery: _refutation(3.0)),))
    with pytest.raises(RuntimeError, match="registered right after it"):
        run(make_battery(0))
    monkeypatch.setattr(claims, "REGISTRY", (claims.ClaimSpec("q", lambda battery: _corrected()),))
    with pytest.raises(RuntimeError, match="keyed 'y'"):
        run(make_battery(0))


# --- the paper's findings, through the CLI -----------------------------------------------------------


def test_prop1_findings_are_refuted_and_their_corrections_pass(capsys):
    keys = ["prop1_n1", "critical_points", "prop1_sum_zero", "prop1_spurious"]
    assert main(["verify", "--claim", *keys]) == 0
    out = capsys.readouterr().out
    assert "2 PASS, 2 REFUTED (prop1_n1, prop1_sum_zero), 0 FAIL: exit status 0" in out
    assert "implicitly assumes n >= 2" in out and "GLOBAL minimizers" in out
    assert "corrected statement: critical_points (Prop. 1 for n >= 2" in out
    assert main(["verify", "--claim", *keys, "--strict"]) == 1
    capsys.readouterr()
    assert main(["verify", "--json", "--claim", *keys]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(c["key"], c["status"], c["corrected_by"]) for c in data["claims"]] == [
        ("prop1_n1", "REFUTED", "critical_points"),
        ("critical_points", "PASS", None),
        ("prop1_sum_zero", "REFUTED", "prop1_spurious"),
        ("prop1_spurious", "PASS", None),
    ]


def test_sum_zero_finding_numbers():
    # 1'v* = 0 satisfies Prop. 1's condition, yet f = (1'v*)^2/(2(m+1)) = 0 at its "spurious" points
    (res,) = run(make_battery(0), ("prop1_sum_zero",))
    labels = [c.label for c in make_battery(0).cases]
    assert "m=4 n=3 sum_zero" in labels and res.n_points >= 1
    assert res.status == "REFUTED" and res.checks[0].value >= 1 and res.checks[1].value == 0.0


def test_verify_report_api():
    rep = verify(seed=2, keys=("vanishing",))
    assert rep.ok and rep.seed == 2 and len(rep.results) == 1 and rep.seconds > 0
    claim = rep.to_dict(points=True)["claims"][0]
    assert claim["key"] == "vanishing" and len(claim["points"]["v_star"]) == len(rep.teachers)


def test_descend_cli(capsys):
    args = ["descend", "--v-star", "1,-1,0.5", "--w-star", "1,0", "--ste", "clipped_relu", "--every", "100"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "stopped: converged" in out
    assert main([*args, "--json", "--v", "0.1,0.1,0.1", "--w", "1,1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["reason"] == "converged" and data["steps"][0]["v"] == [0.1, 0.1, 0.1]
    assert all(a["loss"] >= b["loss"] for a, b in itertools.pairwise(data["steps"]))
    assert main(["descend", "--v-star", "1,1", "--w-star", "0,0"]) == 2
