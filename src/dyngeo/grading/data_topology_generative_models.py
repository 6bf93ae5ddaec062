"""Checkers for the exercise set "What generative models do to topology"
(``exercises/15-data-topology-generative-models``).

Each checker draws its cases from ``seed``, has the answer called through ``ask`` and judges the
plain values that come back. Expected values come from the field's libraries (ripser, gudhi, SciPy's
assignment solver) or from a direct computation here; the functions of ``dyngeo.geometry.topology``
and ``dyngeo.metrics.distributions`` that answer an exercise are switched off while it runs.
"""

import functools

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist, pdist

from . import GradingError, checker, judge

__all__ = ["check_betti_at", "check_rips_stability_bound", "check_w2_assignment", "check_density_coverage",
           "check_farthest_points"]

TOP = "dyngeo.geometry.topology."
DIST = "dyngeo.metrics.distributions."


def _ripser(X, maxdim):
    from ripser import ripser

    return [np.asarray(d, dtype=np.float64) for d in ripser(X, maxdim=maxdim)["dgms"]]


def _alive(d, r, left="<=", right="<"):
    b, e = d[:, 0], d[:, 1]
    lo = b <= r if left == "<=" else b < r
    hi = r < e if right == "<" else r <= e
    return int((lo & hi).sum())


@functools.lru_cache(maxsize=4)
def _betti_cases(seed):
    """(name, diagrams, scales) for sampled spaces and a hand-made diagram with ties (cached per seed:
    the Rips diagrams of the sampled torus take a moment)."""
    rng = np.random.default_rng(seed)
    cases = []
    th = rng.uniform(0, 2 * np.pi, 80)
    circle = np.c_[np.cos(th), np.sin(th)] * rng.uniform(0.8, 1.5)
    cases.append(("a sampled circle", _ripser(circle, 1)))
    u = rng.normal(size=(50, 3))
    cases.append(("a sampled sphere", _ripser(u / np.linalg.norm(u, axis=1, keepdims=True), 2)))
    a, b = rng.uniform(0, 2 * np.pi, (2, 110))
    torus = np.c_[np.cos(a), np.sin(a), np.cos(b), np.sin(b)]
    cases.append(("a sampled flat torus in R^4", _ripser(torus, 1)))
    out = []
    for name, dgms in cases:
        # the scale half-way up the most persistent bar of the top dimension: the space's Betti numbers
        top = dgms[-1][np.argmax(dgms[-1][:, 1] - dgms[-1][:, 0])]
        out.append((name, dgms, [float(top.mean()), float(top[0]) * 0.5]))
    ties = [np.array([[0.0, np.inf], [0.0, 0.4], [0.0, 0.7], [0.0, 0.3]]),
            np.array([[0.2, 0.9], [0.4, 0.5], [0.45, 0.46], [0.7, 1.1]])]
    out.append(("a hand-made diagram (births and deaths exactly at r)", ties, [0.4, 0.7, 0.9]))
    return out


@checker(points=2, target="betti_at", forbid=[TOP + "betti"])
def check_betti_at(ask, seed):
    """Betti numbers at a scale: the features alive at r, birth <= r < death, the infinite one included."""
    for name, dgms, scales in _betti_cases(seed):
        for r in scales:
            got = ask("answer([d.copy() for d in dgms], r)", case=f"{name}, r = {r:.4g}", dgms=dgms, r=r)
            want = np.array([_alive(d, r) for d in dgms], dtype=float)
            hints = [
                (np.array([_alive(d, r, "<", "<") for d in dgms]), "a feature born exactly at r is alive at r: "
                 "use birth <= r"),
                (np.array([_alive(d, r, "<=", "<=") for d in dgms]), "a feature that dies exactly at r is no longer "
                 "alive at r: use r < death"),
                (np.array([_alive(d[np.isfinite(d[:, 1])], r) for d in dgms]), "the feature that never dies "
                 "(death = inf) is dropped; it is alive at every scale after its birth"),
                (np.array([int((d[:, 1] - d[:, 0] > r).sum()) for d in dgms]), "this counts the bars longer than "
                 "r (persistence > r), not the bars that contain r"),
            ]
            judge.close(got, want, "the Betti numbers", rtol=0, atol=1e-9, case=f"{name}, r = {r:.4g}", hints=hints)


def _stability_cases(rng):
    X = rng.normal(size=(25, 3))
    theta = rng.uniform(0, 2 * np.pi)
    Q = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    return [
        ("a small perturbation", X, X + rng.uniform(-0.05, 0.05, X.shape)),
        ("a rotation and a translation (an isometry)", X, X @ Q.T + rng.normal(size=3)),
        ("a scaling by 1.5", X, 1.5 * X),
        ("two unrelated clouds", X, rng.normal(size=(25, 3))),
    ]


