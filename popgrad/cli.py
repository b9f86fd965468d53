"""Command line: ``popgrad eval | verify | mc | descend | figures | families | multi-filter``.

Vectors are given comma-separated (``--v 1,-0.5,2``) or as a file: ``--v @weights.json`` (a JSON
list, or an object holding the argument's name, e.g. ``{"v": [...]}``), ``--v @weights.npz`` (the
array named like the argument) or ``--v @weights.npy``; arrays are loaded with
``allow_pickle=False``, files must be regular and at most 32 MiB, and values obey the Python
API's rules (real, finite, one axis); see :mod:`popgrad._cli_input`.

Bad input (a vector, a file, a number, an option, an output directory) exits with code 2 and a
one-line message on stderr naming the argument, never a traceback.  The output is written once
the command has finished: nothing is printed for bad input, and an output that cannot be written
(``> /dev/full``) exits with code 2; a reader that goes away (``| head``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ._cli_input import UsageError, flag_of, parse_vector
from ._progress import bar

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["main"]

STE_NAMES = ("identity", "relu", "clipped_relu")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``popgrad mc: error: argument --seed: ...`` (exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        _report(f"{self.prog}: error: {message} (see {self.prog} --help)")
        raise SystemExit(2)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        for action in self._actions:  # Python < 3.12 reads `--opt=--` as [], skipping the checks
            if action.option_strings and action.nargs in (None, "+") and getattr(parsed, action.dest, None) == []:
                expected = "one argument" if action.nargs is None else "at least one argument"
                self.error(f"argument {'/'.join(action.option_strings)}: expected {expected}")
        return parsed, extras


def _integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """argparse type: an integer in [minimum, maximum], else an error naming the option."""
    bounds = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected an integer {bounds}, got {text!r}")
        return value

    return convert


_SEED = _integer(0)
_MAX_WORKERS = 4 * (os.cpu_count() or 1)  # more would fork that many processes at once
_MAX_DPI = 600  # the widest figure is ~13 inches: 7800 pixels
_MAX_SAMPLES = 10**12  # days of sampling; 10^30 made monte_carlo list its chunks until MemoryError


def add_weight_args(p: argparse.ArgumentParser, *, student: bool = True) -> None:
    """--v-star, --w-star and (if ``student``) --v, --w."""
    p.add_argument("--v-star", required=True, help="teacher second layer v*, e.g. 1,1,-0.5")
    p.add_argument("--w-star", required=True, help="teacher filter w* (any non-zero norm), e.g. 1,0,0")
    if student:
        p.add_argument("--v", required=True, help="student second layer v (length m)")
        p.add_argument("--w", required=True, help="student filter w (length n)")


def _student(text: str, name: str, size: int) -> np.ndarray:
    """The student vector ``--v`` (``size`` = m) or ``--w`` (n), its length checked against the teacher's."""
    x = parse_vector(text, name)
    if x.shape[0] != size:
        raise UsageError(
            f"{flag_of(name)}: expected {size} entries, as many as {flag_of(name + '_star')}, got {x.shape[0]}"
        )
    return x


def _fmt_vec(x: np.ndarray) -> str:
    return "[" + ", ".join(f"{t: .6g}" for t in np.atleast_1d(x)) + "]"


def _cmd_eval(args: argparse.Namespace) -> int:
    from .models import Model

    model = Model(parse_vector(args.v_star, "v_star"), parse_vector(args.w_star, "w_star"))
    v, w = _student(args.v, "v", model.m), _student(args.w, "w", model.n)
    theta = float(model.theta(w))
    loss = float(model.loss(v, w))
    gv, gw = model.grad(v, w)
    rows = {}
    for name in args.ste:
        _, g = model.coarse_grad(v, w, ste=name)
        c = model.correlation(v, w, ste=name)
        rows[name] = {
            "coarse_grad_w": g.tolist(),
            "inner_w": float(c.inner_w),
            "cos_w": float(c.cos_w),
            "cos": float(c.cos),
        }
    if args.json:
        out = {"theta": theta, "loss": loss, "grad_v": gv.tolist(), "grad_w": gw.tolist(), "ste": rows}
        print(json.dumps(out, indent=2))
        return 0
    print(f"theta     {theta:.12g} rad ({np.degrees(theta):.6g} deg)")
    print(f"loss f    {loss:.12g}")
    print(f"df/dv     {_fmt_vec(gv)}")
    print(f"df/dw     {_fmt_vec(gw)}")
    print()
    print(f"{'STE':<14}{'<E g, df/dw>':>14}{'cos_w':>11}{'cos(v,w)':>11}   E g (w-part)")
    for name, r in rows.items():
        print(f"{name:<14}{r['inner_w']:>14.6g}{r['cos_w']:>11.6f}{r['cos']:>11.6f}   {_fmt_vec(r['coarse_grad_w'])}")
    return 0


