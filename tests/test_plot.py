"""popgrad.plot: figures are checked for their content, not only for running.  The plotted numbers are
recomputed here along a different path (own filter construction, the best v from the Sherman--Morrison
form of Lemma 2, cosines from coarse_grad and grad vectors instead of Model.correlation)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure  # the test extra installs matplotlib: no skipping

import popgrad as pg
from popgrad import plot

MODEL = pg.Model([1.0, -0.5, 2.0], [0.6, 0.0, 0.8])  # w* not axis-aligned, norm 1
RTOL = 1e-10  # the same float64 quantity computed two ways; both paths are well conditioned here
ATOL = 1e-13  # absolute rounding at the loss scale v*'(I+11')v*/8 ~ 1.4, where f = 0 at the global minimum


def w_test(model: pg.Model, theta: np.ndarray, r: object = 1.0) -> np.ndarray:
    """Filters at angle theta, norm r, in a plane of the test's own choosing (the model is rotation invariant)."""
    w_hat = model.w_star / np.linalg.norm(model.w_star)
    d = np.array([1.0, 1.0, 1.0])
    d -= (d @ w_hat) * w_hat
    d /= np.linalg.norm(d)
    theta, r = np.asarray(theta), np.asarray(r)
    return (r * np.cos(theta))[..., None] * w_hat + (r * np.sin(theta))[..., None] * d


def v_best(model: pg.Model, theta: np.ndarray) -> np.ndarray:
    """Root of Lemma 2's df/dv: ((1 - 2 theta/pi) I + 11')v* solved with (I+11')^-1 = I - 11'/(m+1)."""
    s, m = model.v_star.sum(), model.m
    a = (1 - 2 * np.asarray(theta) / np.pi)[..., None]
    return a * (model.v_star - s / (m + 1)) + s / (m + 1)


def cos_w(model: pg.Model, v: np.ndarray, w: np.ndarray, ste: str) -> np.ndarray:
    _, g = model.coarse_grad(v, w, ste=ste)
    _, gw = model.grad(v, w)
    return np.sum(g * gw, -1) / (np.linalg.norm(g, axis=-1) * np.linalg.norm(gw, axis=-1))


def test_w_at_angle_has_the_angle_and_norm() -> None:
    theta = np.linspace(0, np.pi, 13)
    r = np.geomspace(0.1, 10, 13)
    w = plot.w_at_angle(MODEL, theta, r)
    assert w.shape == (13, 3)
    np.testing.assert_allclose(MODEL.theta(w), theta, rtol=0, atol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(w, axis=-1), r, rtol=1e-15)


def test_w_at_angle_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="theta"):
        plot.w_at_angle(MODEL, 4.0)
    with pytest.raises(ValueError, match="r "):
        plot.w_at_angle(MODEL, 1.0, 0.0)
    one = pg.Model([1.0], [2.0])
    assert plot.w_at_angle(one, np.pi).tolist() == [-1.0]
    with pytest.raises(ValueError, match="n = 1"):
        plot.w_at_angle(one, 1.0)


def test_v_opt_is_the_minimiser_of_lemma_2() -> None:
    theta = np.linspace(0, np.pi, 9)
    v = plot.v_opt(MODEL, theta)
    np.testing.assert_allclose(v, v_best(MODEL, theta), rtol=0, atol=1e-13)
    # theta = pi: Proposition 1's spurious minimizer (I+11')^-1 (11' - I) v*
    a = np.eye(3) + np.ones((3, 3))
    np.testing.assert_allclose(v[-1], np.linalg.solve(a, (np.ones((3, 3)) - np.eye(3)) @ MODEL.v_star), atol=1e-13)
    # a minimiser of the loss (a different method of Model than the grad it was solved from)
    w = plot.w_at_angle(MODEL, theta)
    dv = np.random.default_rng(1).normal(size=(50, 1, 3)) * 1e-3
    assert np.all(MODEL.loss(v + dv, w) > MODEL.loss(v, w))