@checker(points=2, target="rips_stability_bound")
def check_rips_stability_bound(ask, seed):
    """max_ij | |x_i − x_j| − |y_i − y_j| |, which bounds the bottleneck distance of the Rips diagrams."""
    rng = np.random.default_rng(seed)
    for name, X, Y in _stability_cases(rng):
        got = ask("answer(X.copy(), Y.copy())", case=name, X=X, Y=Y)
        dx, dy = pdist(X), pdist(Y)
        want = float(np.abs(dx - dy).max())
        shift = float(np.linalg.norm(X - Y, axis=1).max())
        hints = [
            (2 * shift, "2 max_i |x_i − y_i| is a valid bound too, but a looser one: it ignores that moving "
             "every point the same way (a translation, a rotation) changes no distance at all"),
            (shift, "max_i |x_i − y_i| compares the points, not the distances between them"),
            (float(np.abs(dx**2 - dy**2).max()), "these are squared distances; compare the distances themselves"),
            (float(np.abs(dx - dy).mean()), "the mean change of a distance is not a bound: take the maximum"),
        ]
        judge.close_number(got, want, "the bound", rtol=1e-9, atol=1e-12, case=name, hints=hints)


def _w2_cases(rng):
    n = int(rng.integers(30, 60))
    X = rng.normal(size=(n, 2))
    return [
        ("two Gaussian clouds in 2-D", X, rng.normal(size=(n, 2)) + [1.0, 0.0]),
        ("a cloud and a shuffled, shifted copy", X, (X + [0.3, -0.4])[rng.permutation(n)]),
        ("1-D samples", rng.normal(size=(n, 1)), rng.exponential(size=(n, 1))),
        ("points on a circle against a disc", *(_circle_disc(rng, n))),
    ]


def _circle_disc(rng, n):
    t = rng.uniform(0, 2 * np.pi, n)
    r = np.sqrt(rng.uniform(0, 1, n))
    s = rng.uniform(0, 2 * np.pi, n)
    return np.c_[np.cos(t), np.sin(t)], np.c_[r * np.cos(s), r * np.sin(s)]


@checker(points=2, target="w2_assignment", forbid=[DIST + "w2_empirical", "ot.emd", "ot.emd2", "ot.lp.emd",
                                                   "ot.lp.emd2"])
def check_w2_assignment(ask, seed):
    """Empirical W2 of eq. (6): the square root of the mean squared cost of the optimal assignment."""
    rng = np.random.default_rng(seed)
    for name, X, Y in _w2_cases(rng):
        got = ask("answer(X.copy(), Y.copy())", case=name, X=X, Y=Y)
        C = cdist(X, Y, "sqeuclidean")
        rows, cols = linear_sum_assignment(C)
        want = float(np.sqrt(C[rows, cols].mean()))
        D = np.sqrt(C)
        r1, c1 = linear_sum_assignment(D)
        hints = [
            (want**2, "this is W2 squared: take the square root of the mean cost"),
            (float(np.sqrt(C[rows, cols].sum())), "the cost is summed, not averaged over the n points (eq. 6 has 1/n)"),
            (float(D[r1, c1].mean()), "this is W1 (assignment of the distances, not their squares)"),
            (float(np.sqrt(C[np.arange(len(X)), np.arange(len(X))].mean())), "the points are matched by index: "
             "optimise over all permutations (scipy.optimize.linear_sum_assignment on the squared distances)"),
            (float(np.sqrt(C.min(1).mean())), "each point goes to its nearest neighbour, so several can share one: "
             "a transport plan must be a one-to-one matching"),
        ]
        judge.close_number(got, want, "W2", rtol=1e-8, atol=1e-10, case=name, hints=hints)


def _dc_reference(real, fake, k, strict=True, self_included=False, divide_k=True):
    D_rr = cdist(real, real)
    radius = np.sort(D_rr, axis=1)[:, k - 1 if self_included else k]
    D = cdist(real, fake)
    inside = D < radius[:, None] if strict else D <= radius[:, None]
    density = inside.sum() / ((k if divide_k else 1) * fake.shape[0])
    return np.array([density, inside.any(1).mean()])


