"""Speed of the K-filter closed forms against a loop over one-filter ``pg.Model`` calls of the same pairwise terms.

Run: ``python benchmarks/bench_multi_filter.py [--points 10000] [--chunk 2500] [--repeat 2]``.  Prints the ratio
(``MultiFilterModel`` time / loop time) for loss + grad + coarse_grad("relu") at K = K* = 8, m = 8, n = 100, measured
in one run (best of ``--repeat``), after checking that both give the same numbers; and the same for
``pg.expectations(model, v, w, "relu")``, which computes all four from one evaluation of the pair geometry.

The loop is what a user would write by hand from the one-filter model (binary sigma).  With ``C = [V; -V*]``
(F = K + K* filters), ``H = C C^T``, ``S = C 1``, and the pair loss ``L_ab = 1/2 E(sigma_a - sigma_b)^2`` of
``pg.Model([1], e_1)`` (m = 1, n = 2) at the student ``w_a`` rotated into the plane of ``(w_b, w_a)``:

* ``E sigma_a sigma_b = 1/2 - L_ab`` on one patch, 1/4 across patches, so
  ``f = 1/2 [ (sum S)^2 / 4 - sum_ab H_ab / 4 + sum_ab H_ab (1/2 - L_ab) ]``;
* ``df/dw_k = - sum_b H_kb dL_kb/dw_k`` (``Model.grad`` in the plane, rotated back);
* ``E g_k = sum_b H_kb q_kb + (alpha/2) w_k_hat ((V_k . 1) sum S - sum_b H_kb)`` with
  ``q_kb = E[z mu'(z.w_k) sigma(z.w_b)]`` = ``Model([0], e_1).coarse_grad - Model([1], e_1).coarse_grad`` in the plane
  and ``q_kk = alpha w_k_hat = E[z mu'(z.w_k)]``.

The loop runs over the K (F - 1) ordered pairs of a student filter with another filter (and the student pairs of the
loss), each call batched over all points.  Both sides are fed the points in chunks of ``--chunk`` (memory).
"""

from __future__ import annotations

import argparse

import numpy as np
from bench_core import best_time, ours  # loss + grad + coarse_grad("relu"), any model family; best of repeats

import popgrad as pg

PAIR = pg.Model([1.0], [1.0, 0.0])  # L_ab, and q in the plane: teacher sigma(z . e1) with weight 1
SELF = pg.Model([0.0], [1.0, 0.0])  # teacher 0: coarse_grad = E[z mu'(z.w) sigma(z.w)]
ALPHA = 1.0 / np.sqrt(2.0 * np.pi)  # E[z 1{z.w > 0}] = w_hat / sqrt(2 pi)


def _frame(wa: np.ndarray, wb: np.ndarray):
    """The plane of (w_b, w_a): e1 = w_b_hat, e2 = unit component of w_a orthogonal to it; w_a's coordinates."""
    e1 = wb / np.linalg.norm(wb, axis=-1, keepdims=True)
    x = np.einsum("pi,pi->p", wa, e1)
    rest = wa - x[:, None] * e1
    y = np.linalg.norm(rest, axis=-1)
    e2 = np.divide(rest, y[:, None], out=np.zeros_like(rest), where=y[:, None] > 0)
    return e1, e2, np.stack([x, y], axis=-1)


