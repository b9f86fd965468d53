"""The command line prints what the Python API computes, row by row: each STE's row holds that STE's
numbers (a row printed under another STE's name fails here), and the table agrees with --json to
the printed precision.  STEs are requested in an order that is neither their default order nor sorted
(either way), so that a positional mix-up -- or rows printed in sorted order under names in another --
cannot pass."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest

import popgrad as pg
from popgrad.dynamics import descend
from popgrad.families import ste_families
from tests._cli import POINT, run

V_STAR, W_STAR, V, W = [1, -0.5, 2], [1, 0, 0], [0.3, 1, -0.7], [0.2, 1, -0.4]
STES = ["relu", "clipped_relu", "identity"]
PRINTED = {"rel": 1e-5, "abs": 1e-6}  # %.6g and %.6f round to within these


def _floats(text: str) -> list[float]:
    """The numbers of ``"[ 0.1, -2e-05, 3]"``."""
    return [float(t) for t in text.strip().strip("[]").split(",")]


def _run_ok(*argv: str) -> str:
    code, out, err = run(*argv)
    assert code == 0 and err == "", err
    return out


def _distinct(rows: list[list[float]]) -> None:
    """The rows differ pairwise, so a row under the wrong name is detectable at this point."""
    for i in range(len(rows)):
        for j in range(i):
            assert not np.allclose(rows[i], rows[j], rtol=1e-3), (i, j)


def test_eval_rows_are_the_models_numbers_for_each_ste() -> None:
    model = pg.Model(V_STAR, W_STAR)
    data = json.loads(_run_ok("eval", *POINT, "--ste", *STES, "--json"))
    gv, gw = model.grad(V, W)
    assert data["theta"] == float(model.theta(W)) and data["loss"] == float(model.loss(V, W))
    assert data["grad_v"] == gv.tolist() and data["grad_w"] == gw.tolist()
    assert list(data["ste"]) == STES
    for name in STES:
        row = data["ste"][name]
        c = model.correlation(V, W, ste=name)
        assert row["coarse_grad_w"] == model.coarse_grad(V, W, ste=name)[1].tolist(), name
        assert (row["inner_w"], row["cos_w"], row["cos"]) == (float(c.inner_w), float(c.cos_w), float(c.cos)), name
    _distinct([[*r["coarse_grad_w"], r["inner_w"], r["cos_w"]] for r in data["ste"].values()])

    table = _run_ok("eval", *POINT, "--ste", *STES).splitlines()
    theta = re.fullmatch(r"theta\s+(\S+) rad \((\S+) deg\)", table[0])
    assert float(theta[1]) == pytest.approx(data["theta"], rel=1e-11)
    assert float(theta[2]) == pytest.approx(np.degrees(data["theta"]), **PRINTED)
    assert float(table[1].split()[-1]) == pytest.approx(data["loss"], rel=1e-11)
    assert _floats(table[2].removeprefix("df/dv")) == pytest.approx(data["grad_v"], **PRINTED)
    assert _floats(table[3].removeprefix("df/dw")) == pytest.approx(data["grad_w"], **PRINTED)
    rows = [re.fullmatch(r"(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\[.*\])", line) for line in table[6:]]
    assert [r[1] for r in rows] == STES
    for r in rows:
        want = data["ste"][r[1]]
        assert [float(r[2]), float(r[3]), float(r[4])] == pytest.approx(
            [want["inner_w"], want["cos_w"], want["cos"]], **PRINTED
        ), r[1]
        assert _floats(r[5]) == pytest.approx(want["coarse_grad_w"], **PRINTED), r[1]


def test_mc_rows_are_the_api_estimates_and_closed_forms() -> None:
    args = [*POINT, "--ste", *STES, "--n-samples", "3000", "--seed", "5", "--method", "projected"]
    data = json.loads(_run_ok("mc", *args, "--json"))
    model = pg.Model(V_STAR, W_STAR)
    mc = pg.monte_carlo(model, V, W, ste=STES, n_samples=3000, seed=5, method="projected")
    gv, gw = model.grad(V, W)
    first = mc[STES[0]]
    want = {"loss": (first.loss, [float(model.loss(V, W))]), "grad_v": (first.grad_v, gv), "grad_w": (first.grad_w, gw)}
    want |= {f"coarse_grad_w[{s}]": (mc[s].coarse_grad_w, model.coarse_grad(V, W, ste=s)[1]) for s in STES}
    assert [q["quantity"] for q in data["quantities"]] == list(want)
    for q in data["quantities"]:
        est, ref = want[q["quantity"]]
        assert q["estimate"] == np.atleast_1d(est.value).tolist(), q["quantity"]
        assert q["stderr"] == np.atleast_1d(est.error).tolist(), q["quantity"]
        assert q["closed_form"] == np.atleast_1d(ref).tolist(), q["quantity"]
        assert q["z"] == np.atleast_1d(est.z(np.reshape(ref, np.shape(est.value)))).tolist(), q["quantity"]
    _distinct([want[f"coarse_grad_w[{s}]"][1] for s in STES])
    assert data["max_abs_z"] == max(abs(z) for q in data["quantities"] for z in q["z"])

    table = _run_ok("mc", *args).splitlines()[2:]
    expected = [
        (q["quantity"] if len(q["estimate"]) == 1 else f"{q['quantity']}[{k}]", e, se, c, z)
        for q in data["quantities"]
        for k, (e, se, c, z) in enumerate(zip(q["estimate"], q["stderr"], q["closed_form"], q["z"], strict=True))
    ]
    assert len(table) == len(expected)
    for line, (label, e, se, c, z) in zip(table, expected, strict=True):
        got = line.split()
        assert got[0] == label
        assert [float(got[1]), float(got[3])] == pytest.approx([e, c], **PRINTED), label
        assert float(got[2]) == pytest.approx(se, rel=1e-2), label  # %.3g
        assert float(got[4]) == pytest.approx(z, abs=0.0051), label


@pytest.mark.parametrize("ste", ["clipped_relu", "identity"])
def test_descend_rows_are_the_api_trajectory(ste: str) -> None:
    v0, w0 = [0.5, 0.1, -0.3], [0.3, -1.0, 0.4]
    args = [*POINT[:4], "--v", "0.5,0.1,-0.3", "--w", "0.3,-1,0.4", "--ste", ste, "--max-iter", "30", "--every", "7"]
    data = json.loads(_run_ok("descend", *args, "--json"))
    tr = descend(pg.Model(V_STAR, W_STAR), v0, w0, ste, max_iter=30, record="all")
    assert (data["ste"], data["lr"], data["reason"], data["iterations"]) == (ste, tr.lr, str(tr.reason[0]), 30)
    assert [s["t"] for s in data["steps"]] == [0, 7, 14, 21, 28, 30]
    for s in data["steps"]:
        t = s["t"]
        assert s["loss"] == float(tr.loss[t, 0]) and s["theta"] == float(tr.theta[t, 0]), t
        assert s["w_norm"] == float(tr.w_norm[t, 0]) and s["grad_v_norm"] == float(tr.grad_v_norm[t, 0]), t
        assert s["coarse_grad_w_norm"] == float(tr.grad_w_norm[t, 0]), t
        assert s["v"] == tr.v[t, 0].tolist() and s["w"] == tr.w[t, 0].tolist(), t

    table = _run_ok("descend", *args).splitlines()
    assert table[0] == f"coarse gradient descent, {ste} STE, lr {tr.lr:.6g}"
    assert table[-1] == f"stopped: {data['reason']} after {data['iterations']} steps"
    for line, s in zip(table[2:-1], data["steps"], strict=True):
        head, vec = line.split("[")
        t, f, theta, w_norm, gv, gw = head.split()
        assert int(t) == s["t"]
        assert [float(x) for x in (f, theta, w_norm)] == pytest.approx([s["loss"], s["theta"], s["w_norm"]], **PRINTED)
        assert [float(gv), float(gw)] == pytest.approx([s["grad_v_norm"], s["coarse_grad_w_norm"]], rel=1e-3)
        assert _floats(vec) == pytest.approx(s["v"], **PRINTED)


def test_families_rows_are_the_api_measurements() -> None:
    data = json.loads(_run_ok("families", "--seed", "2", "--json"))
    rows = ste_families(seed=2)
    assert data == [dataclasses.asdict(r) for r in rows]
    table = _run_ok("families", "--seed", "2").splitlines()[1:]
    assert len(table) == len(rows)
    for line, r in zip(table, rows, strict=True):
        family, param, min_inner, max_norm, verdict = line.split(None, 4)
        assert (family, float(param)) == (r.family, pytest.approx(r.param, rel=1e-2))
        assert [float(min_inner), float(max_norm)] == pytest.approx([r.min_inner_w, r.max_norm_at_spurious], rel=1e-2)
        assert verdict == (
            f"{'correlated' if r.keeps_correlation else 'NOT correlated'}, "
            f"{'stable' if r.vanishes_at_spurious else 'unstable'}"
        )


def test_descend_table_columns_stay_apart_for_wide_numbers() -> None:
    """lr 1e77 reaches |w| ~ 3e230 (printed 12 wide); the columns ran together ("2.852223.25937e+230")."""
    args = [*POINT[:4], "--lr", "1e77"]
    data = json.loads(_run_ok("descend", *args, "--json"))
    table = _run_ok("descend", *args).splitlines()
    assert max(s["w_norm"] for s in data["steps"]) > 1e200  # the case is still reached
    for line, s in zip(table[2:-1], data["steps"], strict=True):
        _, f, theta, w_norm, *_ = line.split("[")[0].split()
        assert [float(f), float(theta), float(w_norm)] == pytest.approx([s["loss"], s["theta"], s["w_norm"]], **PRINTED)
