"""popgrad verify: table, JSON, exit code, determinism; and the result types."""

from __future__ import annotations

import itertools
import json
from typing import NamedTuple

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


def test_sum_zero_finding_numbers(seed0):
    # 1'v* = 0 satisfies Prop. 1's condition, yet f = (1'v*)^2/(2(m+1)) = 0 at its "spurious" points
    res = seed0["prop1_sum_zero"]
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


# --- golden worst values at seed 0 ---------------------------------------------------------------------------
#
# The number each row of `popgrad verify` prints (its worst check: the headline, or the first failing one), pinned
# at seed 0.  Where the number follows from reasoning, the test derives it independently (below); where it cannot
# -- a Monte Carlo z-score, the minimum over sampled directions, a ratio of rounding errors -- it is a REGRESSION
# PIN: copied from this code's output at the commit that introduced it, and it proves only that nothing changed.
#
# Tolerances.  Everything is deterministic given the seed (numpy's SeedSequence/PCG64 streams and its Gaussian,
# gamma and uniform samplers give the same draws on every platform).  What a platform can change is rounding:
# BLAS (matmul, einsum), numpy's SIMD sin/cos/exp, summation order -- a few ulps per operation.  A z-score
# (X_bar - x) / se moves then by ~ eps log2(N) sqrt(N) ~ 1e-12 (N = 1e5 samples); a closed-form quantity by
# ulps of its terms; so "rel=1e-9" leaves a factor >= 1e3.  A z-score could move by ~ 1/sqrt(N) ~ 3e-3 only if
# rounding flipped the sign of some z'w, probability ~ N m eps ~ 1e-10 per point.  The exceptions are stated where
# they are pinned (a ratio that IS rounding error; an iteration count of the dynamics).


class Golden(NamedTuple):
    status: str
    value: float
    rel: float = 0.0
    abs: float = 0.0
    why: str = ""


EPS = float(np.finfo(float).eps)
GOLDEN = {
    "formulas": Golden(
        "PASS", 2.6014308672009707, rel=1e-9, why="regression pin: max |z| of 316 Monte Carlo components"
    ),
    "prop1_n1": Golden("REFUTED", 1.0, why="derived: test_golden_prop1_n1_counts_the_predicted_saddle"),
    "critical_points": Golden(
        "PASS",
        0.5562346126408713,
        rel=1e-9,
        why="regression pin: min of (f(x + d) - f(x))/rho^2 over 64 sampled directions, attained at rho = 1e-2, "
        "where a loss difference loses 4 of 16 digits (rounding moves it by ~1e-13 relative)",
    ),
    "prop1_sum_zero": Golden(
        "REFUTED",
        0.0,
        abs=16 * EPS,
        why="derived: f = (1'v*)^2/(2(m+1)) = 0 exactly when 1'v* = 0 (float64 gives 0.0 here; a different "
        "summation order could leave a few ulps of |v*|^2: 16 eps, 60x tighter than the row's own bound 1e3 eps)",
    ),
    "prop1_spurious": Golden(
        "PASS",
        0.0020219645913374428,
        rel=1e-12,
        why="derived (test_golden_prop1_spurious_is_the_formula) from the battery's teacher m=8 n=2; "
        "the literal number pins the battery",
    ),
    "correlation": Golden(
        "PASS",
        0.005865345250394578,
        rel=3.0,
        why="regression pin of rounding noise: |<E g, df/dw> - paper's value| is a few ulps, divided by the row's "
        "rounding bound; another libm or BLAS changes which ulps (a factor < 2 expected), hence the band "
        "[value/4, 4 value] -- which still catches the tolerance loosened 100x (issue 15: 64 -> 6400 gives 5.9e-5). "
        "It was 0.0668 before the plane's u was computed by the compensated path for sin(theta) < 0.25 (it was "
        "< 0.01): the paper's side and popgrad's now differ by fewer ulps",
    ),
    "descent": Golden("PASS", 0.0, why="derived: the claim holds, no point fails to descend"),
    "vanishing": Golden(
        "PASS",
        -0.9999248493187558,
        rel=1e-9,
        why="regression pin of a closed-form slope; the analysis predicts -1 (test_golden_vanishing_slope...)",
    ),
    "convergence": Golden("PASS", 0.0, why="derived: the claim holds, every run converges"),
    "finite_samples": Golden(
        "PASS", 9.653117079786082, rel=1e-9, why="regression pin: z of the decrease of the mean upward share"
    ),
    "remark2": Golden("PASS", 2.315054014677688, rel=1e-9, why="regression pin: max |z| of Monte Carlo with t rows"),
    "leaky_relu": Golden("PASS", 2.815001337070333, rel=1e-9, why="regression pin: max |z| of Monte Carlo"),
    "staircase": Golden("PASS", 2.3490924588106483, rel=1e-9, why="regression pin: max |z| of Monte Carlo"),
}


