"""The engine contract: every (engine, model kind, activation kind, STE kind) computes the model it is given --
agreeing with the closed forms within the errors both report -- or refuses with NotImplementedError, exactly as
``pg.capabilities()`` declares.  Never a number for a different model.

Agreement: deterministic engines |x - closed| <= x.error + closed.error per component; Monte Carlo
|x - closed| <= 5 x.error + closed.error (a false alarm has probability ~5.7e-7 per component, fixed seeds).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import popgrad as pg

V_STAR, W_STAR = np.array([1.0, -0.5, 2.0]), np.array([1.0, 0.0, 0.0])
V, W = np.array([0.3, 1.0, -0.7]), np.array([0.2, 1.0, -0.4])
MULTI_V_STAR = np.array([[1.0, -0.5, 2.0], [0.4, 0.9, -0.3]])
MULTI_W_STAR = np.array([[1.0, 0.0, 0.0], [0.3, -0.8, 0.5]])
MULTI_V = np.array([[0.3, 1.0, -0.7], [-0.2, 0.5, 0.6]])
MULTI_W = np.array([[0.2, 1.0, -0.4], [0.9, -0.3, 0.2]])

ACTIVATIONS = {"binary": pg.activation.binary, "staircase": pg.activation.uniform(2, 0.5)}
STES = {
    "named": pg.ste.resolve("clipped_relu"),
    "piecewise_constant": pg.ste.piecewise_constant([-0.5, 0.2, 1.3], [0.25, 1.0, -0.5, 0.0]),
    "custom": pg.ste.custom(lambda x: np.exp(-0.5 * (x - 0.4) ** 2), name="gauss(0.4)"),
}
VARIANTS = [(name, variant) for name, eng in pg.engines.ENGINES.items() for variant in eng.variants]
SMALL = {"monte_carlo": {"n_samples": 40_000, "seed": 7}, "symbolic": {"dps": 30}, "quadrature": {"dps": 20}}


def _model(kind: str, act) -> tuple[object, np.ndarray, np.ndarray]:
    if kind == "Model":
        return pg.Model(V_STAR, W_STAR, act), V, W
    return pg.MultiFilterModel(MULTI_V_STAR, MULTI_W_STAR, act), MULTI_V, MULTI_W


def _table() -> dict[tuple, str]:
    return {(r["engine"], r["options"], r["model"], r["activation"], r["ste"]): r["status"] for r in pg.capabilities()}


CELLS = list(itertools.product(VARIANTS, ["Model", "MultiFilterModel"], ACTIVATIONS, STES))


def _id(cell) -> str:
    (engine, variant), model, act, ste = cell
    opts = ",".join(f"{v}" for v in variant.values())
    return f"{engine}{'[' + opts + ']' if opts else ''}-{model}-{act}-{ste}"


@pytest.mark.parametrize("cell", CELLS, ids=[_id(c) for c in CELLS])
def test_every_cell_computes_the_given_model_or_refuses(cell) -> None:
    (engine, variant), model_kind, act_kind, ste_key = cell
    model, v, w = _model(model_kind, ACTIVATIONS[act_kind])
    ste = STES[ste_key]
    ste_kind = "custom" if ste.pieces is None else "piecewise_constant"
    status = _table()[(engine, ", ".join(f"{k}={x}" for k, x in variant.items()), model_kind, act_kind, ste_kind)]
    options = {**SMALL.get(engine, {}), **variant}
    if engine == "quadrature" and variant.get("backend") == "scipy":
        options.pop("dps")
    try:
        got = pg.expectations(model, v, w, ste, engine=engine, **options)
    except NotImplementedError as exc:
        assert status != "supported", f"declared supported but refused: {exc}"
        msg = str(exc)
        for part in (engine, model_kind, ACTIVATIONS[act_kind].name, ste.name, "supports"):
            assert part in msg, (part, msg)
        return
    assert status == "supported", f"declared refused ({status}) but computed"
    ref = pg.expectations(model, v, w, ste)
    k = 5.0 if engine == "monte_carlo" else 1.0
    for key, q in got.fields.items():
        exact = ref.fields[key]
        if q is None:
            continue
        assert q.value.shape == exact.value.shape, key
        assert np.all(np.abs(q.value - exact.value) <= k * q.error + exact.error), (key, q.value, exact.value, q.error)


def test_capability_table_is_complete_and_names_a_reason() -> None:
    rows = pg.capabilities()
    assert len(rows) == len(VARIANTS) * 2 * 2 * 2
    assert all(r["status"] == "supported" or len(r["status"]) > 10 for r in rows)
    assert all(r["status"] == "supported" for r in rows if r["engine"] == "closed_form")


def test_the_issue_snippet_gives_the_staircase_numbers_or_refuses() -> None:
    """The report that started the contract: a staircase model whose engines returned the binary model's loss."""
    model = pg.Model(V_STAR, W_STAR, activation=pg.activation.uniform(bits=2, step=0.5))
    exact = float(model.loss(V, W))
    assert abs(exact - 1.5993) < 1e-4  # the closed form of the issue's report
    for engine, options in [("monte_carlo", {"n_samples": 200_000}), ("quadrature", {}), ("symbolic", {})]:
        try:
            got = pg.expectations(model, V, W, "relu", engine=engine, **options)
        except NotImplementedError:
            continue
        if engine == "monte_carlo":
            assert abs(float(got.loss.z(exact))) < 5
        else:
            assert abs(float(got.loss.value) - exact) <= 1e-9 * exact


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"engine": "fast"}, ValueError, "unknown engine 'fast'"),
        ({"engine": 3}, TypeError, "engine must be a name"),
        ({"engine": "closed_form", "n_samples": 10}, TypeError, r"takes the options \[\], not \['n_samples'\]"),
        ({"engine": "monte_carlo", "nsamples": 10}, TypeError, "nsamples"),
        ({"engine": "quadrature", "backend": "quadpy"}, ValueError, "backend"),
        ({"ste": []}, ValueError, "at least one STE"),
        ({"ste": ["relu", "relu"]}, ValueError, "distinct"),
    ],
)
def test_bad_engine_arguments(kwargs, exc, match) -> None:
    model = pg.Model(V_STAR, W_STAR)
    args = {"ste": "relu", **kwargs}
    with pytest.raises(exc, match=match):
        pg.expectations(model, V, W, **args)