def test_landscape_curves_plot_the_models_numbers() -> None:
    fig = plot.landscape_curves(MODEL, num=61, norms=(0.5, 1.0, 2.0), theta_at=2.0)
    assert isinstance(fig, Figure)
    ax_f, ax_c, ax_r = fig.axes
    (line,) = ax_f.lines
    theta = line.get_xdata()
    np.testing.assert_allclose(theta, np.linspace(0, np.pi, 61))
    np.testing.assert_allclose(
        line.get_ydata(), MODEL.loss(v_best(MODEL, theta), w_test(MODEL, theta)), rtol=RTOL, atol=ATOL
    )

    labels = [ln.get_label() for ln in ax_c.lines]
    assert labels == [
        "identity",
        "ReLU",
        "clipped ReLU, ‖w‖=0.5",
        "clipped ReLU, ‖w‖=1",
        "clipped ReLU, ‖w‖=2",
    ]
    norms = {"identity": 1.0, "ReLU": 1.0, "clipped ReLU, ‖w‖=0.5": 0.5, "clipped ReLU, ‖w‖=1": 1.0}
    norms["clipped ReLU, ‖w‖=2"] = 2.0
    stes = {"identity": "identity", "ReLU": "relu"}
    for ln in ax_c.lines:
        x, y = ln.get_xdata(), ln.get_ydata()
        assert 0 < x.min() and x.max() < np.pi and x.size == 59
        ste = stes.get(ln.get_label(), "clipped_relu")
        want = cos_w(MODEL, v_best(MODEL, x), w_test(MODEL, x, norms[ln.get_label()]), ste)
        np.testing.assert_allclose(y, want, rtol=1e-9, atol=1e-12)

    assert [ln.get_label() for ln in ax_r.lines] == ["identity", "ReLU", "clipped ReLU"]
    v_at = v_best(MODEL, 2.0)
    for ln, ste in zip(ax_r.lines, ("identity", "relu", "clipped_relu"), strict=True):
        r, y = ln.get_xdata(), ln.get_ydata()
        np.testing.assert_allclose(y, cos_w(MODEL, v_at, w_test(MODEL, 2.0, r), ste), rtol=1e-9, atol=1e-12)
        if ste != "clipped_relu":  # Lemmas 4 and 9: scale invariant
            np.testing.assert_allclose(y, y[0], rtol=1e-12)
        else:  # Lemma 7: depends on |w|
            assert np.ptp(y) > 1e-3


def test_landscape_curves_with_a_fixed_v() -> None:
    fig = plot.landscape_curves(MODEL, v=[0.2, 0.1, -1.0], stes=["relu"], num=31)
    (line,) = fig.axes[0].lines
    theta = line.get_xdata()
    np.testing.assert_allclose(line.get_ydata(), MODEL.loss([0.2, 0.1, -1.0], w_test(MODEL, theta)), rtol=RTOL)
    assert [ln.get_label() for ln in fig.axes[1].lines] == ["ReLU"]
    with pytest.raises(ValueError, match="v must have last axis of length 3"):
        plot.landscape_curves(MODEL, v=[1.0, 2.0])
    with pytest.raises(TypeError, match="stes"):
        plot.landscape_curves(MODEL, stes=[])


