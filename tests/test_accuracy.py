r"""float64 closed forms (``Model``) against the 50-digit symbolic evaluation (``popgrad.symbolic``).

Requirement: relative error <= 1e-12 of the result's *natural scale*, for ``|w|`` in
[1e-3, 1e3] and :math:`\theta` across :math:`(0, \pi)`, within 1e-9 of both ends included.

Natural scale.  Every result is a sum of terms; a float64 evaluation of it, from inputs that
carry a relative rounding error of order :math:`u = 2^{-53}`, cannot be more accurate than
:math:`u` times the magnitude of the terms it combines.  The scale ``S`` is that magnitude:

* a result computed without cancellation: its own magnitude;
* a sum: the sum of the magnitudes of its terms, where a term is a product of *atoms* (quantities
  a float64 evaluation obtains to a few ulps relative: input components, :math:`v_i - v^*_i` (one
  rounding), :math:`\theta`, :math:`r = \|w\|`, and special-function values such as
  :math:`\varphi(0)`, :math:`\varphi(1/r)\Phi(\cot\theta/r)`,
  :math:`\operatorname{erf}(1/(\sqrt2 r\sin\theta))`, :math:`p(0, w) = \varphi(0) - \varphi(1/r)`
  (which ``expm1`` gives without cancellation)) and of inner sums of input components, whose
  magnitude is the sum of the magnitudes of *their* terms: :math:`|1^\top v| \to V_1 = \sum|v_i|`,
  :math:`|1^\top v^*| \to S_1 = \sum|v^*_i|`, :math:`|v^\top v^*| \to P = \sum|v_i v^*_i|`,
  except for the loss, whose scale is the stricter sum of its own terms.  Vectors are measured in the
  2-norm, :math:`\hat w, \hat w^*, u` being unit vectors.

Concretely, with :math:`d = v - v^*`, :math:`\varphi_0 = 1/\sqrt{2\pi}`, :math:`\kappa = \cot\theta`,
:math:`c^* = \tfrac{\varphi_0}{2}\operatorname{erf}(1/(\sqrt2 r\sin\theta))`:

=================  ==================================================================================
result             S
=================  ==================================================================================
loss               :math:`\tfrac18[\|d\|^2 + (1^\top d)^2 + \tfrac{4\theta}{\pi}|v^\top v^*|]`
                   (its three non-negative-ish terms; no inner-sum relaxation)
grad_v             :math:`\tfrac14[\|d\| + \sqrt m|1^\top d| + \tfrac{2\theta}{\pi}\|v^*\|]`
grad_w             :math:`P/(2\pi r)`
E g identity       :math:`\varphi_0(\|v\|^2 + P)`  (:math:`E g = A\hat w + B\hat w^*`: :math:`|A| + |B|`)
E g relu           :math:`\tfrac{\varphi_0}{2}(\|v\|^2 + V_1^2 + V_1S_1 + P)`
E g clipped relu   :math:`\tfrac{p(0,w)}{2}(\|v\|^2 + V_1^2 + V_1S_1 + P)
                   + P(\tfrac{\varphi_0}{2} + \varphi(1/r)\Phi(\kappa/r) + c^*)`
inner_w            :math:`P^2\sin\theta\,c^*_\mu/(2\pi r)`, :math:`c^*_\mu = \varphi_0, \varphi_0/2, c^*`
=================  ==================================================================================

(:math:`A, B` written out: identity :math:`A = \varphi_0\|v\|^2, B = -\varphi_0 v^\top v^*`; ReLU
:math:`A = \tfrac{\varphi_0}{2}(\|v\|^2 + (1^\top v)^2 - (1^\top v)(1^\top v^*))`,
:math:`B = -\tfrac{\varphi_0}{2}v^\top v^*`; clipped ReLU :math:`A = \tfrac{p(0,w)}{2}h
- v^\top v^*(\tfrac{\varphi_0}{2} - \varphi(1/r)\Phi(\kappa/r))`, :math:`B = -v^\top v^*c^*`.)

The worst case over a few thousand points is measured by ``benchmarks/accuracy_worst_case.py``.
"""

from __future__ import annotations

import math
import warnings

import mpmath
import numpy as np
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

import popgrad as pg
from popgrad import symbolic

TOL = 1e-12
STES = ("identity", "relu", "clipped_relu")

# -- points -----------------------------------------------------------------------------------------

