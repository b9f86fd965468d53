"""Progress bars (tqdm) on the long commands: shown when asked, never with ``False``, automatic only on a terminal."""

from __future__ import annotations

import sys

import pytest

from popgrad import _progress
from popgrad.claims import make_battery, run
from popgrad.families import ste_families


def test_bar_yields_the_items_and_draws_only_when_asked(capsys):
    assert list(_progress.bar([1, 2, 3], "some work", True)) == [1, 2, 3]
    assert "some work" in capsys.readouterr().err
    assert list(_progress.bar([1, 2, 3], "some work", False)) == [1, 2, 3]
    assert capsys.readouterr().err == ""


def test_counter_draws_only_when_asked(capsys):
    done = _progress.counter(2, "steps here", True)
    done.update()
    done.update()
    done.close()
    assert "steps here" in capsys.readouterr().err
    quiet = _progress.counter(2, "steps here", False)
    quiet.update()
    quiet.close()
    assert capsys.readouterr().err == ""


def test_automatic_means_a_terminal_outside_ci(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.delenv("CI", raising=False)
    assert _progress.enabled(None) == (True, 1.0)  # and only after a second of work
    monkeypatch.setenv("CI", "true")
    assert _progress.enabled(None)[0] is False
    monkeypatch.delenv("CI")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert _progress.enabled(None)[0] is False
    assert _progress.enabled(True) == (True, 0.0) and _progress.enabled(False) == (False, 0.0)


@pytest.mark.parametrize("progress", [True, False])
def test_verify_and_families_show_their_bars(capsys, progress):
    battery = make_battery(0, False)
    results = run(battery, ("prop1_sum_zero",), progress=progress)
    assert [r.key for r in results] == ["prop1_sum_zero"]
    assert ("popgrad verify" in capsys.readouterr().err) is progress
    members = ste_families(alphas=[0.0], clips=[1.0], n_teachers=1, progress=progress)
    assert len(members) == 2
    assert ("popgrad families" in capsys.readouterr().err) is progress
