"""The checkers of the set "What generative models do to topology": mistakes lose points with a message
naming the cause, right answers written differently pass."""

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist, pdist

from dyngeo.grading.data_topology_generative_models import (check_betti_at, check_density_coverage,
                                                            check_farthest_points, check_rips_stability_bound,
                                                            check_w2_assignment)

from checking import accepts, rejects, solution_namespace

SOLUTION = solution_namespace("15-data-topology-generative-models.md")


# ------------------------------------------------------------------------------------------ betti_at


def test_betti_right_answers_pass():
    accepts(check_betti_at, SOLUTION["betti_at"])

    def with_torch(dgms, r):  # torch and a list of ints are fine
        return [int(((torch.as_tensor(d)[:, 0] <= r) & (torch.as_tensor(d)[:, 1] > r)).sum()) for d in dgms]

    accepts(check_betti_at, with_torch)


def test_betti_mistakes():
    rejects(check_betti_at, lambda dgms, r: np.array([((d[:, 0] < r) & (r < d[:, 1])).sum() for d in dgms]),
            "birth <= r")
    rejects(check_betti_at, lambda dgms, r: np.array([((d[:, 0] <= r) & (r <= d[:, 1])).sum() for d in dgms]),
            "r < death")
    rejects(check_betti_at, lambda dgms, r: np.array([((d[:, 0] <= r) & (r < d[:, 1]) & np.isfinite(d[:, 1])).sum()
                                                      for d in dgms]), "never dies")
    rejects(check_betti_at, lambda dgms, r: np.array([(d[:, 1] - d[:, 0] > r).sum() for d in dgms]), "persistence > r")


# ------------------------------------------------------------------------------- rips_stability_bound


def test_stability_right_answers_pass():
    accepts(check_rips_stability_bound, SOLUTION["rips_stability_bound"])

    def with_cdist(X, Y):
        return np.max(np.abs(cdist(X, X) - cdist(Y, Y)))

    accepts(check_rips_stability_bound, with_cdist)


def test_stability_mistakes():
    rejects(check_rips_stability_bound, lambda X, Y: 2 * np.linalg.norm(X - Y, axis=1).max(), "looser")
    rejects(check_rips_stability_bound, lambda X, Y: np.linalg.norm(X - Y, axis=1).max(), "not the distances")
    rejects(check_rips_stability_bound, lambda X, Y: np.abs(pdist(X, "sqeuclidean") - pdist(Y, "sqeuclidean")).max(),
            "squared")
    rejects(check_rips_stability_bound, lambda X, Y: np.abs(pdist(X) - pdist(Y)).mean(), "maximum")


# ------------------------------------------------------------------------------------- w2_assignment


def _assign(C):
    r, c = linear_sum_assignment(C)
    return C[r, c]


def test_w2_right_answers_pass():
    accepts(check_w2_assignment, SOLUTION["w2_assignment"])

    def with_torch(X, Y):  # the cost built with torch, a 0-d tensor back
        C = torch.cdist(torch.as_tensor(X), torch.as_tensor(Y)) ** 2
        return torch.as_tensor(_assign(C.numpy())).mean().sqrt()

    accepts(check_w2_assignment, with_torch)


def test_w2_mistakes():
    rejects(check_w2_assignment, lambda X, Y: _assign(cdist(X, Y, "sqeuclidean")).mean(), "squared")
    rejects(check_w2_assignment, lambda X, Y: np.sqrt(_assign(cdist(X, Y, "sqeuclidean")).sum()), "summed")
    rejects(check_w2_assignment, lambda X, Y: _assign(cdist(X, Y)).mean(), "W1")
    rejects(check_w2_assignment, lambda X, Y: np.sqrt(((X - Y) ** 2).sum(1).mean()), "matched by index")
    rejects(check_w2_assignment, lambda X, Y: np.sqrt(cdist(X, Y, "sqeuclidean").min(1).mean()), "one-to-one")


# ----------------------------------------------------------------------------------- density_coverage


def _dc(real, fake, k, strict=True, self_included=False, divide=True):
    radius = cKDTree(real).query(real, k=k if self_included else k + 1)[0][:, -1]
    D = cdist(real, fake)
    inside = D < radius[:, None] if strict else D <= radius[:, None]
    return inside.sum() / ((k if divide else 1) * len(fake)), inside.any(1).mean()


def test_density_coverage_right_answers_pass():
    accepts(check_density_coverage, SOLUTION["density_coverage"])
    accepts(check_density_coverage, lambda real, fake, k: list(_dc(real, fake, k)))


def test_density_coverage_mistakes():
    rejects(check_density_coverage, lambda r, f, k: _dc(r, f, k, strict=False), "open")
    rejects(check_density_coverage, lambda r, f, k: _dc(r, f, k, self_included=True), "other")
    rejects(check_density_coverage, lambda r, f, k: _dc(r, f, k, divide=False), "k M")
    rejects(check_density_coverage, lambda r, f, k: _dc(r, f, k)[::-1], "swapped")
    rejects(check_density_coverage, lambda r, f, k: (float("nan"), 1.0), "NaN")


# ------------------------------------------------------------------------------------ farthest_points


def test_farthest_points_right_answers_pass():
    accepts(check_farthest_points, SOLUTION["farthest_points"])

    def with_matrix(X, m, first):  # the full distance matrix, a list back
        D = cdist(X, X)
        idx = [first]
        for _ in range(m - 1):
            idx.append(int(D[:, idx].min(1).argmax()))
        return idx, D[:, idx].min(1).max()

    accepts(check_farthest_points, with_matrix)


def _fps(X, m, first, update):
    idx, d = [first], np.linalg.norm(X - X[first], axis=1)
    for _ in range(m - 1):
        idx.append(int(np.argmax(d)))
        new = np.linalg.norm(X - X[idx[-1]], axis=1)
        d = update(d, new)
    return idx, d


def test_farthest_points_mistakes():
    rejects(check_farthest_points, lambda X, m, f: (_fps(X, m, f, lambda d, n: n)[0], 0.0), "running minimum")
    rejects(check_farthest_points, lambda X, m, f: (_fps(X, m, f, np.maximum)[0], 0.0), "maximum")

    def radius_too_early(X, m, first):
        idx, _ = _fps(X, m, first, np.minimum)
        return idx, _fps(X, m - 1, first, np.minimum)[1].max()

    rejects(check_farthest_points, radius_too_early, "before the last point")
    rejects(check_farthest_points, lambda X, m, f: ([f] + [i for i in range(m) if i != f][: m - 1], 1.0),
            "expected the indices")
    rejects(check_farthest_points, lambda X, m, f: (list(range(m)), 1.0), "starting point")