# coordinates are 0 or of magnitude in [1e-8, 10]: far from float64's underflow, where no
# relative accuracy is possible (a v of 1e-260 has a loss of 1e-521, not a float64 number)
_coord = st.one_of(
    st.just(0.0),
    st.tuples(st.sampled_from([-1.0, 1.0]), st.floats(-8.0, 1.0)).map(lambda t: t[0] * 10.0 ** t[1]),
    st.floats(-10.0, 10.0).filter(lambda x: x == 0 or abs(x) >= 1e-8),
)


def _vec(size: int) -> st.SearchStrategy[list[float]]:
    return st.lists(_coord, min_size=size, max_size=size)


def _log_uniform(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda e: 10.0**e)


_theta = st.one_of(
    st.floats(1e-9, math.pi - 1e-9),
    _log_uniform(1e-10, 0.1),  # near 0, down to 1e-10
    _log_uniform(1e-10, 0.1).map(lambda e: math.pi - e),  # near pi
)


@st.composite
def points(draw: st.DrawFn) -> dict:
    """(v_star, w_star, v, w) with |w| in [1e-3, 1e3] and theta(w, w_star) drawn as above."""
    m, n = draw(st.integers(1, 5)), draw(st.integers(2, 4))
    v_star = np.array(draw(_vec(m)))
    w_star = np.array(draw(_vec(n)))
    assume(np.linalg.norm(w_star) > 1e-3)
    kind = draw(st.sampled_from(["free", "near_teacher", "spurious"]))
    if kind == "free":
        v = np.array(draw(_vec(m)))
    elif kind == "near_teacher":  # cancellation in v - v*: the loss near the global minimum
        v = v_star + draw(_log_uniform(1e-12, 1e-1)) * np.array(draw(_vec(m)))
    else:  # near v0 = -v* + 2(1'v*)/(m+1) 1, the theta = pi critical point
        v = -v_star + 2 * v_star.sum() / (m + 1) + draw(_log_uniform(1e-12, 1e-1)) * np.array(draw(_vec(m)))
    theta, r = draw(_theta), draw(_log_uniform(1e-3, 1e3))
    d = np.array(draw(_vec(n)))
    ws_hat = w_star / np.linalg.norm(w_star)
    orth = d - (d @ ws_hat) * ws_hat
    assume(np.linalg.norm(orth) > 1e-3 * max(np.linalg.norm(d), 1e-300))
    w = r * (math.cos(theta) * ws_hat + math.sin(theta) * orth / np.linalg.norm(orth))
    return {"v_star": v_star, "w_star": w_star, "v": v, "w": w}


# -- errors -----------------------------------------------------------------------------------------


def _mp(x: object) -> list:
    return [mpmath.mpf(float(t)) for t in np.ravel(x)]


def _dist(a: object, exact: list) -> mpmath.mpf:
    return mpmath.sqrt(mpmath.fsum((x - y) ** 2 for x, y in zip(_mp(a), exact, strict=True)))


def natural_scales(pt: dict, theta: mpmath.mpf) -> dict[str, mpmath.mpf]:
    """S for every result (module docstring), in mpmath at the current precision."""
    v, vs = _mp(pt["v"]), _mp(pt["v_star"])
    m = len(v)
    d = [a - b for a, b in zip(v, vs, strict=True)]
    sd = mpmath.fsum(d)
    vvs = mpmath.fsum(a * b for a, b in zip(v, vs, strict=True))
    p = mpmath.fsum(abs(a * b) for a, b in zip(v, vs, strict=True))
    v1, s1 = mpmath.fsum(abs(a) for a in v), mpmath.fsum(abs(b) for b in vs)
    vv = mpmath.fsum(a * a for a in v)
    r = mpmath.sqrt(mpmath.fsum(mpmath.mpf(float(t)) ** 2 for t in pt["w"]))
    phi0 = 1 / mpmath.sqrt(2 * mpmath.pi)
    phi_r = mpmath.npdf(1 / r)
    p0 = -phi0 * mpmath.expm1(-1 / (2 * r * r))
    sin = mpmath.sin(theta)
    c_star = phi0 / 2 * mpmath.erf(1 / (mpmath.sqrt(2) * r * sin))
    cw_term = phi_r * mpmath.ncdf(mpmath.cot(theta) / r)
    quad = vv + v1**2 + v1 * s1 + p
    norm_d = mpmath.sqrt(mpmath.fsum(x * x for x in d))
    norm_vs = mpmath.sqrt(mpmath.fsum(b * b for b in vs))
    return {
        "loss": (mpmath.fsum(x * x for x in d) + sd**2 + 4 * theta / mpmath.pi * abs(vvs)) / 8,
        "grad_v": (norm_d + mpmath.sqrt(m) * abs(sd) + 2 * theta / mpmath.pi * norm_vs) / 4,
        "grad_w": p / (2 * mpmath.pi * r),
        "coarse_identity": phi0 * (vv + p),
        "coarse_relu": phi0 / 2 * quad,
        "coarse_clipped_relu": p0 / 2 * quad + p * (phi0 / 2 + cw_term + c_star),
        "inner_identity": p**2 * sin * phi0 / (2 * mpmath.pi * r),
        "inner_relu": p**2 * sin * phi0 / 2 / (2 * mpmath.pi * r),
        "inner_clipped_relu": p**2 * sin * c_star / (2 * mpmath.pi * r),
    }