def by_hand(v_star: np.ndarray, w_star: np.ndarray, v: np.ndarray, w: np.ndarray):
    """loss (P,), grad_v (P, K, m), grad_w (P, K, n), E g_relu (P, K, n) from K = 1 Model calls, pair by pair."""
    p, k = v.shape[:2]
    c = np.concatenate([v, np.broadcast_to(-v_star, (p, *v_star.shape))], axis=1)  # (P, F, m)
    f_all = np.concatenate([w, np.broadcast_to(w_star, (p, *w_star.shape))], axis=1)  # (P, F, n)
    nf = c.shape[1]
    h = np.einsum("pam,pbm->pab", c, c)
    s = c.sum(-1)
    kappa = np.full((p, nf, nf), 0.5)  # E sigma_a sigma_b on one patch
    grad_w = np.zeros_like(w)
    coarse = np.zeros_like(w)
    for a in range(nf):
        for b in range(nf):
            if a >= k or (b < k and b <= a):
                continue  # teacher pairs below; a student with a teacher as (student, teacher); students once
            e1, e2, xy = _frame(f_all[:, a], f_all[:, b])
            loss_ab = PAIR.loss([1.0], xy)
            kappa[:, a, b] = kappa[:, b, a] = 0.5 - loss_ab
            _, g2 = PAIR.grad([1.0], xy)  # dL_ab / d(coordinates of w_a)
            grad_w[:, a] -= h[:, a, b, None] * (g2[:, :1] * e1 + g2[:, 1:] * e2)
            _, q_self = SELF.coarse_grad([1.0], xy, "relu")
            _, q_pair = PAIR.coarse_grad([1.0], xy, "relu")
            q = q_self - q_pair
            coarse[:, a] += h[:, a, b, None] * (q[:, :1] * e1 + q[:, 1:] * e2)
            if b < k:  # the same pair seen from filter b
                e1, e2, xy = _frame(f_all[:, b], f_all[:, a])
                _, g2 = PAIR.grad([1.0], xy)
                grad_w[:, b] -= h[:, b, a, None] * (g2[:, :1] * e1 + g2[:, 1:] * e2)
                _, q_self = SELF.coarse_grad([1.0], xy, "relu")
                _, q_pair = PAIR.coarse_grad([1.0], xy, "relu")
                q = q_self - q_pair
                coarse[:, b] += h[:, b, a, None] * (q[:, :1] * e1 + q[:, 1:] * e2)
    for b in range(k, nf):  # teacher-teacher pairs: the same plane for every point
        for a in range(k, b):
            e1, e2, xy = _frame(f_all[:1, a], f_all[:1, b])
            kappa[:, a, b] = kappa[:, b, a] = 0.5 - PAIR.loss([1.0], xy)[0]
    sum_s = s.sum(-1)
    loss = 0.5 * (0.25 * sum_s**2 - 0.25 * h.sum((-2, -1)) + np.sum(h * kappa, axis=(-2, -1)))
    grad_c = 0.25 * sum_s[:, None, None] - 0.25 * c.sum(1, keepdims=True) + np.einsum("pab,pbm->pam", kappa, c)
    w_hat = w / np.linalg.norm(w, axis=-1, keepdims=True)
    coarse += h[:, np.arange(k), np.arange(k), None] * ALPHA * w_hat  # q_kk = E[z 1{z.w_k > 0}]
    own = v.sum(-1) * sum_s[:, None] - h[:, :k].sum(-1)
    coarse += 0.5 * ALPHA * own[..., None] * w_hat
    return loss, grad_c[:, :k], grad_w, coarse


def chunked(fn, v: np.ndarray, w: np.ndarray, chunk: int):
    parts = [fn(v[i : i + chunk], w[i : i + chunk]) for i in range(0, len(v), chunk)]
    return [np.concatenate(x) for x in zip(*parts, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=10**4)
    parser.add_argument("--chunk", type=int, default=2500)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--m", type=int, default=8)
    parser.add_argument("--n", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    k, m, n = args.k, args.m, args.n
    v_star, w_star = rng.normal(size=(k, m)), rng.normal(size=(k, n))
    v, w = rng.normal(size=(args.points, k, m)), rng.normal(size=(args.points, k, n))
    model = pg.MultiFilterModel(v_star, w_star)

    def run_ours():
        return chunked(lambda a, b: ours(model, a, b), v, w, args.chunk)

    def run_loop():
        return chunked(lambda a, b: by_hand(v_star, w_star, a, b), v, w, args.chunk)

    check = slice(0, min(200, args.points))
    for name, a, b in zip(
        ("loss", "grad_v", "grad_w", "coarse_grad"),
        ours(model, v[check], w[check]),
        by_hand(v_star, w_star, v[check], w[check]),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10 * np.abs(b).max(), err_msg=name)  # the same numbers

    def run_engine():  # one evaluation shared by loss, gradient and coarse gradient
        return chunked(lambda a, b: [pg.expectations(model, a, b, "relu").loss.value], v, w, args.chunk)

    t_ours = best_time(run_ours, args.repeat)
    t_loop = best_time(run_loop, args.repeat)
    t_engine = best_time(run_engine, args.repeat)
    print(
        f"points={args.points} K=K*={k} m={m} n={n} (chunks of {args.chunk}): MultiFilterModel {t_ours:.3f} s, "
        f"loop over K=1 Model calls ({k * (2 * k - 1)} ordered pairs) {t_loop:.3f} s, ratio {t_ours / t_loop:.2f}; "
        f"pg.expectations (all four in one evaluation) {t_engine:.3f} s, ratio {t_engine / t_loop:.2f}"
    )


if __name__ == "__main__":
    main()