def test_every_row_with_a_number_has_a_golden_value():
    assert set(GOLDEN) == {spec.key for spec in REGISTRY}


@pytest.mark.parametrize("key", sorted(GOLDEN))
def test_golden_worst_value_at_seed_0(key, seed0):
    golden, result = GOLDEN[key], seed0[key]
    assert result.status == golden.status
    value = result.worst.value
    if key == "correlation":  # a band, see its note
        assert golden.value / (1 + golden.rel) <= value <= golden.value * (1 + golden.rel), value
    else:
        assert value == pytest.approx(golden.value, rel=golden.rel, abs=golden.abs), (value, golden.why)


def test_golden_values_are_the_ones_printed(seed0):
    table = format_table(list(seed0.values()))
    for key, golden in GOLDEN.items():
        row = next(line for line in table.splitlines() if line.startswith(key + " "))
        assert f"{golden.value:.4g}" in row and golden.status in row


def test_golden_prop1_n1_counts_the_predicted_saddle():
    # the default battery's one n = 1 teacher (m = 3, "mixed": drawn until Prop. 1's condition holds); the condition
    # (m+1)/2 |v*|^2 - (1'v*)^2 > 0 makes Prop. 1 predict a saddle at theta_s = (pi/2)(m+1)|v*|^2/((m+1)|v*|^2 -
    # (1'v*)^2), an interior angle no w in R^1 has: one disagreement
    n1 = [c.model.v_star for c in make_battery(0).cases if c.model.n == 1]
    assert len(n1) == 1
    (v,) = n1
    m, s, nn = v.size, float(v.sum()), float(v @ v)
    assert 0.5 * (m + 1) * nn - s * s == pytest.approx(10.756, abs=1e-3)
    theta_s = 0.5 * np.pi * (m + 1) * nn / ((m + 1) * nn - s * s)
    assert 0 < theta_s < np.pi and theta_s / np.pi == pytest.approx(0.519, abs=1e-3)


def test_golden_prop1_spurious_is_the_formula(seed0):
    # f/|v*|^2 = (1'v*)^2/(2(m+1)|v*|^2) at theta = pi, v0 (derivations/proposition1.md), smallest over the teachers
    # with n >= 2, 1'v* != 0 and Prop. 1's condition; the row computes it with Model.loss
    values = []
    for c in make_battery(0).cases:
        v = c.model.v_star
        m, s, nn = v.size, float(v.sum()), float(v @ v)
        if c.model.n >= 2 and s != 0 and 0.5 * (m + 1) * nn - s * s > 0:
            values.append(s * s / (2 * (m + 1) * nn))
    # the row's own bound on |Model.loss - formula| is 1e3 eps |v*|^2: 1.1e-10 of this value
    assert seed0["prop1_spurious"].worst.value == pytest.approx(min(values), rel=1e-10)


def test_golden_vanishing_slope_is_minus_one(seed0):
    # along theta = pi - t the identity ratio is |E g_id|^2 / (c t + O(t^2)): slope -1 + O(t/tau) for t <= 1e-3 tau
    assert abs(seed0["vanishing"].worst.value + 1) <= 1e-3


def test_golden_convergence_counts(seed0):
    # regression pins, quoted in README.md and docs/claims.md: 144 runs, w collapses in 43 of them.  Iterated dynamics:
    # another platform's rounding could flip a run that passes within rounding of w = 0 (none is that close here:
    # the smallest |w| of a run that does not collapse, min_|w|_without_collapse, is 0.115)
    values = seed0["convergence"].values
    assert values["runs"] == 144 and values["runs_w_collapse (Thm 1 assumption violated)"] == 43


def test_verify_mc_options_are_checked():
    """Only how the claims' Monte Carlo runs may be set, not what it computes."""
    with pytest.raises(ValueError, match="mc_options may set only"):
        make_battery(0, False, {"seed": 3})
    with pytest.raises(TypeError, match="mc_options must be a dict"):
        make_battery(0, False, [("workers", 2)])
    assert make_battery(0, False, {"workers": 2}).mc_options == {"workers": 2}