def _cmd_figures(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import plot
    from .models import Model

    if (args.v_star is None) != (args.w_star is None):
        raise UsageError("--v-star and --w-star: give both (a teacher) or neither (the README's teacher)")
    model = None
    if args.v_star is not None:
        model = Model(parse_vector(args.v_star, "v_star"), parse_vector(args.w_star, "w_star"))
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"--out: {args.out!r} exists and is not a directory") from None
    except OSError as exc:
        raise UsageError(f"--out: cannot create the directory {args.out!r}: {exc.strerror or exc}") from None
    written = []
    try:
        figures = plot.gallery(model)
        for stem, fig in bar(figures, "popgrad figures", False if args.json else None, unit="figure"):
            path = out / f"{stem}.png"
            try:
                fig.savefig(path, dpi=args.dpi, metadata={"Software": None})
            except OSError as exc:
                raise UsageError(f"--out: cannot write {str(path)!r}: {exc.strerror or exc}") from None
            written.append(str(path))
            if not args.json:
                print(path)
    except ImportError as exc:  # matplotlib is an optional extra
        print(f"popgrad figures: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"figures": written}, indent=2))
    return 0


def _dask_client(address: str) -> Client:
    """A ``distributed.Client`` connected to the scheduler at ``address``, or a UsageError saying why not."""
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--scheduler needs Dask: pip install 'popgrad[dask]'") from None
    try:
        return Client(address, timeout=10)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--scheduler: cannot connect to a Dask scheduler at {address!r}: {exc}") from None


def _cluster_threads(client: Client) -> int:
    """The threads of a Dask cluster: at least as many Monte Carlo tasks are kept in flight."""
    return max(1, sum(client.nthreads().values()))


def _cmd_mc(args: argparse.Namespace) -> int:
    """Monte Carlo estimates +- stderr next to the closed forms, with z-scores."""
    from .models import Model
    from .montecarlo import monte_carlo

    model = Model(parse_vector(args.v_star, "v_star"), parse_vector(args.w_star, "w_star"))
    v, w = _student(args.v, "v", model.m), _student(args.w, "w", model.n)
    client = None if args.scheduler is None else _dask_client(args.scheduler)
    workers = args.workers if client is None else max(args.workers, _cluster_threads(client))
    try:
        mc = monte_carlo(
            model,
            v,
            w,
            ste=list(args.ste),
            n_samples=args.n_samples,
            seed=args.seed,
            method=args.method,
            workers=workers,
            executor=None if client is None else client.get_executor(),
            progress=None if not args.json else False,
        )
    except ValueError as exc:
        if "not finite" in str(exc):  # the moments overflow float64: the inputs' magnitudes are to blame
            raise UsageError(f"--v, --v-star, --w: {exc}") from None
        raise
    finally:
        if client is not None:
            client.close()
    gv, gw = model.grad(v, w)
    first = next(iter(mc.values()))
    rows = [("loss", first.loss, np.atleast_1d(model.loss(v, w))), ("grad_v", first.grad_v, gv)]
    if first.grad_w is not None:
        rows.append(("grad_w", first.grad_w, gw))
    rows += [(f"coarse_grad_w[{name}]", e.coarse_grad_w, model.coarse_grad(v, w, name)[1]) for name, e in mc.items()]
    table = []
    for name, est, ref in rows:
        mean, se = np.atleast_1d(est.value), np.atleast_1d(est.error)
        z = np.atleast_1d(est.z(np.reshape(ref, np.shape(est.value))))
        table.append(
            {
                "quantity": name,
                "estimate": mean.tolist(),
                "stderr": se.tolist(),
                "closed_form": np.atleast_1d(ref).tolist(),
                "z": z.tolist(),
            }
        )
    if args.json:
        out = {
            "n_samples": first.loss.n,
            "seed": args.seed,
            "method": args.method,
            "quantities": table,
            "max_abs_z": max(max(abs(x) for x in r["z"]) for r in table),
        }
        print(json.dumps(out, indent=2))
        return 0
    print(f"Monte Carlo ({args.method}, N = {first.loss.n}, seed {args.seed}) vs closed form")
    print(f"{'quantity':<32}{'estimate':>14} {'stderr':>11} {'closed form':>13} {'z':>7}")  # ' ': wide numbers
    for r in table:
        for k, (e, se, c, z) in enumerate(zip(r["estimate"], r["stderr"], r["closed_form"], r["z"], strict=True)):
            label = r["quantity"] if len(r["estimate"]) == 1 else f"{r['quantity']}[{k}]"
            print(f"{label:<32}{e:>14.6g} {se:>11.3g} {c:>13.6g} {z:>7.2f}")
    return 0


def _cmd_families(args: argparse.Namespace) -> int:
    from .families import ste_families

    rows = ste_families(seed=args.seed, progress=False if args.json else None)
    if args.json:
        print(json.dumps([r.__dict__ for r in rows], indent=2))
        return 0
    print(f"{'family':<14}{'param':>8}{'min <Eg,df/dw>/(v.v*)^2':>26}{'max |Eg|/|v*|^2 at spurious':>30}  verdict")
    for r in rows:
        verdict = ("correlated" if r.keeps_correlation else "NOT correlated") + (
            ", stable" if r.vanishes_at_spurious else ", unstable"
        )
        print(f"{r.family:<14}{r.param:>8.3g}{r.min_inner_w:>26.3g}{r.max_norm_at_spurious:>30.3g}  {verdict}")
    return 0


def _cmd_multi_filter(args: argparse.Namespace) -> int:
    from . import multi_filter_study as study

    keys = ("per_kind", "teachers", "starts", "steps")
    sizes = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    result = study.multi_filter_study(
        seed=args.seed, thorough=args.thorough, progress=False if args.json else None, **sizes
    )
    print(json.dumps(result.to_dict(), indent=2) if args.json else study.format_report(result))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from .verify import format_table, summary_line, verify

    keys = tuple(args.claim) if args.claim else None
    client = None if args.scheduler is None else _dask_client(args.scheduler)
    options = {} if client is None else {"executor": client.get_executor(), "workers": _cluster_threads(client)}
    try:
        report = verify(
            seed=args.seed, thorough=args.thorough, keys=keys, progress=False if args.json else None, mc_options=options
        )
    finally:
        if client is not None:
            client.close()
    if args.json:
        print(json.dumps(report.to_dict(points=args.points, strict=args.strict), indent=2))
    else:
        kind = "thorough" if report.thorough else "default"
        print(f"popgrad verify: {kind} battery, seed {report.seed}, {len(report.teachers)} teachers")
        print()
        print(format_table(report.results))
        print()
        print(f"{summary_line(report.results, args.strict)}  ({report.seconds:.1f} s)")
    return report.exit_status(args.strict)


def _rms(x: np.ndarray) -> float:
    """Root mean square of the entries, without overflow for entries near the largest float."""
    top = float(np.max(np.abs(x)))
    return top * float(np.sqrt(np.mean((x / top) ** 2))) if top > 0 else 0.0


def _cmd_descend(args: argparse.Namespace) -> int:
    from .dynamics import default_lr, descend
    from .models import Model

    model = Model(parse_vector(args.v_star, "v_star"), parse_vector(args.w_star, "w_star"))
    rng = np.random.default_rng(args.seed)
    v0 = _student(args.v, "v", model.m) if args.v else rng.standard_normal(model.m) * _rms(model.v_star)
    w0 = _student(args.w, "w", model.n) if args.w else rng.standard_normal(model.n)
    run = functools.partial(descend, model, v0, w0, args.ste, lr=args.lr, gtol=args.gtol, record="all")
    start = run(max_iter=0)  # every argument is checked and the start evaluated: its errors are the API's
    try:
        tr = run(max_iter=args.max_iter)
    except ValueError:  # from here on only the iterates can fail: they left the float64 range
        raise UsageError(
            f"--lr: coarse gradient descent diverged with lr {start.lr:.6g} (the iterates overflow float64); "
            f"give a smaller --lr (default 1/(m+1) = {default_lr(model):.6g}) or rescale --v-star"
        ) from None
    assert tr.v is not None and tr.w is not None  # record="all"
    steps: Sequence[int] = range(0, tr.loss.shape[0], args.every)
    if tr.loss.shape[0] - 1 not in steps:
        steps = [*steps, tr.loss.shape[0] - 1]
    if args.json:
        out = {
            "ste": args.ste,
            "lr": tr.lr,
            "reason": str(tr.reason[0]),
            "iterations": int(tr.n_iter[0]),
            "steps": [
                {
                    "t": int(t),
                    "loss": float(tr.loss[t, 0]),
                    "theta": float(tr.theta[t, 0]),
                    "w_norm": float(tr.w_norm[t, 0]),
                    "grad_v_norm": float(tr.grad_v_norm[t, 0]),
                    "coarse_grad_w_norm": float(tr.grad_w_norm[t, 0]),
                    "v": tr.v[t, 0].tolist(),
                    "w": tr.w[t, 0].tolist(),
                }
                for t in steps
            ],
        }
        print(json.dumps(out, indent=2))
        return 0
    print(f"coarse gradient descent, {args.ste} STE, lr {tr.lr:.6g}")
    print(f"{'t':>7} {'f':>15} {'theta':>11} {'|w|':>11} {'|df/dv|':>11} {'|E g|':>11}   v")  # ' ': wide numbers
    for t in steps:
        print(
            f"{t:>7} {tr.loss[t, 0]:>15.9g} {tr.theta[t, 0]:>11.6g} {tr.w_norm[t, 0]:>11.6g}"
            f" {tr.grad_v_norm[t, 0]:>11.4g} {tr.grad_w_norm[t, 0]:>11.4g}   {_fmt_vec(tr.v[t, 0])}"
        )
    print(f"stopped: {tr.reason[0]} after {tr.n_iter[0]} steps")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The parser of the `popgrad` command: one sub-command per task (eval, mc, families, ...)."""
    parser = _Parser(
        prog="popgrad",
        description="The straight-through estimator theory of Yin et al. (ICLR 2019), computable and checkable.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_eval, _add_mc, _add_families, _add_multi_filter, _add_verify, _add_descend, _add_figures):
        add(sub)
    return parser


def _add_eval(sub: argparse._SubParsersAction) -> None:
    """The ``eval`` command's arguments."""
    p = sub.add_parser(
        "eval",
        help="loss, gradients, coarse gradients and cosines at given weights",
        description="Evaluate the closed forms at one point.",
        epilog="example: popgrad eval --v-star 1,1,1 --w-star 1,0 --v 0.5,1,1 --w 0.3,1",
    )
    add_weight_args(p)
    p.add_argument("--ste", nargs="+", default=list(STE_NAMES), help="STEs to report (default: all three)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_eval)


def _add_mc(sub: argparse._SubParsersAction) -> None:
    """The ``mc`` command's arguments."""
    p = sub.add_parser(
        "mc",
        help="Monte Carlo estimates +- stderr next to the closed forms, with z-scores",
        description="Estimate loss, gradients and expected coarse gradients by Monte Carlo from the model's "
        "definition and compare with the closed forms (z = (estimate - closed form) / stderr).",
        epilog="example: popgrad mc --v-star 1,1,1 --w-star 1,0 --v 0.5,1,1 --w 0.3,1 --n-samples 100000",
    )
    add_weight_args(p)
    p.add_argument("--ste", nargs="+", default=list(STE_NAMES), help="STEs to estimate (default: all three)")
    p.add_argument(
        "--n-samples",
        type=_integer(2, _MAX_SAMPLES),
        default=10**5,
        help="number of samples, 2 to 10^12 (default 100000)",
    )
    p.add_argument("--seed", type=_SEED, default=0, help="non-negative integer seed (default 0)")
    p.add_argument("--method", choices=("full", "projected"), default="full", help="sampler (default full)")
    p.add_argument(
        "--workers",
        type=_integer(1, _MAX_WORKERS),
        default=1,
        help=f"worker processes, 1 to {_MAX_WORKERS} (default 1)",
    )
    p.add_argument(
        "--scheduler", metavar="ADDRESS", help="run on a Dask cluster, e.g. tcp://10.0.0.5:8786 (the dask extra)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_mc)


def _add_families(sub: argparse._SubParsersAction) -> None:
    """The ``families`` command's arguments."""
    p = sub.add_parser(
        "families",
        help="which leaky-ReLU / clipped-ReLU STEs keep the correlation and vanish at the spurious minimizers",
        description="Measure the leaky-ReLU (alpha in [0, 1]) and clipped-ReLU (c > 0) STE families.",
        epilog="example: popgrad families --seed 1 --json",
    )
    p.add_argument("--seed", type=_SEED, default=0, help="seed of the random teachers and students (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_families)


def _add_multi_filter(sub: argparse._SubParsersAction) -> None:
    """The ``multi-filter`` command's arguments."""
    p = sub.add_parser(
        "multi-filter",
        help="beyond the paper: correlation, descent, critical points and dynamics with K filters (measured)",
        description="Measure the STE theory on networks with K student and K* teacher filters "
        "(docs/multi_filter.md): positive correlation, descent, spurious minima, Algorithm 1 vs gradient descent.",
        epilog="example: popgrad multi-filter --seed 1 --starts 8 --json",
    )
    p.add_argument("--seed", type=_SEED, default=0, help="seed of the battery and the runs (default 0)")
    p.add_argument("--thorough", action="store_true", help="larger battery and more runs (slower)")
    for flag, what in (
        ("--per-kind", "battery points per kind"),
        ("--teachers", "teachers per (K, K*)"),
        ("--starts", "starts per (K, K*)"),
        ("--steps", "steps per run"),
    ):
        p.add_argument(flag, type=_integer(1), default=None, help=f"{what} (default: the study's sizes)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=_cmd_multi_filter)


def _add_verify(sub: argparse._SubParsersAction) -> None:
    """The ``verify`` command's arguments."""
    p = sub.add_parser(
        "verify",
        help="check every claim of the paper on a battery; one table",
        description=(
            "Check the paper's claims by computation at many points. Each row is PASS, REFUTED (the paper's "
            "statement as written is false: its counterexample is re-computed and confirmed; the corrected "
            "statement is its own row) or FAIL (a defect). Exit status 0 when no row FAILs, 1 otherwise."
        ),
        epilog="example: popgrad verify --seed 1 --json",
    )
    p.add_argument("--seed", type=_SEED, default=0, help="seed of the battery (default 0)")
    p.add_argument("--thorough", action="store_true", help="larger battery (slower)")
    p.add_argument("--strict", action="store_true", help="exit status 1 on a REFUTED row too, not only on a FAIL")
    p.add_argument("--claim", nargs="+", help="check only these claims (registry keys)")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the claims' Monte Carlo on a Dask cluster, e.g. tcp://10.0.0.5:8786 (the dask extra); "
        "the results do not change",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--points", action="store_true", help="with --json: include the points checked")
    p.set_defaults(func=_cmd_verify)


def _add_descend(sub: argparse._SubParsersAction) -> None:
    """The ``descend`` command's arguments."""
    p = sub.add_parser(
        "descend",
        help="coarse gradient descent with expected gradients (Algorithm 1)",
        description="Run Algorithm 1 from given (--v, --w) or random (--seed) initial weights.",
        epilog="example: popgrad descend --v-star 1,-1,0.5 --w-star 1,0 --ste clipped_relu --every 50",
    )
    add_weight_args(p, student=False)
    p.add_argument("--v", help="initial v (default: random, see --seed)")
    p.add_argument("--w", help="initial w (default: random, see --seed)")
    p.add_argument("--ste", default="relu", choices=STE_NAMES, help="straight-through estimator (default relu)")
    p.add_argument("--lr", type=float, default=None, help="constant step (default 1/(m+1))")
    p.add_argument("--max-iter", type=_integer(0), default=5000, help="largest number of steps (default 5000)")
    p.add_argument("--gtol", type=float, default=1e-8, help="stop when |grad| <= gtol |v*|^2 (default 1e-8)")
    p.add_argument("--every", type=_integer(1), default=1, help="print every k-th step (default 1)")
    p.add_argument("--seed", type=_SEED, default=0, help="seed of the random initialisation (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_descend)


def _add_figures(sub: argparse._SubParsersAction) -> None:
    """The ``figures`` command's arguments."""
    p = sub.add_parser(
        "figures",
        help="write every figure of the gallery as PNG (needs the plot extra)",
        description="Write the gallery's figures (landscape, dynamics, finite samples, verification) as PNG files.",
        epilog="example: popgrad figures --out docs/figures (regenerates the README's gallery)",
    )
    p.add_argument("--out", required=True, help="directory to write the PNG files to (created if missing)")
    p.add_argument(
        "--dpi",
        type=_integer(1, _MAX_DPI),
        default=90,
        help=f"resolution of the PNG files, 1 to {_MAX_DPI} (default 90)",
    )
    p.add_argument("--v-star", default=None, help="teacher v* (default: the README's teacher 1,-0.5,2)")
    p.add_argument("--w-star", default=None, help="teacher w* (default: 1,0,0)")
    p.add_argument("--json", action="store_true", help="print the written paths as JSON")
    p.set_defaults(func=_cmd_figures)


_VECTOR_FLAGS = ("--v", "--w", "--v-star", "--w-star")


def _join_negative_vectors(argv: list[str]) -> list[str]:
    """``--w -1,2`` -> ``--w=-1,2``: argparse would read a leading minus as an option."""
    out: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg in _VECTOR_FLAGS:
            value = next(it, None)
            if value is None:
                out.append(arg)
            elif value.startswith("-") and value[1:2] in set("0123456789."):
                out.append(f"{arg}={value}")
            else:
                out += [arg, value]
        else:
            out.append(arg)
    return out


def _one_line(message: str) -> str:
    return message.replace("\r", "\\r").replace("\n", "\\n")


def _report(message: str) -> None:
    """One line on stderr; a stderr that cannot be written to is not worth a traceback."""
    with contextlib.suppress(OSError, ValueError):
        print(_one_line(message), file=sys.stderr, flush=True)


def _run(argv: list[str]) -> tuple[int, str]:
    """Parse and run; usage errors are reported here.  Returns (exit status, program name)."""
    try:
        args = build_parser().parse_args(_join_negative_vectors(argv))
    except SystemExit as exc:  # --help (0), or an argparse error already reported (2)
        return (exc.code if isinstance(exc.code, int) else 2), "popgrad"
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        with np.errstate(all="ignore"):  # as in the API's methods: an overflow surfaces as a ValueError
            return func(args), f"popgrad {args.command}"
    except (UsageError, ValueError, TypeError) as exc:
        _report(f"popgrad {args.command}: error: {exc}")
        return 2, f"popgrad {args.command}"


def _silence_stdout() -> None:
    """Point the stdout descriptor at /dev/null so the interpreter's final flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``popgrad`` command; returns the exit status (2 for bad input).

    The command's output is collected and written at the end, so bad input prints nothing on
    stdout and an output error is told apart from the command's own failures.
    """
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code, prog = _run(list(sys.argv[1:] if argv is None else argv))
    try:
        sys.stdout.write(buffer.getvalue())
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. `popgrad verify --json | head`: the reader left, nothing to report
        _silence_stdout()
    except OSError as exc:  # e.g. `> /dev/full`
        _silence_stdout()
        _report(f"{prog}: error: cannot write to standard output: {exc.strerror or exc}")
        return 2
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
