"""Command line: ``popgrad eval | verify | mc | descend | figures | families | multi-filter``.

Vectors are given comma-separated (``--v 1,-0.5,2``) or as a file: ``--v @weights.json`` (a JSON
list, or an object holding the argument's name, e.g. ``{"v": [...]}``) or ``--v @weights.npz``
(loaded with ``allow_pickle=False``; the array named like the argument).  Bad input exits with
code 2 and a message naming the argument.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["main"]

STE_NAMES = ("identity", "relu", "clipped_relu")


class UsageError(Exception):
    """Bad command-line input: reported on stderr with exit code 2."""


def parse_vector(text: str, name: str) -> np.ndarray:
    """A vector from ``"1,2,3"``, ``"@file.json"`` or ``"@file.npz"``."""
    if text.startswith("@"):
        return _load_vector(text[1:], name)
    parts = text.replace(" ", "").split(",")
    if "" in parts[:-1] or (len(parts) > 1 and parts[-1] == ""):
        raise UsageError(f"--{name.replace('_', '-')}: empty entry in {text!r}; give every component")
    try:
        values = [float(x) for x in parts if x != ""]
    except ValueError:
        raise UsageError(f"--{name.replace('_', '-')}: expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise UsageError(f"--{name.replace('_', '-')}: empty vector")
    return np.array(values)


def _load_vector(path: str, name: str) -> np.ndarray:
    flag = f"--{name.replace('_', '-')}"
    try:
        if path.endswith(".npz"):
            with np.load(path, allow_pickle=False) as data:
                if name not in data.files:
                    raise UsageError(f"{flag}: {path} has no array named {name!r} (has {data.files})")
                return np.asarray(data[name], dtype=np.float64)
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{flag}: cannot read {path}: {exc}") from None
    if isinstance(data, dict):
        if name not in data:
            raise UsageError(f"{flag}: {path} has no key {name!r}")
        data = data[name]
    try:
        return np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageError(f"{flag}: {path} does not hold a list of numbers") from None


def add_weight_args(p: argparse.ArgumentParser, *, student: bool = True) -> None:
    """--v-star, --w-star and (if ``student``) --v, --w."""
    p.add_argument("--v-star", required=True, help="teacher second layer v*, e.g. 1,1,-0.5")
    p.add_argument("--w-star", required=True, help="teacher filter w* (any non-zero norm), e.g. 1,0,0")
    if student:
        p.add_argument("--v", required=True, help="student second layer v (length m)")
        p.add_argument("--w", required=True, help="student filter w (length n)")


def _fmt_vec(x: np.ndarray) -> str:
    return "[" + ", ".join(f"{t: .6g}" for t in np.atleast_1d(x)) + "]"


def _cmd_eval(args: argparse.Namespace) -> int:
    from .models import Model

    model = Model(parse_vector(args.v_star, "v_star"), parse_vector(args.w_star, "w_star"))
    v, w = parse_vector(args.v, "v"), parse_vector(args.w, "w")
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
    if args.dpi <= 0:
        raise UsageError(f"--dpi: must be a positive integer, got {args.dpi}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for stem, fig in plot.gallery(model):
            path = out / f"{stem}.png"
            fig.savefig(path, dpi=args.dpi, metadata={"Software": None})
            written.append(str(path))
            if not args.json:
                print(path)
    except ImportError as exc:  # matplotlib is an optional extra
        print(f"popgrad figures: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"figures": written}, indent=2))
    return 0


def _cmd_mc(args: argparse.Namespace) -> int:
    """Monte Carlo estimates +- stderr next to the closed forms, with z-scores."""
    from .models import Model
    from .montecarlo import monte_carlo

    model = Model(parse_vector(args.v_star, "v_star"), parse_vector(args.w_star, "w_star"))
    v, w = parse_vector(args.v, "v"), parse_vector(args.w, "w")
    mc = monte_carlo(
        model,
        v,
        w,
        ste=list(args.ste),
        n_samples=args.n_samples,
        seed=args.seed,
        method=args.method,
        workers=args.workers,
        progress=None if not args.json else False,
    )
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
    print(f"{'quantity':<32}{'estimate':>14}{'stderr':>12}{'closed form':>14}{'z':>8}")
    for r in table:
        for k, (e, se, c, z) in enumerate(zip(r["estimate"], r["stderr"], r["closed_form"], r["z"], strict=True)):
            label = r["quantity"] if len(r["estimate"]) == 1 else f"{r['quantity']}[{k}]"
            print(f"{label:<32}{e:>14.6g}{se:>12.3g}{c:>14.6g}{z:>8.2f}")
    return 0


def _cmd_families(args: argparse.Namespace) -> int:
    from .families import ste_families

    rows = ste_families(seed=args.seed)
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
    result = study.multi_filter_study(seed=args.seed, thorough=args.thorough, **sizes)
    print(json.dumps(result.to_dict(), indent=2) if args.json else study.format_report(result))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from .verify import format_table, summary_line, verify

    keys = tuple(args.claim) if args.claim else None
    report = verify(seed=args.seed, thorough=args.thorough, keys=keys)
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


def _cmd_descend(args: argparse.Namespace) -> int:
    from .dynamics import descend
    from .models import Model

    model = Model(parse_vector(args.v_star, "v_star"), parse_vector(args.w_star, "w_star"))
    rng = np.random.default_rng(args.seed)
    v0 = (
        parse_vector(args.v, "v")
        if args.v
        else rng.standard_normal(model.m) * np.linalg.norm(model.v_star) / np.sqrt(model.m)
    )
    w0 = parse_vector(args.w, "w") if args.w else rng.standard_normal(model.n)
    tr = descend(model, v0, w0, args.ste, lr=args.lr, max_iter=args.max_iter, gtol=args.gtol, record="all")
    if args.every < 1:
        raise UsageError(f"--every must be >= 1, got {args.every}")
    steps = range(0, tr.loss.shape[0], args.every)
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
    print(f"{'t':>7}{'f':>16}{'theta':>12}{'|w|':>12}{'|df/dv|':>12}{'|E g|':>12}   v")
    for t in steps:
        print(
            f"{t:>7}{tr.loss[t, 0]:>16.9g}{tr.theta[t, 0]:>12.6g}{tr.w_norm[t, 0]:>12.6g}"
            f"{tr.grad_v_norm[t, 0]:>12.4g}{tr.grad_w_norm[t, 0]:>12.4g}   {_fmt_vec(tr.v[t, 0])}"
        )
    print(f"stopped: {tr.reason[0]} after {tr.n_iter[0]} steps")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="popgrad",
        description="The straight-through estimator theory of Yin et al. (ICLR 2019), computable and checkable.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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

    p = sub.add_parser(
        "mc",
        help="Monte Carlo estimates +- stderr next to the closed forms, with z-scores",
        description="Estimate loss, gradients and expected coarse gradients by Monte Carlo from the model's "
        "definition and compare with the closed forms (z = (estimate - closed form) / stderr).",
        epilog="example: popgrad mc --v-star 1,1,1 --w-star 1,0 --v 0.5,1,1 --w 0.3,1 --n-samples 100000",
    )
    add_weight_args(p)
    p.add_argument("--ste", nargs="+", default=list(STE_NAMES), help="STEs to estimate (default: all three)")
    p.add_argument("--n-samples", type=int, default=10**5, help="number of samples (default 100000)")
    p.add_argument("--seed", type=int, default=0, help="non-negative integer seed (default 0)")
    p.add_argument("--method", choices=("full", "projected"), default="full", help="sampler (default full)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_mc)

    p = sub.add_parser(
        "families",
        help="which leaky-ReLU / clipped-ReLU STEs keep the correlation and vanish at the spurious minimizers",
        description="Measure the leaky-ReLU (alpha in [0, 1]) and clipped-ReLU (c > 0) STE families.",
        epilog="example: popgrad families --seed 1 --json",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random teachers and students")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_families)

    p = sub.add_parser(
        "multi-filter",
        help="beyond the paper: correlation, descent, critical points and dynamics with K filters (measured)",
        description="Measure the STE theory on networks with K student and K* teacher filters "
        "(docs/multi_filter.md): positive correlation, descent, spurious minima, Algorithm 1 vs gradient descent.",
        epilog="example: popgrad multi-filter --seed 1 --starts 8 --json",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the battery and the runs (default 0)")
    p.add_argument("--thorough", action="store_true", help="larger battery and more runs (slower)")
    for flag, what in (
        ("--per-kind", "battery points per kind"),
        ("--teachers", "teachers per (K, K*)"),
        ("--starts", "starts per (K, K*)"),
        ("--steps", "steps per run"),
    ):
        p.add_argument(flag, type=int, default=None, help=f"{what} (default: the study's sizes)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=_cmd_multi_filter)

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
    p.add_argument("--seed", type=int, default=0, help="seed of the battery (default 0)")
    p.add_argument("--thorough", action="store_true", help="larger battery (slower)")
    p.add_argument("--strict", action="store_true", help="exit status 1 on a REFUTED row too, not only on a FAIL")
    p.add_argument("--claim", nargs="+", help="check only these claims (registry keys)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--points", action="store_true", help="with --json: include the points checked")
    p.set_defaults(func=_cmd_verify)

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
    p.add_argument("--max-iter", type=int, default=5000, help="largest number of steps (default 5000)")
    p.add_argument("--gtol", type=float, default=1e-8, help="stop when |grad| <= gtol |v*|^2 (default 1e-8)")
    p.add_argument("--every", type=int, default=1, help="print every k-th step (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random initialisation (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_descend)

    p = sub.add_parser(
        "figures",
        help="write every figure of the gallery as PNG (needs the plot extra)",
        description="Write the gallery's figures (landscape, dynamics, finite samples, verification) as PNG files.",
        epilog="example: popgrad figures --out docs/figures (regenerates the README's gallery)",
    )
    p.add_argument("--out", required=True, help="directory to write the PNG files to (created if missing)")
    p.add_argument("--dpi", type=int, default=90, help="resolution of the PNG files (default: 90)")
    p.add_argument("--v-star", default=None, help="teacher v* (default: the README's teacher 1,-0.5,2)")
    p.add_argument("--w-star", default=None, help="teacher w* (default: 1,0,0)")
    p.add_argument("--json", action="store_true", help="print the written paths as JSON")
    p.set_defaults(func=_cmd_figures)
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``popgrad`` command; returns the exit status (2 for bad input)."""
    parser = build_parser()
    args = parser.parse_args(_join_negative_vectors(list(sys.argv[1:] if argv is None else argv)))
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (UsageError, ValueError, TypeError) as exc:
        print(f"popgrad {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `popgrad verify --json | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
