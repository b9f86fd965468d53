"""Monte Carlo (full and projected) against the closed forms, and the engine's own guarantees.

Statistical tests use fixed seeds and |z| < 5 per component.  With about 2,000 z-scores in this
file and Gaussian tails, P(any |z| >= 5) ~ 2000 * 5.7e-7 ~ 1e-3 if every estimator is right:
a failure is a bug to find, not noise to tune away.  Deterministic, so it either always passes
or always fails.
"""

from __future__ import annotations

import math
import os
import pickle
import subprocess
import sys
import textwrap
import tracemalloc
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import popgrad as pg
from popgrad import montecarlo as mcm
from tests._battery import BATTERY, IDS, STES

Z_MAX = 5.0


def _first(mc) -> pg.Expectations:
    """The loss and gradient fields are shared by every STE of one run."""
    return mc if isinstance(mc, pg.Expectations) else next(iter(mc.values()))


def _assert_z(est: pg.Quantity, reference: object, what: str) -> float:
    z = np.atleast_1d(est.z(reference))
    assert np.all(np.abs(z) < Z_MAX), f"{what}: z = {np.round(z, 2)}"
    return float(np.max(np.abs(z)))


def _check_against_closed_form(mc, point) -> float:
    model, v, w = point.model, point.v, point.w
    gv, gw = model.grad(v, w)
    first = _first(mc)
    worst = _assert_z(first.loss, model.loss(v, w), "loss")
    worst = max(worst, _assert_z(first.grad_v, gv, "grad_v"))
    worst = max(worst, _assert_z(first.grad_w, gw, "grad_w"))
    for name in STES:
        worst = max(worst, _assert_z(mc[name].coarse_grad_w, model.coarse_grad(v, w, name)[1], f"E g_{name}"))
    return worst


@pytest.mark.parametrize("point", BATTERY, ids=IDS)
def test_full_matches_closed_form(point):
    mc = pg.monte_carlo(point.model, point.v, point.w, ste=STES, n_samples=60_000, seed=11, method="full")
    _check_against_closed_form(mc, point)


@pytest.mark.parametrize("point", BATTERY, ids=IDS)
def test_projected_matches_closed_form(point):
    mc = pg.monte_carlo(point.model, point.v, point.w, ste=STES, n_samples=400_000, seed=12, method="projected")
    _check_against_closed_form(mc, point)


