"""Properties of the core closed forms, each checked without using the formula under test.

* finite differences of ``loss`` against ``grad`` (central differences, step 1e-5: truncation
  ~h^2 f'''/6 ~ 1e-9 and rounding ~eps f / h ~ 1e-10 at these points, so |error| < 1e-7 is a
  bound with two orders of margin, while any wrong term of a formula is off by > 1e-3);
* a brute-force Monte Carlo written from the model's definition alone (sample Z, apply sigma and
  mu' elementwise); false-alarm rate: |z| < 5 per component, fixed seeds, ~90 components
  -> P(false alarm) < 90 * 5.7e-7 ~ 5e-5;
* hypothesis properties: scale invariances, v-part of coarse_grad == v-part of grad, batched ==
  pointwise.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import popgrad as pg

STES = ("identity", "relu", "clipped_relu")
MU_PRIME = {  # the literal definitions, written here independently of popgrad.ste
    "identity": lambda x: np.ones_like(x),
    "relu": lambda x: (x > 0).astype(float),
    "clipped_relu": lambda x: ((x > 0) & (x < 1)).astype(float),
}


def _fd_grad(fun, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    out = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        out[i] = (fun(x + e) - fun(x - e)) / (2 * h)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_grad_matches_finite_differences(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, n = rng.integers(1, 6), rng.integers(2, 7)
    model = pg.Model(rng.normal(size=m), rng.normal(size=n))
    v = rng.normal(size=m)
    while True:
        w = rng.normal(size=n)
        if 0.2 < model.theta(w) < np.pi - 0.2:
            break
    gv, gw = model.grad(v, w)
    np.testing.assert_allclose(gv, _fd_grad(lambda x: model.loss(x, w), v), atol=1e-7)
    np.testing.assert_allclose(gw, _fd_grad(lambda x: model.loss(v, x), w), atol=1e-7)


def _brute_force(v_star, w_star, v, w, n_samples: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(mean, stderr) of l, dl/dv and g_mu for each STE, from the model's definition."""
    rng = np.random.default_rng(seed)
    m, n = len(v_star), len(w_star)
    z = rng.standard_normal((n_samples, m, n))
    pre = z @ w
    residual = (pre > 0).astype(float) @ v - ((z @ w_star) > 0).astype(float) @ v_star
    samples = {"loss": 0.5 * residual**2, "grad_v": (pre > 0) * residual[:, None]}
    for name, mu_prime in MU_PRIME.items():
        samples[name] = np.einsum("kmn,km->kn", z, mu_prime(pre) * v) * residual[:, None]
    return {k: (s.mean(axis=0), s.std(axis=0, ddof=1) / np.sqrt(n_samples)) for k, s in samples.items()}