def test_non_model_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"model must be a popgrad\.Model or popgrad\.MultiFilterModel"):
        pg.expectations((V_STAR, W_STAR), V, W)


@pytest.mark.parametrize("engine", ["closed_form", "quadrature", "monte_carlo"])
def test_a_list_of_stes_is_a_dict_of_what_each_gives_alone(engine: str) -> None:
    model = pg.Model(V_STAR, W_STAR)
    opts = {"monte_carlo": {"n_samples": 5000, "seed": 3}}.get(engine, {})
    both = pg.expectations(model, V, W, ["relu", "identity"], engine=engine, **opts)
    assert list(both) == ["relu", "identity"]
    for name, e in both.items():
        alone = pg.expectations(model, V, W, name, engine=engine, **opts)
        assert e.ste == name and e.engine == engine
        for key, q in alone.fields.items():
            np.testing.assert_array_equal(e.fields[key].value, q.value, err_msg=key)


@pytest.mark.parametrize("engine", ["closed_form", "quadrature", "monte_carlo"])
def test_batches_have_the_models_shapes(engine: str) -> None:
    model = pg.Model(V_STAR, W_STAR)
    v = np.stack([V, 2 * V])
    opts = {"monte_carlo": {"n_samples": 2000}}.get(engine, {})
    e = pg.expectations(model, v, W, "relu", engine=engine, **opts)
    assert e.loss.value.shape == (2,) and e.grad_v.value.shape == (2, 3) and e.coarse_grad_w.error.shape == (2, 3)
    single = pg.expectations(model, 2 * V, W, "relu", engine=engine, **opts)
    if engine != "monte_carlo":  # Monte Carlo: batch point j draws from child seed j
        np.testing.assert_array_equal(e.loss.value[1], single.loss.value)


def test_readme_capability_table_is_the_declared_one() -> None:
    """README's table between the capabilities markers is generated from pg.capabilities() (Model and
    MultiFilterModel must agree, since the table does not distinguish them)."""
    from pathlib import Path

    rows = pg.capabilities()
    cols = [("binary", "piecewise_constant"), ("binary", "custom"), ("staircase", "piecewise_constant")]
    cols.append(("staircase", "custom"))
    lines = [
        "| engine | binary σ, piecewise-constant μ' | binary σ, custom μ' | staircase σ, piecewise-constant μ' "
        "| staircase σ, custom μ' |",
        "|---|---|---|---|---|",
    ]
    for engine, variant in VARIANTS:
        label = f"`{engine}`" + "".join(f" (`{k}={v}`)" for k, v in variant.items())
        cells = []
        for act, ste in cols:
            status = {
                r["model"]: r["status"]
                for r in rows
                if r["engine"] == engine
                and r["options"] == ", ".join(f"{k}={v}" for k, v in variant.items())
                and r["activation"] == act
                and r["ste"] == ste
            }
            assert len(set(status.values())) == 1, status  # the same for both model families
            cells.append("✓" if next(iter(status.values())) == "supported" else "—")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    text = Path(__file__).resolve().parents[1].joinpath("README.md").read_text(encoding="utf-8")
    block = text.split("<!-- capabilities -->\n", 1)[1].split("<!-- /capabilities -->", 1)[0]
    assert block.strip() == "\n".join(lines)
