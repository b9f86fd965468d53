"""The command line is consistent across its subcommands: each has --help with an example, --json where
the output is data, weights from the command line or from JSON / .npz files, and bad input exits with
code 2 and a message naming the argument."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

import numpy as np
import pytest

from popgrad import cli
from tests._cli import POINT, TEACHER, run

ROOT = Path(__file__).resolve().parents[1]


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


SUBCOMMANDS = sorted(subcommands())


def test_the_subcommands() -> None:
    assert set(SUBCOMMANDS) == {"eval", "verify", "mc", "descend", "figures", "families", "multi-filter"}


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help_has_an_example(command: str) -> None:
    code, out, _ = run(command, "--help")
    assert code == 0
    assert f"example: popgrad {command}" in out
    example = out[out.index(f"example: popgrad {command}") + len("example: popgrad ") :].split("(")[0]
    parsed = cli.build_parser().parse_args(shlex.split(example))  # the example is valid syntax
    assert parsed.command == command


def test_eval_json_matches_the_table_and_the_model() -> None:
    import popgrad as pg

    code, out, _ = run("eval", *POINT, "--json")
    assert code == 0
    data = json.loads(out)
    model = pg.Model([1, -0.5, 2], [1, 0, 0])
    assert data["loss"] == float(model.loss([0.3, 1, -0.7], [0.2, 1, -0.4]))
    assert set(data["ste"]) == {"identity", "relu", "clipped_relu"}
    code, table, _ = run("eval", *POINT)
    assert code == 0 and f"{data['loss']:.12g}" in table


def test_mc_json_parses_and_agrees_with_eval() -> None:
    code, out, _ = run("mc", *POINT, "--n-samples", "2000", "--method", "projected", "--json")
    assert code == 0
    data = json.loads(out)
    _, ev, _ = run("eval", *POINT, "--json")
    (loss,) = [q for q in data["quantities"] if q["quantity"] == "loss"]
    assert loss["closed_form"] == [json.loads(ev)["loss"]]
    assert data["max_abs_z"] < 5  # fixed seed; a false alarm has probability < 6e-7 per component


def test_weights_from_json_and_npz_files(tmp_path: Path) -> None:
    (tmp_path / "v.json").write_text(json.dumps([0.3, 1, -0.7]))
    (tmp_path / "both.json").write_text(json.dumps({"w": [0.2, 1, -0.4], "v": [9, 9, 9]}))
    np.savez(tmp_path / "t.npz", v_star=np.array([1, -0.5, 2]), w_star=np.array([1.0, 0, 0]))
    _, want, _ = run("eval", *POINT, "--json")
    files = ["--v-star", f"@{tmp_path / 't.npz'}", "--w-star", f"@{tmp_path / 't.npz'}"]
    files += ["--v", f"@{tmp_path / 'v.json'}", "--w", f"@{tmp_path / 'both.json'}"]
    code, got, _ = run("eval", *files, "--json")
    assert code == 0 and json.loads(got) == json.loads(want)


def test_npz_is_loaded_without_pickle(tmp_path: Path) -> None:
    np.savez(tmp_path / "evil.npz", v=np.array([[1.0], "x"], dtype=object))
    code, _, err = run("eval", *TEACHER, "--v", f"@{tmp_path / 'evil.npz'}", "--w", "1,0,0")
    assert code == 2 and "--v" in err and "pickle" in err.lower()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["eval", *TEACHER, "--v", "1,x,2", "--w", "1,0,0"], "--v"),
        (["eval", *TEACHER, "--v", "1,1,1", "--w", "@/no/such/file.json"], "--w"),
        (["eval", *TEACHER, "--v", "1,1", "--w", "1,0,0"], "--v: expected 3 entries, as many as --v-star, got 2"),
        (["eval", *TEACHER, "--v", "1,1,1", "--w", "0,0,0"], "w is the zero vector"),
        (["eval", "--v-star", "1,1", "--w-star", "0,0", "--v", "1,1", "--w", "1,0"], "w_star"),
        (["eval", *POINT, "--ste", "sign"], "sign"),
        (["eval", "--v-star", "1,1,1"], "--w-star"),
        (["mc", *POINT, "--n-samples", "1"], "--n-samples"),
        (["mc", *POINT, "--n-samples", "ten"], "--n-samples"),
        (["mc", *POINT, "--method", "exact"], "--method"),
        (["mc", *POINT, "--seed", "-1"], "seed"),
        (["mc", *TEACHER, "--v", "1,1", "--w", "1,0,0"], "--v: expected 3 entries, as many as --v-star, got 2"),
        (["figures", "--out", "x", "--dpi", "0"], "--dpi"),
        (["figures", "--out", "x", "--dpi", "many"], "--dpi"),
        (["figures", "--out", "x", "--v-star", "1,1"], "--w-star"),
        (["figures", "--out", str(ROOT / "README.md")], "--out"),
    ],
)
def test_bad_input_exits_2_naming_the_argument(args: list[str], named: str) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert named in err
    assert out == ""


def test_figures_regenerates_the_readme_gallery(tmp_path: Path) -> None:
    code, out, _ = run("figures", "--out", str(tmp_path), "--dpi", "30", "--json")
    assert code == 0
    written = [Path(p) for p in json.loads(out)["figures"]]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)  # rendered headless (no pyplot)
    assert sorted(p.name for p in written) == sorted(p.name for p in (ROOT / "docs" / "figures").glob("*.png"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(f"docs/figures/{p.name}" in readme for p in written), "every figure is in the README's gallery"


def test_negative_vectors_after_a_flag() -> None:
    code, out, _ = run("eval", "--v-star", "1,-0.5", "--w-star", "-1,0", "--v", "-0.3,1", "--w", "-.5,1", "--json")
    assert code == 0
    assert json.loads(out)["theta"] == pytest.approx(np.arctan2(1, 0.5))


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["eval", "--v-star", "1,,2", "--w-star", "1,0", "--v", "1,2", "--w", "0,1"], "--v-star: empty entry"),
        (["descend", "--v-star", "1,1", "--w-star", "1,0", "--every", "0"], "--every: expected an integer >= 1"),
        (["descend", "--v-star", "1,1", "--w-star", "1,0", "--gtol", "-1"], "gtol must be a finite number >= 0"),
    ],
)
def test_more_bad_input_exits_2(argv: list[str], named: str) -> None:
    code, out, err = run(*argv)
    assert code == 2 and named in err and out == ""
