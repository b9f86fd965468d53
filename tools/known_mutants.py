"""Twelve small, realistic bugs ("known mutants") and the subset of tests that must catch each (issue 15).

Each mutant replaces one exact piece of text in one module of popgrad.  ``python tools/mutation.py known``
applies each in a scratch copy of the working tree, runs its subset of tests there and reports which test
killed it (``docs/mutation.md``); ``tests/test_known_mutants.py`` checks in CI, in milliseconds, that every
``old`` text still occurs exactly once in its module, so that this list cannot silently rot when the code
changes (a mutant whose text no longer occurs must be recreated on the new code).

Plain data, no imports: the test and the tool read it with ``runpy``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KnownMutant:
    """One bug: ``old`` (occurring exactly once in ``module``) replaced by ``new``; ``tests``: pytest arguments
    (paths, node ids, ``-k`` expressions) of the subset that guards the module; ``killer``: the test expected to
    fail first (the prefix of its node id)."""

    name: str
    module: str
    old: str
    new: str
    tests: tuple[str, ...]
    killer: str
    why: str


KNOWN: tuple[KnownMutant, ...] = (
    KnownMutant(
        "correlation_tolerance_x100",
        "popgrad/claims/correlation.py",
        "tol = 64 * (model.n + 4) * EPS",
        "tol = 6400 * (model.n + 4) * EPS",
        ("tests/test_claims_power.py", "-k", "correlation"),
        "tests/test_claims_power.py::test_a_wrong_model_fails_the_claim[correlation:",
        "the correlation row's bound 100x looser: a 1e-12 relative error in E g would pass",
    ),
    KnownMutant(
        "eval_rows_under_wrong_names",
        "popgrad/cli.py",
        "for name, r in rows.items():",
        "for name, r in zip(sorted(rows), rows.values()):",
        ("tests/test_cli_rows.py",),
        "tests/test_cli_rows.py::test_eval_rows_are_the_models_numbers_for_each_ste",
        "`popgrad eval` prints the rows in the requested order under the names sorted: with the default order "
        "(identity, relu, clipped_relu) the ReLU row appears under the identity STE's name",
    ),
    KnownMutant(
        "uniform_thresholds_off_by_one",
        "popgrad/activation.py",
        "tuple(float(i * step) for i in range(k))",
        "tuple(float(i * step) for i in range(1, k + 1))",
        ("tests/test_activation.py",),
        "tests/test_activation.py::test_uniform_is_the_papers_quantizer",
        "the uniform quantizer's thresholds step, .., k step instead of 0, .., (k - 1) step",
    ),
    KnownMutant(
        "mc_stderr_is_the_standard_deviation",
        "popgrad/_moments.py",
        "stderr = np.sqrt(np.maximum(np.diag(cov), 0.0))",
        "stderr = np.sqrt(np.maximum(np.diag(var), 0.0))",
        ("tests/test_montecarlo.py", "-k", "standard_error or closed_form"),
        "tests/test_montecarlo.py::test_standard_error",
        "Monte Carlo vector errors sqrt(n) too large (the sample's, not the mean's); cov stays right, so a check "
        "recomputing errors from cov would not notice and every z-test would pass too easily",
    ),
    KnownMutant(
        "variogram_gradient_2pi",
        "popgrad/kernels/binary.py",
        "-1.0 / (math.pi * p.r)",
        "-1.0 / (2.0 * math.pi * p.r)",
        ("tests/test_core_exact.py", "tests/test_core_properties.py"),
        "tests/test_core_exact.py::test_toy_loss_and_grad",
        "grad of theta/pi with 2 pi for pi: df/dw half its value",
    ),
    KnownMutant(
        "loss_variogram_sign",
        "popgrad/assembly.py",
        "T, omega) - 0.5 * gh)",
        "T, omega) + 0.5 * gh)",
        ("tests/test_core_exact.py", "tests/test_core_properties.py"),
        "tests/test_core_exact.py::test_toy_loss_and_grad",
        "a sign in the loss's variogram term",
    ),
    KnownMutant(
        "theta_is_pi_minus_theta",
        "popgrad/geometry.py",
        "theta = xp.atan2(sin, cos)",
        "theta = xp.atan2(sin, -cos)",
        ("tests/test_geometry.py",),
        "tests/test_geometry.py::test_near_parallel_and_antiparallel_match_mpmath",
        "the angle computed as pi - theta",
    ),
    KnownMutant(
        "mc_last_partial_block_dropped",
        "popgrad/_schedule.py",
        "self.n_blocks = -(-n_samples // block)",
        "self.n_blocks = n_samples // block",
        ("tests/test_montecarlo.py", "-k", "every_requested_sample or closed_form"),
        "tests/test_montecarlo.py::test_every_requested_sample_is_drawn",
        "Monte Carlo chunking off by one: the last, partial block of samples is never drawn",
    ),
    KnownMutant(
        "hard_tanh_interval",
        "popgrad/ste.py",
        '"hard_tanh", partial(_window, lo=-1.0, hi=1.0), ((-1.0, 1.0, 1.0),)',
        '"hard_tanh", partial(_window, lo=0.0, hi=1.0), ((0.0, 1.0, 1.0),)',
        ("tests/test_ste.py",),
        "tests/test_ste.py::test_special_cases_are_the_general_formula_exactly",
        "the hard tanh STE's mu' on (0, 1) instead of (-1, 1), in its function and its pieces alike (a mismatch "
        "between the two is refused when the STE is built)",
    ),
    KnownMutant(
        "coarse_threshold_sign",
        "popgrad/kernels/coarse.py",
        "ratio(x_lo * cos - tau_b, sin), ratio(x_hi * cos - tau_b, sin)",
        "ratio(x_lo * cos + tau_b, sin), ratio(x_hi * cos + tau_b, sin)",
        ("tests/test_staircase.py",),
        "tests/test_staircase.py::test_orthogonal_filters_and_pieces_with_infinite_or_unit_ends",
        "the sign of the teacher's thresholds in E g's w-coefficient: invisible for the paper's binary sigma "
        "(threshold 0), wrong for every staircase",
    ),
    KnownMutant(
        "paper_q_missing_sqrt2",
        "popgrad/paper_integrals.py",
        "_SQRT1_2 / (w_norm * s)",
        "1.0 / (w_norm * s)",
        ("tests/test_paper_integrals.py",),
        "tests/test_paper_integrals.py::test_closed_forms_match_scipy_quadrature_of_the_definitions",
        "Lemma 7's q with erf(1/(|w| sin theta)): the 1/sqrt(2) of the standard normal lost",
    ),
    KnownMutant(
        "mc_mu_prime_at_the_teacher",
        "popgrad/_sampling.py",
        "student = pre[:K]",
        "student = pre[-K:]",
        ("tests/test_montecarlo.py", "-k", "closed_form"),
        "tests/test_montecarlo.py::test_full_matches_closed_form",
        "Monte Carlo's coarse gradient with mu' at the teacher's pre-activation z.w* instead of the student's",
    ),
)