@checker(points=2, target="density_coverage", forbid=[DIST + "density_coverage"])
def check_density_coverage(ask, seed):
    """Density and coverage of Naeem et al. (2020): k-NN balls around the real samples, open balls."""
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(int(rng.integers(60, 90)), 3))
    cases = [
        ("identical samples, k = 5", real, real.copy(), 5),
        ("disjoint samples (shifted by 50), k = 3", real, real + 50.0, 3),
        ("a fresh sample of the same law, k = 4", real, rng.normal(size=(120, 3)), 4),
        ("a sample crowded near the mean, k = 5", real, 0.3 * rng.normal(size=(100, 3)), 5),
        ("a few of the real points, k = 2", real, real[:10].copy(), 2),
    ]
    for name, R, F, k in cases:
        got = ask("tuple(answer(real.copy(), fake.copy(), k))", case=name, real=R, fake=F, k=k)
        pair = judge.sequence(got, "(density, coverage)", 2)
        got = np.array([judge.number(v, n) for v, n in zip(pair, ("density", "coverage"))])
        want = _dc_reference(R, F, k)
        hints = [
            (_dc_reference(R, F, k, strict=False), "the balls are open: a fake sample exactly on the boundary "
             "(distance = the k-th neighbour distance) is outside; use <, not <="),
            (_dc_reference(R, F, k, self_included=True), "the k-th nearest neighbour of a real sample is its k-th "
             "*other* real sample: the sample itself (distance 0) does not count"),
            (_dc_reference(R, F, k, divide_k=False), "density divides the count by k M (k neighbours per ball)"),
            (want[::-1], "density and coverage are swapped"),
        ]
        judge.close(got, want, "(density, coverage)", rtol=1e-9, atol=1e-12, case=name, hints=hints)


def _fps(X, m, first, update="min"):
    idx = [first]
    d = np.linalg.norm(X - X[first], axis=1)
    for _ in range(m - 1):
        i = int(np.argmax(d))
        idx.append(i)
        new = np.linalg.norm(X - X[i], axis=1)
        d = np.minimum(d, new) if update == "min" else (new if update == "last" else np.maximum(d, new))
    return idx, d


@checker(points=2, target="farthest_points", forbid=[TOP + "greedy_subsample", "ripser.ripser"])
def check_farthest_points(ask, seed):
    """Greedy maxmin subsampling from a given first point, and its covering radius."""
    rng = np.random.default_rng(seed)
    cases = [("a noisy circle", np.c_[np.cos(t := rng.uniform(0, 2 * np.pi, 200)), np.sin(t)]
              + 0.05 * rng.normal(size=(200, 2)), 12),
             ("a Gaussian cloud in R^5", rng.normal(size=(150, 5)), 20),
             ("a grid with a far outlier", np.r_[np.stack(np.meshgrid(np.arange(6.0), np.arange(6.0)), -1).reshape(-1, 2)
                                                 + 1e-3 * rng.normal(size=(36, 2)), [[40.0, 40.0]]], 5)]
    for name, X, m in cases:
        first = int(rng.integers(len(X)))
        got = ask("tuple(answer(X.copy(), m, first))", case=name, X=X, m=m, first=first)
        idx, radius = judge.sequence(got, "(indices, radius)", 2)
        idx = judge.array(idx, "the indices", kind="int").reshape(-1)
        want_idx, d = _fps(X, m, first)
        want_r = float(d.max())
        if idx.shape != (m,):
            raise GradingError(f"for {name}: expected {m} indices, got {idx.size}")
        if int(idx[0]) != first:
            raise GradingError(f"for {name}: the first index must be the given starting point {first}; got {int(idx[0])}")
        if not np.array_equal(idx, want_idx):
            cause = ""
            if np.array_equal(idx, _fps(X, m, first, "last")[0]):
                cause = (". Likely cause: each new point is the farthest from the last one chosen only; keep, for "
                         "every point, its distance to the nearest chosen point (a running minimum)")
            elif np.array_equal(idx, _fps(X, m, first, "max")[0]):
                cause = (". Likely cause: the running distance is updated with a maximum; a point's distance to a "
                         "set is its distance to the *nearest* chosen point (minimum)")
            elif len(np.unique(idx)) < m:
                cause = ". Likely cause: an index is chosen twice"
            raise GradingError(f"for {name} from point {first}: expected the indices {want_idx}, got {idx.tolist()}{cause}")
        before_last = _fps(X, m - 1, first)[1].max() if m > 1 else want_r
        judge.close_number(radius, want_r, "the covering radius", rtol=1e-9, atol=1e-12, case=name,
                           hints=[(float(before_last), "the radius is measured before the last point is added; "
                                   "update the distances after every choice, the last one included")])