def test_landscape_heatmaps_hold_the_cosines() -> None:
    theta = np.linspace(0.1, 3.0, 7)
    norms = np.array([0.1, 0.5, 1.0, 3.0])
    fig = plot.landscape_heatmaps(MODEL, theta=theta, norms=norms)
    panels = [ax for ax in fig.axes if ax.collections and ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["identity", "ReLU", "clipped ReLU"]
    tt, rr = np.meshgrid(theta, norms)
    for ax, ste in zip(panels, ("identity", "relu", "clipped_relu"), strict=True):
        data = np.asarray(ax.collections[0].get_array()).reshape(norms.size, theta.size)
        np.testing.assert_allclose(data, cos_w(MODEL, v_best(MODEL, tt), w_test(MODEL, tt, rr), ste), rtol=1e-9)
    with pytest.raises(ValueError, match="theta and norms"):
        plot.landscape_heatmaps(MODEL, theta=[1.0])


def test_import_popgrad_without_matplotlib() -> None:
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import popgrad, popgrad.plot, popgrad.cli\n"
        "try:\n"
        "    popgrad.plot.landscape_curves(popgrad.Model([1.0], [1.0, 0.0]))\n"
        "except ImportError as exc:\n"
        "    assert 'popgrad[plot]' in str(exc), exc\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def literal_step_losses(model: pg.Model, v: np.ndarray, w: np.ndarray, Z: np.ndarray, etas: np.ndarray) -> np.ndarray:
    """Remark 1's one-step empirical loss, from the model's definition written out with numpy (ReLU STE)."""
    y_star = (Z @ model.w_star > 0).astype(float) @ model.v_star  # (N,)
    s = (Z @ w > 0).astype(float)  # (N, m)
    e = s @ v - y_star
    gv = (s * e[:, None]).mean(0)  # dl/dv = sigma(Zw) e
    gw = np.einsum("kij,ki->j", Z, s * v * e[:, None]) / len(Z)  # g = Z'(sigma(Zw) . v) e
    out = []
    for eta in etas:
        v1, w1 = v - eta * gv, w - eta * gw
        out.append(np.mean(0.5 * ((Z @ w1 > 0).astype(float) @ v1 - y_star) ** 2))
    return np.array(out)


def test_finite_sample_step_is_the_empirical_loss_of_remark_1() -> None:
    from popgrad.montecarlo import draw_inputs

    v, w, etas, sizes = np.array([0.3, 1.0, -0.7]), np.array([0.2, 1.0, -0.4]), np.linspace(0, 3, 13), (10, 200)
    fig = plot.finite_sample_step(MODEL, v, w, sample_sizes=sizes, etas=etas, seed=5)
    assert [ax.get_title() for ax in fig.axes] == ["N = 10", "N = 200"]
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(5).spawn(2)]
    for ax, n, rng in zip(fig.axes, sizes, rngs, strict=True):
        emp, pop = ax.lines
        Z = draw_inputs(rng, n, 3, 3)  # the same inputs; the losses are recomputed from the definition
        np.testing.assert_allclose(emp.get_xdata(), etas)
        np.testing.assert_allclose(emp.get_ydata(), literal_step_losses(MODEL, v, w, Z, etas), rtol=1e-12)
        assert emp.get_ydata()[0] == pytest.approx(
            np.mean(0.5 * ((Z @ w > 0) @ v - (Z @ MODEL.w_star > 0) @ MODEL.v_star) ** 2)
        )
        # the population curve: f at the same points; it starts at f(v, w)
        assert pop.get_ydata()[0] == pytest.approx(float(MODEL.loss(v, w)), rel=1e-14)
    with pytest.raises(ValueError, match="etas"):
        plot.finite_sample_step(MODEL, v, w, etas=[0.1])


def test_monte_carlo_convergence_plots_errors_within_5_stderr() -> None:
    v, w = np.array([0.3, 1.0, -0.7]), np.array([0.2, 1.0, -0.4])
    sizes, seeds = (200, 2000), (0, 1)
    fig = plot.monte_carlo_convergence(MODEL, v, w, sizes=sizes, seeds=seeds, method="projected")
    ax_loss, ax_g = fig.axes
    dots, se, ref = ax_loss.lines
    err = dots.get_ydata()
    # |z| < 5 per point: a false alarm has probability < 6e-7 per point (fixed seeds: deterministic)
    assert np.all(err < 5 * np.repeat(se.get_ydata(), len(seeds)))
    np.testing.assert_allclose(dots.get_xdata(), np.repeat(sizes, len(seeds)))
    r = pg.monte_carlo(MODEL, v, w, ste=list(plot.STE_NAMES), n_samples=200, seed=1, method="projected")
    assert err[1] == pytest.approx(abs(float(r["relu"].loss.value) - float(MODEL.loss(v, w))), rel=1e-12)
    np.testing.assert_allclose(ref.get_ydata(), se.get_ydata()[0] * np.sqrt(200 / np.array(sizes)))
    assert len(ax_g.lines) == 2 * 3 + 1
    for k, ste in enumerate(plot.STE_NAMES):
        dots, se = ax_g.lines[2 * k], ax_g.lines[2 * k + 1]
        assert dots.get_label().startswith(plot._LABEL[ste])
        # |error|^2 is a weighted sum of chi^2_1 with mean trace(Cov):
        # P(|error| > 5 sqrt(trace)) <= P(chi^2_1 > 25) < 6e-7
        assert np.all(dots.get_ydata() < 5 * np.repeat(se.get_ydata(), len(seeds)))