def _in_plane(est: pg.Quantity, plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return plane.T @ est.value, np.diag(plane.T @ est.cov @ plane)


@pytest.mark.parametrize("point", BATTERY[2:10], ids=IDS[2:10])
def test_full_vs_projected_in_plane_and_zero_outside(point):
    """In-plane coordinates agree (two independent estimates); full's out-of-plane part is 0."""
    kw = {"ste": STES, "seed": 3}
    full = pg.monte_carlo(point.model, point.v, point.w, n_samples=40_000, method="full", **kw)
    proj = pg.monte_carlo(point.model, point.v, point.w, n_samples=200_000, method="projected", **kw)
    plane = _first(full).info["plane"]
    if np.allclose(plane[:, 1], 0):
        plane = plane[:, :1]  # theta in {0, pi}: the plane is a line
    q, _ = np.linalg.qr(np.column_stack([plane, np.eye(plane.shape[0])]))
    complement = q[:, plane.shape[1] :]
    for key in [*STES, "grad_w"]:
        a = _first(full).grad_w if key == "grad_w" else full[key].coarse_grad_w
        b = _first(proj).grad_w if key == "grad_w" else proj[key].coarse_grad_w
        (ma, va), (mb, vb) = _in_plane(a, plane), _in_plane(b, plane)
        var = va + vb
        exact = var <= 1e-24 * np.max(var)  # a coordinate both estimators know exactly (grad_w along w)
        z = (ma - mb)[~exact] / np.sqrt(var[~exact])
        assert np.all(np.abs(z) < Z_MAX), f"{key} in plane: z = {z}"
        assert np.all(np.abs(ma - mb)[exact] < 1e-12)
        if complement.shape[1]:
            out = complement.T @ a.value
            se_out = np.sqrt(np.diag(complement.T @ a.cov @ complement))
            assert np.all(np.abs(out / se_out) < Z_MAX), f"{key} out of plane: z = {out / se_out}"
            assert np.allclose(complement.T @ b.value, 0.0, atol=1e-14)  # projected: exactly 0 there


@pytest.mark.parametrize("point", [BATTERY[3], BATTERY[5], BATTERY[9]], ids=[IDS[3], IDS[5], IDS[9]])
@pytest.mark.parametrize("method", ["full", "projected"])
def test_score_function_estimator(point, method):
    """The second unbiased estimator of df/dw agrees too (away from theta in {0, pi})."""
    n = 60_000 if method == "full" else 400_000
    mc = pg.monte_carlo(point.model, point.v, point.w, n_samples=n, seed=5, method=method, grad_w_estimator="score")
    _assert_z(mc.grad_w, point.model.grad(point.v, point.w)[1], "score grad_w")


def test_boundary_estimator_exact_toy_case():
    """m = 1, theta = pi/2: df/dw = -v v*/(2 pi |w|) u, by hand."""
    model = pg.Model([2.0], [0.0, 1.0])
    mc = pg.monte_carlo(model, [1.5], [0.5, 0.0], n_samples=200_000, seed=1, method="projected")
    _assert_z(mc.grad_w, [0.0, -3.0 / (2 * np.pi * 0.5)], "grad_w by hand")


def test_student_t_rows_remark_2():
    r"""Rotation-invariant rows: signs are distributed as for Gaussian rows, so f and df/dv are the
    Gaussian closed forms, and E g_mu (relu, identity: mu' scale-free) is the Gaussian one times
    E|t-radius| / E|Gaussian radius| = E[(chi2_nu/nu)^(-1/2)] = sqrt(nu/2) Gamma((nu-1)/2)/Gamma(nu/2)."""
    p = BATTERY[9]
    nu = 7.0
    mc = pg.monte_carlo(p.model, p.v, p.w, ste=["relu", "identity"], n_samples=100_000, seed=9, rows=mcm.student_t(nu))
    assert _first(mc).grad_w is None and _first(mc).info["rows"] == "student_t(7)"
    factor = math.sqrt(nu / 2) * math.gamma((nu - 1) / 2) / math.gamma(nu / 2)
    _assert_z(_first(mc).loss, p.model.loss(p.v, p.w), "t loss")
    _assert_z(_first(mc).grad_v, p.model.grad(p.v, p.w)[0], "t grad_v")
    for name in ("relu", "identity"):
        _assert_z(mc[name].coarse_grad_w, factor * p.model.coarse_grad(p.v, p.w, name)[1], f"t E g_{name}")


def test_w_zero_literal_loss_and_refusal():
    """At w = 0 the student outputs 0: f = v*'(I + 11')v*/8 (Lemma 1), df/dv = 0 sample by sample; the
    expectations (which include gradients, undefined at w = 0) are refused by every engine."""
    model = pg.Model([1.0, -2.0, 0.5], [1.0, 1.0])
    Z = mcm.draw_inputs(np.random.default_rng(2), 50_000, 3, 2)
    ps = mcm.per_sample(model, [0.3, 0.1, 0.2], [0.0, 0.0], Z, ste="identity")
    est = pg.Quantity(ps.loss.mean(), ps.loss.std(ddof=1) / np.sqrt(ps.loss.size))
    _assert_z(est, model.loss([0.3, 0.1, 0.2], [0.0, 0.0]), "loss at w = 0")
    assert np.all(ps.grad_v == 0)
    with pytest.raises(ValueError, match="zero vector"):
        pg.monte_carlo(model, [0.3, 0.1, 0.2], [0.0, 0.0], n_samples=100)


# ---------------------------------------------------------------------------------------------
# Convergence rate


def test_error_shrinks_like_inverse_sqrt_n():
    """RMS error over 16 seeds of (loss, E g_relu) vs N = 10^3..10^6: log-log slope -0.5 +- 0.1."""
    p = BATTERY[3]
    ref = np.concatenate([[p.model.loss(p.v, p.w)], p.model.coarse_grad(p.v, p.w, "relu")[1]])
    sizes = [10**3, 10**4, 10**5, 10**6]
    rms = []
    for n in sizes:
        errs = []
        for seed in range(16):
            mc = pg.monte_carlo(p.model, p.v, p.w, n_samples=n, seed=seed, method="projected", grad_w_estimator=None)
            errs.append(np.concatenate([[mc.loss.value], mc.coarse_grad_w.value]) - ref)
        rms.append(np.sqrt(np.mean(np.square(errs))))
    slope = np.polyfit(np.log(sizes), np.log(rms), 1)[0]
    assert abs(slope + 0.5) <= 0.1, f"slope {slope:.3f}, rms {rms}"


def test_standard_error_is_the_definition():
    """``Estimate.stderr`` is sqrt(s^2/N) with s^2 the unbiased sample variance, vector (cov) and scalar paths."""
    from popgrad._moments import estimate_of, moments_of

    x = np.random.default_rng(3).standard_normal((500, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -2.0]
    want = np.std(x, axis=0, ddof=1) / np.sqrt(500)
    for full in (True, False):
        est = estimate_of(moments_of(x, full=full))
        np.testing.assert_allclose(est.stderr, want, rtol=1e-12)
        np.testing.assert_allclose(est.mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(estimate_of(moments_of(x, full=True)).cov, np.cov(x.T) / 500, rtol=1e-12)


@pytest.mark.parametrize("n_samples", [2, 8191, 8193, 20000])
def test_every_requested_sample_is_drawn(n_samples):
    """Each estimate counts exactly ``n_samples`` samples, also when the last block is partial (blocks hold
    8192 samples at this size: m = 3, n = 2, the projected method)."""
    p = BATTERY[3]
    mc = pg.monte_carlo(p.model, p.v, p.w, ste="relu", n_samples=n_samples, seed=0, method="projected")
    assert {q.n for q in mc.fields.values() if q is not None} == {n_samples}


@pytest.mark.parametrize("method", ["full", "projected"])
def test_standard_errors_are_the_spread_over_seeds(method):
    """The reported errors of every field are the standard deviation of the estimates over independent seeds.

    S = 64 seeds of N = 2000 samples: (spread over seeds / root-mean-square reported error)^2 is about
    chi^2_63 / 63, so the ratio lies in [0.6, 1.5] except with probability below 1e-7 per component
    (P(chi^2_63 < 22.7) ~ 2e-9, P(chi^2_63 > 141.8) ~ 1e-8; 8 components per method).  An error sqrt(N) too
    large or too small, or one computed from the wrong variance, is far outside.
    """
    p = BATTERY[3]
    runs = [pg.monte_carlo(p.model, p.v, p.w, ste="relu", n_samples=2000, seed=s, method=method) for s in range(64)]
    for field in ("loss", "grad_v", "grad_w", "coarse_grad_w"):
        values = np.array([np.atleast_1d(getattr(r, field).value) for r in runs])
        errors = np.array([np.atleast_1d(getattr(r, field).error) for r in runs])
        known = np.all(errors == 0, axis=0)  # components the estimator knows exactly (out of plane): spread 0 too
        assert np.all(np.ptp(values[:, known], axis=0) == 0), field
        ratio = np.std(values[:, ~known], axis=0, ddof=1) / np.sqrt(np.mean(errors[:, ~known] ** 2, axis=0))
        assert np.all((ratio > 0.6) & (ratio < 1.5)), f"{method} {field}: spread / error = {np.round(ratio, 3)}"


# ---------------------------------------------------------------------------------------------
# Determinism, chunking, workers


def _all_numbers(mc) -> list[np.ndarray]:
    first = _first(mc)
    out = [np.atleast_1d(first.loss.value), np.atleast_1d(first.loss.error), first.grad_v.value, first.grad_v.cov]
    out += [first.grad_w.value, first.grad_w.cov]
    for e in mc.values():
        out += [e.coarse_grad_w.value, e.coarse_grad_w.cov]
    return out


@pytest.mark.parametrize("method", ["full", "projected"])
def test_same_numbers_for_any_chunk_size_and_workers(method):
    p = BATTERY[4]
    dim = p.model.n if method == "full" else 2
    n = 9 * mcm._block_size(method, p.model.m, dim) + 17  # 10 blocks, a ragged tail
    kw = {"ste": STES, "n_samples": n, "seed": 123, "method": method}
    ref = _all_numbers(pg.monte_carlo(p.model, p.v, p.w, **kw))
    block = mcm._block_size(method, p.model.m, dim)
    variants = [{"chunk_size": block}, {"chunk_size": 3 * block}, {"chunk_size": 10**9}, {"workers": 2}]
    variants.append({"executor": ThreadPoolExecutor(2), "chunk_size": 2 * block})
    for extra in variants:
        got = _all_numbers(pg.monte_carlo(p.model, p.v, p.w, **kw, **extra))
        for a, b in zip(ref, got, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=str(extra))
    other = pg.monte_carlo(p.model, p.v, p.w, **{**kw, "seed": 124})
    assert _first(other).loss.value != ref[0][0]


@pytest.fixture(scope="module")
def dask_cluster():
    """A distributed.LocalCluster of two worker processes (the dask extra; the test extra installs it)."""
    from distributed import LocalCluster

    with LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        yield cluster


def test_dask_cluster_bitwise_the_same_as_one_process(dask_cluster):
    """``executor=client.get_executor()`` on the cluster: bitwise the numbers of workers=1, and a custom STE from a
    lambda works there (Dask pickles with cloudpickle)."""
    from distributed import Client

    p = BATTERY[9]
    lam = pg.ste.custom(lambda x: np.exp(-0.5 * x * x), name="lambda_bump")
    with Client(dask_cluster) as client:
        for method in ("full", "projected"):
            kw = {"ste": [*STES, lam], "n_samples": 20_000, "seed": 21, "method": method, "chunk_size": 2048}
            ref = _all_numbers(pg.monte_carlo(p.model, p.v, p.w, **kw))
            got = _all_numbers(pg.monte_carlo(p.model, p.v, p.w, executor=client.get_executor(), workers=2, **kw))
            for a, b in zip(ref, got, strict=True):
                np.testing.assert_array_equal(a, b, err_msg=method)


def test_cli_mc_on_a_dask_scheduler(dask_cluster, capsys, monkeypatch):
    """``popgrad mc --scheduler ADDRESS``: the numbers of a local run; exit 2 and one line when the address is
    unreachable or malformed, or when Dask is not installed."""
    import json

    from popgrad.cli import main

    args = ["mc", "--v-star", "1,1,-0.5", "--w-star", "1,0", "--v", "0.5,1,1", "--w", "0.3,1", "--n-samples", "5000"]
    assert main([*args, "--json"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert main([*args, "--json", "--scheduler", dask_cluster.scheduler_address]) == 0
    assert json.loads(capsys.readouterr().out) == local
    for address in ("tcp://127.0.0.1:1", "nonsense://x"):
        assert main([*args, "--scheduler", address]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "--scheduler: cannot connect" in err and address in err, err
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    assert main([*args, "--scheduler", dask_cluster.scheduler_address]) == 2
    assert "pip install 'popgrad[dask]'" in capsys.readouterr().err


def test_cli_verify_on_a_dask_scheduler(dask_cluster, capsys):
    """``popgrad verify --scheduler ADDRESS``: the claims' Monte Carlo runs on the cluster and every number is
    the local run's (the rows that sample: leaky ReLU and staircase, full sampler; remark2, t rows)."""
    import json

    from popgrad.cli import main

    args = ["verify", "--json", "--claim", "leaky_relu", "staircase", "remark2"]
    assert main(args) == 0
    local = json.loads(capsys.readouterr().out)
    assert main([*args, "--scheduler", dask_cluster.scheduler_address]) == 0
    remote = json.loads(capsys.readouterr().out)
    assert [c["worst"] for c in remote["claims"]] == [c["worst"] for c in local["claims"]]
    assert [c["values"] for c in remote["claims"]] == [c["values"] for c in local["claims"]]
    assert main([*args, "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "--scheduler: cannot connect" in capsys.readouterr().err


def test_seed_sequence_and_int_seed_agree():
    p = BATTERY[3]
    a = pg.monte_carlo(p.model, p.v, p.w, n_samples=1000, seed=7)
    b = pg.monte_carlo(p.model, p.v, p.w, n_samples=1000, seed=np.random.SeedSequence(7))
    assert a.loss.value == b.loss.value


@pytest.mark.parametrize(
    "ste",
    [
        pg.ste.identity,
        pg.ste.relu,
        pg.ste.clipped_relu(),
        pg.ste.clipped_relu(2.5),
        pg.ste.hard_tanh(),
        pg.ste.leaky_relu(0.1),
        pg.ste.piecewise_constant([-1.0, 0.5], [0.2, 1.0, -0.3]),
        pg.ste.custom(np.ones_like, name="ones"),
    ],
    ids=lambda s: s.name,
)
def test_builtin_stes_pickle_as_themselves(ste):
    """Every built-in STE (and a custom one over a module-level function) pickles as itself, so worker
    processes need no wrapper (the former _PortableSTE)."""
    back = pickle.loads(pickle.dumps(ste))
    x = np.linspace(-3.0, 3.0, 13)
    assert back == ste and back.name == ste.name and np.array_equal(back.mu_prime(x), ste.mu_prime(x))


def test_progress_silent_when_not_a_tty(capsys):
    p = BATTERY[3]
    pg.monte_carlo(p.model, p.v, p.w, n_samples=1000, seed=0)
    assert capsys.readouterr().err == ""


def test_progress_bar_when_asked(capsys):
    """progress=True: a tqdm bar on stderr (tqdm.auto; outside Jupyter the text bar), closed at the end;
    the numbers do not depend on it."""
    p = BATTERY[3]
    kw = {"n_samples": 40_000, "seed": 0, "method": "projected", "chunk_size": 8192}
    quiet = pg.monte_carlo(p.model, p.v, p.w, **kw, progress=False)
    shown = pg.monte_carlo(p.model, p.v, p.w, **kw, progress=True)
    assert quiet.loss.value == shown.loss.value
    err = capsys.readouterr().err
    assert "popgrad monte_carlo" in err and "40.0k" in err, err


def test_progress_off_in_ci(monkeypatch):
    from popgrad import _schedule

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("CI", "true")
    assert _schedule._Progress(10, None).bar is None
    monkeypatch.delenv("CI")
    bar = _schedule._Progress(10, None)
    assert bar.bar is not None
    bar.close()


# ---------------------------------------------------------------------------------------------
# Reliability: memory, processes, pickling


ROOT = Path(__file__).resolve().parent.parent

_HUGE_RUN = """
    import resource
    from concurrent.futures import Executor, Future

    import popgrad as pg

    class Stop(Exception):
        pass

    class Cancelling(Executor):
        \"\"\"Runs the first task in submit(), then cancels the run.\"\"\"

        def __init__(self):
            self.submitted = 0

        def submit(self, fn, /, *args, **kwargs):
            self.submitted += 1
            if self.submitted > 1:
                raise Stop
            fut = Future()
            fut.set_result(fn(*args, **kwargs))
            return fut

    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) for line in f if line.startswith("VmSize:")) * 1024
    limit = vm + 400 * 2**20  # the working set of one chunk needs ~100 MB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    model = pg.Model([1.0, -0.5], [1.0, 0.0, 0.0])
    try:
        pg.monte_carlo(model, [0.5, 0.5], [1.0, 1.0, 0.0], n_samples=10**15, executor=Cancelling(), method="projected")
    except Stop:
        print("cancelled after the first chunk")
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status and limits RLIMIT_AS")
def test_memory_bounded_whatever_n_samples():
    """n_samples = 10**15 under an address-space limit of the interpreter + 400 MB: the first chunk runs and
    the run is cancelled (a MemoryError building the list of ~2e9 chunks up front, before the fix)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_HUGE_RUN)], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0 and "cancelled after the first chunk" in proc.stdout, proc.stderr[-2000:]


def test_full_method_block_memory_m_n_2000():
    """m = n = 2000: a block is one sample (4e6 entries of Z, 32 MB), not 16 (512 MB); peak traced memory of a
    run without covariances (which add (K n)^2 entries per vector quantity) below a generous 100 MB."""
    assert mcm._block_size("full", 2000, 2000) == 1
    rng = np.random.default_rng(0)
    model = pg.Model(rng.standard_normal(2000), rng.standard_normal(2000))
    v, w = rng.standard_normal(2000), rng.standard_normal(2000)
    tracemalloc.start()
    try:
        pg.monte_carlo(model, v, w, n_samples=3, method="full", covariance=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MB"


def test_workers_capped_at_the_chunks(monkeypatch):
    """workers=1000 for 3 chunks starts 3 processes (it forked 1000 before); the numbers are those of workers=1."""
    sizes = []
    original = ProcessPoolExecutor.__init__

    def recording(self, max_workers=None, *args, **kwargs):
        sizes.append(max_workers)
        original(self, max_workers, *args, **kwargs)

    monkeypatch.setattr(ProcessPoolExecutor, "__init__", recording)
    p = BATTERY[3]
    block = mcm._block_size("projected", p.model.m, 2)
    kw = {"n_samples": 3 * block, "seed": 1, "method": "projected", "chunk_size": block}
    many = pg.monte_carlo(p.model, p.v, p.w, workers=1000, **kw)
    one = pg.monte_carlo(p.model, p.v, p.w, **kw)
    assert sizes == [3]
    assert many.loss.value == one.loss.value and np.array_equal(many.coarse_grad_w.value, one.coarse_grad_w.value)


def test_unpicklable_custom_ste_says_what_to_do():
    """A custom STE from a lambda cannot travel to worker processes: a TypeError naming the STE and the
    remedies (module-level mu', threads, a cloudpickle executor such as Dask's), not a pickling traceback."""
    p = BATTERY[3]
    lam = pg.ste.custom(lambda x: (x > 0) * 1.0, name="lambda_relu")
    kw = {"ste": lam, "n_samples": 40_000, "seed": 0, "method": "projected", "chunk_size": 8192}
    with pytest.raises(TypeError, match=r"custom STE 'lambda_relu'.*module level.*ThreadPoolExecutor.*Dask"):
        pg.monte_carlo(p.model, p.v, p.w, workers=2, **kw)
    with pytest.raises(TypeError, match="module level"):
        pg.monte_carlo(p.model, p.v, p.w, executor=ProcessPoolExecutor(2), **kw)
    threads = pg.monte_carlo(p.model, p.v, p.w, executor=ThreadPoolExecutor(2), **kw)
    assert threads.loss.value == pg.monte_carlo(p.model, p.v, p.w, **kw).loss.value

    class LocalRows(mcm.GaussianRows):  # a class local to a function pickles by reference: it cannot
        pass

    kw = {**kw, "ste": "relu", "method": "full", "rows": LocalRows(name="local")}
    with pytest.raises(TypeError, match="the row distribution 'local' cannot be sent"):
        pg.monte_carlo(p.model, p.v, p.w, workers=2, **kw)


# ---------------------------------------------------------------------------------------------
# per_sample / draw_inputs: the literal definitions, checked by hand


def test_per_sample_by_hand():
    model = pg.Model([1.0, 2.0], [1.0, 0.0])
    Z = np.array([[[1.0, 1.0], [-1.0, 2.0]]])  # Zw = [2, 1] (w = [0, 1]... see below)
    v, w = np.array([0.5, -1.0]), np.array([1.0, 1.0])
    # Zw = [2, 1] -> s = [1, 1]; Zw* = [1, -1] -> t = [1, 0]; e = (0.5 - 1) - 1 = -1.5
    ps = mcm.per_sample(model, v, w, Z, ste=["identity", "clipped_relu"])
    assert ps.loss.tolist() == [1.125]
    assert ps.grad_v.tolist() == [[-1.5, -1.5]]
    # identity: Z^T (v e) = [1, 1]*(-0.75) + [-1, 2]*(1.5) = [-2.25, 2.25]
    assert ps.coarse_grad_w["identity"].tolist() == [[-2.25, 2.25]]
    # clipped: mu'([2, 1]) = [0, 0] (1 is not < 1)
    assert ps.coarse_grad_w["clipped_relu"].tolist() == [[0.0, 0.0]]


def test_draw_inputs_shape_and_rows():
    z = mcm.draw_inputs(np.random.default_rng(0), 5, 2, 3, rows=mcm.student_t(4))
    assert z.shape == (5, 2, 3)


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"n_samples": 1}, ValueError, "n_samples"),
        ({"n_samples": 1e6}, TypeError, "n_samples"),
        ({"n_samples": 2.5}, TypeError, "n_samples"),
        ({"n_samples": "100"}, TypeError, "n_samples"),
        ({"n_samples": True}, TypeError, "n_samples"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 1.5}, TypeError, "seed"),
        ({"seed": "x"}, TypeError, "seed"),
        ({"seed": None}, TypeError, "seed"),
        ({"method": "exact"}, ValueError, "method"),
        ({"ste": "sigmoid"}, ValueError, "ste"),
        ({"ste": []}, ValueError, "ste"),
        ({"ste": ["relu", "relu"]}, ValueError, "distinct"),
        ({"rows": "cauchy"}, ValueError, "rows"),
        ({"rows": mcm.student_t(5), "method": "projected"}, ValueError, "projected"),
        ({"workers": 0}, ValueError, "workers"),
        ({"chunk_size": 0}, ValueError, "chunk_size"),
        ({"executor": 3}, TypeError, "executor"),
        ({"grad_w_estimator": "fd"}, ValueError, "grad_w_estimator"),
        ({"v": [1.0]}, ValueError, "v"),
        ({"w": [0.0, 0.0, 0.0], "method": "projected"}, ValueError, "zero vector"),
    ],
)
def test_bad_input(kwargs, exc, match):
    model = pg.Model([1.0, 2.0], [1.0, 0.0, 0.0])
    args = {"v": [1.0, 1.0], "w": [0.0, 1.0, 0.0], "n_samples": 100, **kwargs}
    v, w = args.pop("v"), args.pop("w")
    with pytest.raises(exc, match=match):
        pg.monte_carlo(model, v, w, **args)


def test_bad_nu():
    with pytest.raises(ValueError, match="nu"):
        mcm.student_t(2.0)


def test_score_estimator_refuses_parallel_w():
    model = pg.Model([1.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="boundary"):
        pg.monte_carlo(model, [1.0], [2.0, 0.0], n_samples=10, grad_w_estimator="score")


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_mc_json(capsys):
    import json

    from popgrad.cli import main

    args = ["mc", "--v-star", "1,1,-0.5", "--w-star", "1,0", "--v", "0.5,1,1", "--w", "0.3,1"]
    assert main([*args, "--n-samples", "20000", "--seed", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    names = [r["quantity"] for r in out["quantities"]]
    assert names[:3] == ["loss", "grad_v", "grad_w"] and "coarse_grad_w[clipped_relu]" in names
    assert out["n_samples"] == 20000 and out["max_abs_z"] < Z_MAX
    assert main([*args, "--n-samples", "2000", "--method", "projected", "--ste", "relu"]) == 0
    table = capsys.readouterr().out
    assert "coarse_grad_w[relu][1]" in table and " z" in table
    assert main([*args, "--n-samples", "1"]) == 2
    assert "--n-samples" in capsys.readouterr().err


def test_engine_modules_do_not_import_the_checked_code():
    import ast
    import inspect

    from popgrad import _boundary, _exact_plane, _moments, _sampling, _schedule

    for mod in (mcm, _sampling, _boundary, _moments, _schedule, _exact_plane):
        tree = ast.parse(inspect.getsource(mod))
        names = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
        assert not names & {"assembly", "kernels", "models", "geometry", "Model"}, (mod.__name__, names)


@pytest.mark.parametrize("scale", [1e-250, 1e-170, 1e160, 1e200])
def test_exact_plane_norm_at_extreme_magnitudes(scale: float) -> None:
    """r = sqrt(|w|^2) from the exact rational |w|^2: float(|w|^2) under- or overflows at these scales."""
    from popgrad._exact_plane import exact_plane

    w = np.array([3.0, 4.0, 0.0]) * scale
    r, w_hat, _, _, _ = exact_plane(w, np.array([1.0, 0.0, 0.0])).floats()
    assert r == pytest.approx(5 * scale, rel=2**-52)
    np.testing.assert_allclose(w_hat, [0.6, 0.8, 0.0], rtol=2**-52)


# ---------------------------------------------------------------------------------------------
# The exact basis of the span of the filters (popgrad._exact_plane)


def test_exact_span_of_two_vectors_is_the_exact_plane_bit_for_bit():
    """For the one-filter model the span's basis is the exact plane's (w_hat, u), norms included, at any norm."""
    from popgrad._exact_plane import exact_plane, exact_span

    rng = np.random.default_rng(11)
    for trial in range(300):
        n = int(rng.integers(1, 7))
        w = rng.standard_normal(n) * 10.0 ** rng.uniform(-300, 300)
        ws = rng.standard_normal(n) * 10.0 ** rng.uniform(-5, 5)
        if trial % 5 == 0:
            ws = -3.0 * w  # exactly (anti)parallel
        span = exact_span(np.array([w, ws]))
        r, w_hat, u, _, sin = exact_plane(w, ws).floats()
        assert span.norms[0] == r
        assert np.array_equal(span.basis[:, 0], w_hat)
        if sin > 0:
            assert span.dim == 2 and np.array_equal(span.basis[:, 1], u)
        else:
            assert span.dim == 1


def test_exact_span_against_50_digits():
    """Basis orthonormal, coordinates reproduce the filters, and the perpendicular parts P_k w_a are accurate to
    ~1e-15 relative even 1e-12 from parallel (a float difference would keep ~1e-4 of them) and exactly 0 when
    parallel; a filter in the span of the others adds no dimension."""
    import mpmath as mp

    from popgrad._exact_plane import exact_span

    rng = np.random.default_rng(12)
    F = rng.standard_normal((6, 5))
    F[[0, 4]] = np.round(F[[0, 4]] * 8) / 8  # few-bit dyadics, so that the combination below is exact
    F[2] = F[0] + 1e-12 * F[1]  # nearly parallel to filter 0
    F[3] = -2.0 * F[1]  # parallel to filter 1 (an exact float multiple)
    F[5] = F[0] + 2.0 * F[4]  # in the span of 0 and 4, exactly
    span = exact_span(F, perp_of=3)
    Q = span.basis
    assert span.dim == 4  # 0, 1, 2 (distinct from 0), 4
    np.testing.assert_allclose(Q.T @ Q, np.eye(4), atol=4e-16)
    with mp.workdps(50):
        exact = [[mp.mpf(float(x)) for x in row] for row in F]
        for a in range(6):
            got = np.ldexp(span.coords[a], span.exponents[a]) @ Q.T
            assert np.max(np.abs(got - F[a])) <= 4e-16 * np.linalg.norm(F[a])
        for k in range(3):
            fk = exact[k]
            kk = mp.fsum(x * x for x in fk)
            for a in range(6):
                c = mp.fsum(x * y for x, y in zip(exact[a], fk, strict=True)) / kk
                ref = np.array([float(x - c * y) for x, y in zip(exact[a], fk, strict=True)])
                got = np.ldexp(span.perp[k, a], span.exponents[a]) @ Q.T
                scale = np.linalg.norm(ref)
                assert np.linalg.norm(got - ref) <= 1e-15 * scale + 1e-300, (k, a, scale)
                assert (scale == 0) == (not np.any(span.perp[k, a])), (k, a)
                assert abs(span.along[k, a] - float(c)) <= 2e-16 * abs(float(c)) + 1e-300


def _zeroes_its_input(x: np.ndarray) -> np.ndarray:
    out = np.ones_like(x)
    x *= 0.0
    return out


def test_custom_mu_prime_writing_to_its_input_changes_nothing_else():
    """A custom mu' gets its own copy of the pre-activations: the other STEs and df/dw are those of a run
    without it, bitwise."""
    p = BATTERY[9]
    rude = pg.ste.custom(_zeroes_its_input, name="rude")
    for method in ("full", "projected"):
        kw = {"n_samples": 5000, "seed": 4, "method": method}
        both = pg.monte_carlo(p.model, p.v, p.w, ste=[rude, "relu"], **kw)
        alone = pg.monte_carlo(p.model, p.v, p.w, ste="relu", **kw)
        assert np.array_equal(both["relu"].coarse_grad_w.value, alone.coarse_grad_w.value)
        assert np.array_equal(both["relu"].grad_w.value, alone.grad_w.value)


def test_per_sample_committee_staircase_by_hand():
    """The literal definitions for a committee (K = 2, K* = 1) and sigma = staircase([0, 1], [1, 2]):
    sigma(x) = 0, 1, 3 for x <= 0, 0 < x <= 1, x > 1."""
    act = pg.activation.staircase([0.0, 1.0], [1.0, 2.0])
    model = pg.MultiFilterModel([[0.5, 1.0]], [[1.0, 1.0]], activation=act)
    V, W = [[1.0, 2.0], [-1.0, 0.5]], [[1.0, 0.0], [0.0, 1.0]]
    Z = [[[1.0, -1.0], [2.0, 0.5]]]
    # student pre-activations: row 1 (1, -1) -> sigma (1, 0); row 2 (2, 0.5) -> (3, 1); teacher: 0 -> 0, 2.5 -> 3
    # y = 1*1 + 2*3 + (-1)*0 + 0.5*1 = 7.5, y* = 0.5*0 + 1*3 = 3, e = 4.5
    ps = mcm.per_sample(model, V, W, Z, ste=["identity", "relu"])
    assert ps.loss.tolist() == [10.125]
    assert ps.grad_v.tolist() == [[[4.5, 13.5], [0.0, 4.5]]]
    # g_k = sum_i z_i mu'(z_i w_k) V_ki e
    assert ps.coarse_grad_w["identity"].tolist() == [[[22.5, 0.0], [0.0, 5.625]]]
    assert ps.coarse_grad_w["relu"].tolist() == [[[22.5, 0.0], [4.5, 1.125]]]