def relative_errors(pt: dict) -> dict[str, float]:
    """|float64 - exact| / S for every result at one point.

    numpy RuntimeWarnings raised inside popgrad are ignored here (they do not affect the values
    compared); ``test_no_spurious_floating_point_warnings`` is about them.
    """
    model = pg.Model(pt["v_star"], pt["w_star"])
    v, w = pt["v"], pt["w"]
    ref = symbolic.evaluate(model, v, w, dps=50)
    with mpmath.workdps(30), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scales = natural_scales(pt, ref.theta)
        gv, gw = model.grad(v, w)
        err = {
            "loss": abs(mpmath.mpf(float(model.loss(v, w))) - ref.loss),
            "grad_v": _dist(gv, ref.grad_v),
            "grad_w": _dist(gw, ref.grad_w),
        }
        for ste in STES:
            err[f"coarse_{ste}"] = _dist(model.coarse_grad(v, w, ste=ste)[1], ref.coarse_grad_w[ste])
            err[f"inner_{ste}"] = abs(mpmath.mpf(float(model.correlation(v, w, ste=ste).inner_w)) - ref.inner_w[ste])
        return {k: float(e / scales[k]) if scales[k] else (0.0 if e == 0 else math.inf) for k, e in err.items()}


@settings(max_examples=300, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(points())
def test_float64_matches_50_digit_symbolic(pt):
    errors = relative_errors(pt)
    note(f"point: { ({k: x.tolist() for k, x in pt.items()}) }")
    note(f"relative errors: {errors}")
    bad = {k: e for k, e in errors.items() if not e <= TOL}
    assert not bad, f"relative error above {TOL}: {bad}"


def test_natural_scale_equals_the_term_sum_without_cancellation():
    """With positive v, v* nothing cancels inside the sums: S is exactly |terms| (and >= |result|)."""
    pt = {"v_star": np.array([1.0, 0.5, 2.0]), "w_star": np.array([1.0, 0.0]), "v": np.array([0.3, 1.0, 0.7]),
          "w": np.array([0.6, 0.8])}  # fmt: skip
    ref = symbolic.evaluate((pt["v_star"], pt["w_star"]), pt["v"], pt["w"], dps=30)
    with mpmath.workdps(30):
        s = natural_scales(pt, ref.theta)
        v, vs, theta = pt["v"], pt["v_star"], ref.theta
        phi0 = 1 / mpmath.sqrt(2 * mpmath.pi)
        vv, vvs, d = float(v @ v), float(v @ vs), v - vs  # float64: 1e-14 below
        # loss: its three terms are >= 0 here, so S is f itself
        assert abs(s["loss"] - ref.loss) < 1e-25
        # identity: E g = A w_hat + B w*_hat, A = phi0 |v|^2, B = -phi0 v.v*
        assert abs(s["coarse_identity"] - phi0 * (vv + vvs)) < 1e-14
        # grad_v: the three vector terms d, 1 (1'd), (2 theta/pi) v*
        expected = (np.linalg.norm(d) + math.sqrt(3) * abs(d.sum()) + 2 * theta / mpmath.pi * np.linalg.norm(vs)) / 4
        assert abs(s["grad_v"] - expected) < 1e-14
        norm = lambda xs: mpmath.sqrt(mpmath.fsum(x * x for x in xs))  # noqa: E731
        own = {"grad_v": norm(ref.grad_v), "grad_w": norm(ref.grad_w),
               **{f"coarse_{k}": norm(ref.coarse_grad_w[k]) for k in STES}}  # fmt: skip
        for k, value in own.items():
            assert value <= s[k] * (1 + 1e-20), k  # triangle inequality


def test_no_spurious_floating_point_warnings():
    model = pg.Model([1.0], [0.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.coarse_grad([1.0], [0.01, 0.005], ste="clipped_relu")