def test_descent_trajectories_follow_algorithm_1() -> None:
    v0 = np.array([[0.5, 0.2, -0.1], [-0.3, 0.4, 0.6]])
    w0 = np.array([[0.3, 1.0, 0.2], [-1.0, 0.2, 0.1]])
    lr = 0.1
    fig = plot.descent_trajectories(MODEL, v0, w0, stes=["relu", "identity"], lr=lr, max_iter=20)
    ax_f, ax_t, ax_w = fig.axes
    assert len(ax_f.lines) == len(ax_t.lines) == len(ax_w.lines) == 4  # 2 STEs x 2 starts
    for k, ste in enumerate(["relu", "identity"]):
        for b in range(2):
            f_line, t_line, w_line = ax_f.lines[2 * k + b], ax_t.lines[2 * k + b], ax_w.lines[2 * k + b]
            # one step of Algorithm 1 written out: v - lr E dl/dv, w - lr E g_mu
            gv, gw = MODEL.coarse_grad(v0[b], w0[b], ste=ste)
            v1, w1 = v0[b] - lr * gv, w0[b] - lr * gw
            np.testing.assert_allclose(
                f_line.get_ydata()[:2], [MODEL.loss(v0[b], w0[b]), MODEL.loss(v1, w1)], rtol=1e-13
            )
            np.testing.assert_allclose(t_line.get_ydata()[:2], [MODEL.theta(w0[b]), MODEL.theta(w1)], rtol=1e-13)
            np.testing.assert_allclose(w_line.get_ydata()[1], np.linalg.norm(w1), rtol=1e-14)
            assert f_line.get_xdata()[0] == 0 and np.all(np.diff(f_line.get_xdata()) == 1)
    assert [ln.get_label() for ln in ax_f.lines if not ln.get_label().startswith("_")] == ["ReLU", "identity"]


def test_precision_agreement_stays_near_the_unit_roundoff() -> None:
    theta = np.array([0.3, 1.5, 2.9])
    fig = plot.precision_agreement(MODEL, [0.3, 1.0, -0.7], theta=theta, norms=(0.5, 2.0))
    for ax in fig.axes:
        lines = [ln for ln in ax.lines if ln.get_label().startswith("‖w‖")]
        assert len(lines) == 2
        for ln in lines:
            np.testing.assert_allclose(ln.get_xdata(), theta)
            y = ln.get_ydata()
            # float64 against 50 digits: a few ulps times the cancellation of the result's terms (< 100 here)
            assert np.all((y >= 1e-18) & (y < 100 * 2.0**-52)), y


def test_ste_family_study_plots_the_measured_norms_and_cosines() -> None:
    from popgrad.families import FamilyMember

    members = [
        FamilyMember("leaky_relu", 0.0, 0.0, True, 1e-17, True),
        FamilyMember("leaky_relu", 1.0, 0.0, True, 0.25, False),
        FamilyMember("leaky_relu", 0.5, 0.0, True, 0.125, False),
        FamilyMember("clipped_relu", 2.0, 0.0, True, 0.0, True),
    ]
    fig = plot.ste_family_study(MODEL, members, alphas=(0.0, 1.0), clips=(2.0,), num=41)
    ax_a, ax_c, ax_t = fig.axes
    (leaky,) = [ln for ln in ax_a.lines if len(ln.get_xdata()) > 2]
    assert leaky.get_xdata().tolist() == [0.0, 0.5, 1.0]  # sorted by alpha
    assert leaky.get_ydata().tolist() == [1e-17, 0.125, 0.25]
    (clip,) = [ln for ln in ax_c.lines if ln.get_linestyle() != ":"]
    assert clip.get_ydata().tolist() == [1e-18]  # an exact 0 drawn at the floor
    # cosines recomputed from coarse_grad and grad vectors in the test's own plane, with Lemma 2's best v;
    # alpha = 0 is the ReLU STE and alpha = 1 the identity STE, and clipped_relu(2) is given by its window
    theta = np.linspace(0, np.pi, 41)[1:-1]
    v, w = v_best(MODEL, theta), w_test(MODEL, theta)
    expected = [
        cos_w(MODEL, v, w, "relu"),
        cos_w(MODEL, v, w, "identity"),
        cos_w(MODEL, v, w, pg.ste.piecewise_constant([0.0, 2.0], [0.0, 1.0, 0.0])),
    ]
    assert len(ax_t.lines) == 3
    for line, cos in zip(ax_t.lines, expected, strict=True):
        np.testing.assert_allclose(line.get_xdata(), theta)
        np.testing.assert_allclose(line.get_ydata(), cos, rtol=RTOL, atol=1e-12)
