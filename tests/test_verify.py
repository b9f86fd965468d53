"""popgrad verify: table, JSON, exit code, determinism; and the result types."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from popgrad.claims import REGISTRY, Check, ClaimResult, make_battery, run
from popgrad.cli import main
from popgrad.verify import format_table, verify


def test_check_and_result():
    ok = Check("a", 1.0, "<=", 2.0)
    bad = Check("b", 3.0, "<", 2.0)
    assert ok.holds and not bad.holds and not Check("nan", float("nan"), ">=", 0.0).holds
    r = ClaimResult("k", "T", "Lemma 1", "m", (ok, bad), 5, values={"x": 1.5})
    assert not r.holds and r.worst is bad
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


def test_verify_json_is_deterministic_and_exit_code_reflects_failures(capsys):
    assert main(["verify", "--json", "--claim", "vanishing", "descent"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["verify", "--json", "--claim", "vanishing", "descent"]) == 0
    second = json.loads(capsys.readouterr().out)
    first.pop("seconds"), second.pop("seconds")
    assert first == second and first["ok"] is True
    assert [c["key"] for c in first["claims"]] == ["descent", "vanishing"]
    # Prop. 1 at n = 1 does not hold (a saddle is predicted that cannot exist): exit code 1, the numbers shown
    assert main(["verify", "--claim", "prop1_n1"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "FAILED: prop1_n1" in out and "implicitly assumes n >= 2" in out


def test_verify_states_the_sum_zero_finding_plainly(capsys):
    # 1'v* = 0 satisfies Prop. 1's condition, yet f = (1'v*)^2/(2(m+1)) = 0 at its "spurious" points
    assert main(["verify", "--claim", "prop1_sum_zero"]) == 1
    out = capsys.readouterr().out
    assert "FAILED: prop1_sum_zero" in out and "GLOBAL minimizers" in out
    (res,) = run(make_battery(0), ("prop1_sum_zero",))
    labels = [c.label for c in make_battery(0).cases]
    assert "m=4 n=3 sum_zero" in labels and res.n_points >= 1
    assert res.checks[0].holds and res.checks[1].value == 0.0 and not res.checks[1].holds


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
