"""Empirical W2 (POT against SciPy's assignment, closed forms) and density/coverage (Naeem et al. 2020)."""

import numpy as np
import pytest
import torch

from dyngeo.metrics.distributions import density_coverage, frechet_distance, w2_empirical


def test_w2_assignment_equals_pot_and_lp_plan_is_a_permutation():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(80, 3)), rng.normal(size=(80, 3)) + [1.0, 0, 0]
    w_a, perm = w2_empirical(X, Y, method="assignment", return_plan=True)
    w_p, plan = w2_empirical(X, Y, method="pot", return_plan=True)
    assert w_a == pytest.approx(w_p, rel=1e-10)
    assert sorted(perm.tolist()) == list(range(80))
    # Birkhoff: an optimal vertex of the transport polytope is a permutation matrix / n
    assert np.count_nonzero(plan > 1e-12) == 80
    assert w_a == pytest.approx(np.sqrt(((X - Y[perm]) ** 2).sum(1).mean()), rel=1e-12)


def test_w2_closed_forms():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=200), rng.exponential(size=200)
    # in one dimension the sorted matching is optimal
    assert w2_empirical(x[:, None], y[:, None]) == pytest.approx(np.sqrt(((np.sort(x) - np.sort(y)) ** 2).mean()), rel=1e-10)
    X = rng.normal(size=(50, 4))
    assert w2_empirical(X, X[rng.permutation(50)]) == pytest.approx(0.0, abs=1e-12)
    shift = np.array([3.0, -4.0, 0.0, 0.0])
    assert w2_empirical(X, X + shift) == pytest.approx(5.0, rel=1e-10)  # a translation moves every point by |shift|
    # unequal sizes: a sample against two copies of itself is at distance 0
    assert w2_empirical(X, np.concatenate([X, X]), method="auto") == pytest.approx(0.0, abs=1e-7)


def test_w2_tensors_and_errors():
    X = torch.randn(10, 2, generator=torch.Generator().manual_seed(0))
    assert w2_empirical(X, X.double() + 1.0) == pytest.approx(np.sqrt(2.0), rel=1e-6)
    with pytest.raises(ValueError, match="equal size"):
        w2_empirical(X, X[:5], method="assignment")
    with pytest.raises(ValueError, match="same dimension"):
        w2_empirical(X, torch.zeros(10, 3))
    with pytest.raises(ValueError, match="method"):
        w2_empirical(X, X, method="sinkhorn")


def test_density_coverage_identical_and_disjoint():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 5))
    assert density_coverage(X, X, k=5) == (pytest.approx(1.0), pytest.approx(1.0))  # k points in each open ball
    assert density_coverage(X, X + 100.0, k=5) == (0.0, 0.0)
    d, c = density_coverage(X, rng.normal(size=(3000, 5)), k=5)
    assert 0.8 < d < 1.2 and c > 0.95  # a fresh sample of the same law
    d, c = density_coverage(X, X[:30], k=5)  # a tenth of the modes: faithful but not diverse
    assert d == pytest.approx(1.0, abs=0.35) and 0.1 <= c < 0.6  # each of the 30 lies in its own ball at least


def test_density_coverage_by_hand():
    real = np.array([[0.0], [1.0], [3.0], [7.0]])  # k=1 radii: 1, 1, 2, 4
    fake = np.array([[0.5], [2.5], [20.0]])
    # 0.5 lies in the balls of 0 and 1; 2.5 in the balls of 1? |2.5-1|=1.5 > 1 no; of 3: 0.5 < 2 yes; 20 in none
    assert density_coverage(real, fake, k=1) == (pytest.approx(3 / 3), pytest.approx(3 / 4))
    with pytest.raises(ValueError, match="k must be"):
        density_coverage(real, fake, k=4)


def test_frechet_distance_unchanged():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(4000, 2))
    assert frechet_distance(X, X + [1.0, 0.0]) == pytest.approx(1.0, abs=1e-6)