@pytest.mark.parametrize(
    ("m", "n", "w_scale", "seed"),
    [(1, 2, 1.0, 0), (3, 4, 0.3, 1), (4, 3, 3.0, 2), (2, 5, 1.5, 3), (5, 1, 0.7, 4)],
)
def test_closed_forms_match_brute_force_monte_carlo(m: int, n: int, w_scale: float, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    v_star, w_star = rng.normal(size=m), rng.normal(size=n)
    v, w = rng.normal(size=m), w_scale * rng.normal(size=n) / np.sqrt(n)
    model = pg.Model(v_star, w_star)
    est = _brute_force(v_star, w_star, v, w, 100_000, seed)
    expected = {"loss": model.loss(v, w), "grad_v": model.grad(v, w)[0]}
    expected.update({s: model.coarse_grad(v, w, s)[1] for s in STES})
    for key, value in expected.items():
        mean, se = est[key]
        z = (mean - value) / se
        assert np.all(np.abs(z) < 5), f"{key}: z = {z}"


def _point(min_dim: int = 1):
    return st.integers(min_dim, 6).flatmap(
        lambda k: hnp.arrays(np.float64, k, elements=st.floats(-3, 3, allow_subnormal=False)).filter(
            lambda x: np.linalg.norm(x) > 1e-3
        )
    )


@st.composite
def problems(draw):
    m, n = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    vec = lambda k: hnp.arrays(np.float64, k, elements=st.floats(-3, 3, allow_subnormal=False))  # noqa: E731
    w_star = draw(vec(n).filter(lambda x: np.linalg.norm(x) > 1e-3))
    w = draw(vec(n).filter(lambda x: np.linalg.norm(x) > 1e-3))
    return pg.Model(draw(vec(m)), w_star), draw(vec(m)), w


@given(problems(), st.floats(1e-3, 1e3), st.sampled_from(STES))
def test_scale_invariance(problem, c: float, ste: str) -> None:
    """f(v, c w) = f(v, w) and f under w* -> c w*; E g_relu, E g_id see only w_hat; df/dw ~ 1/c."""
    model, v, w = problem
    scaled = pg.Model(model.v_star, c * model.w_star)
    np.testing.assert_allclose(model.loss(v, c * w), model.loss(v, w), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(scaled.loss(v, w), model.loss(v, w), rtol=1e-12, atol=1e-14)
    gv, gw = model.grad(v, w)
    gv_c, gw_c = model.grad(v, c * w)
    np.testing.assert_allclose(gv_c, gv, rtol=1e-12, atol=1e-14)
    if 1e-6 < model.theta(w) < np.pi - 1e-6:  # away from the Clarke convention at theta in {0, pi}
        np.testing.assert_allclose(c * gw_c, gw, rtol=1e-9, atol=1e-12)
    if ste != "clipped_relu":
        np.testing.assert_allclose(model.coarse_grad(v, c * w, ste)[1], model.coarse_grad(v, w, ste)[1], atol=1e-12)


@given(problems(), st.sampled_from(STES))
def test_v_part_of_coarse_grad_is_grad_v(problem, ste: str) -> None:
    model, v, w = problem
    np.testing.assert_array_equal(model.coarse_grad(v, w, ste)[0], model.grad(v, w)[0])


@given(problems(), st.sampled_from(STES), st.integers(0, 2**32 - 1))
def test_batched_equals_pointwise(problem, ste: str, seed: int) -> None:
    model, _, _ = problem
    rng = np.random.default_rng(seed)
    vs = rng.normal(size=(3, 1, model.m))
    ws = rng.normal(size=(1, 4, model.n))
    loss = model.loss(vs, ws)
    gv, gw = model.grad(vs, ws)
    _, cg = model.coarse_grad(vs, ws, ste)
    corr = model.correlation(vs, ws, ste)
    assert loss.shape == (3, 4) and gv.shape == (3, 4, model.m) and gw.shape == (3, 4, model.n)
    assert cg.shape == (3, 4, model.n) and corr.cos.shape == (3, 4)

    def close(batched: np.ndarray, single: np.ndarray) -> None:
        """Equal up to rounding at the result's scale (BLAS may sum in another order)."""
        np.testing.assert_allclose(batched, single, rtol=0, atol=1e-14 * (np.max(np.abs(single)) + 1e-300))

    for i in range(3):
        for j in range(4):
            v, w = vs[i, 0], ws[0, j]
            close(loss[i, j], model.loss(v, w))
            close(gw[i, j], model.grad(v, w)[1])
            close(cg[i, j], model.coarse_grad(v, w, ste)[1])
            close(corr.cos[i, j], model.correlation(v, w, ste).cos)


@given(problems(), st.sampled_from(STES))
def test_correlation_inner_product_is_the_dot_product(problem, ste: str) -> None:
    """The closed-form <E g, df/dw> (Lemmas 5, 7, 10) equals the dot product of the two vectors."""
    model, v, w = problem
    _, g = model.coarse_grad(v, w, ste)
    gv, gw = model.grad(v, w)
    c = model.correlation(v, w, ste)
    scale = np.hypot.reduce(g) * np.hypot.reduce(gw)  # norms without underflow (tiny v*)
    assert abs(c.inner_w - g @ gw) <= 1e-13 * scale + 1e-300
    assert abs(c.inner - (gv @ gv + g @ gw)) <= 1e-13 * (np.hypot.reduce(gv) ** 2 + scale) + 1e-300
    assert c.inner_w >= 0
    assert -1 - 1e-15 <= c.cos_w <= 1 + 1e-15 and -1 - 1e-15 <= c.cos <= 1 + 1e-15
