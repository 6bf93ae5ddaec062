"""The smoothed 1-NN two-sample statistic against a brute-force count, a Monte Carlo null and its definition."""

import itertools

import numpy as np
import pytest
import torch

from dyngeo.metrics.two_sample import (edge_marginals, graph_loss, null_moments, permutation_null, smoothed_1nn,
                                       t_statistic)

torch.set_num_threads(1)


def _brute_count(X0, X1):
    """Cross-sample nearest-neighbour edges by a double loop (no ties in continuous data)."""
    X = np.concatenate([X0, X1])
    labels = [0] * len(X0) + [1] * len(X1)
    count = 0
    for i in range(len(X)):
        best, arg = np.inf, -1
        for j in range(len(X)):
            if j != i:
                d = np.sqrt(((X[i] - X[j]) ** 2).sum())
                if d < best:
                    best, arg = d, j
        count += labels[i] != labels[arg]
    return count


def test_zero_and_small_temperature_give_the_hard_count():
    rng = np.random.default_rng(0)
    X0, X1 = rng.normal(size=(15, 3)), rng.normal(0.5, 1.0, size=(12, 3))
    want = _brute_count(X0, X1)
    a, b = torch.tensor(X0), torch.tensor(X1)
    assert float(smoothed_1nn(a, b, lam=0)) == want
    assert float(smoothed_1nn(a, b, lam=1e-4)) == pytest.approx(want, abs=1e-6)
    assert float(smoothed_1nn(a, b, lam=100.0)) != pytest.approx(want, abs=0.5)  # large λ smooths it away


def test_eq3_by_its_definition():
    rng = np.random.default_rng(1)
    X0, X1, lam = rng.normal(size=(6, 2)), rng.normal(size=(5, 2)), 0.7
    X = np.concatenate([X0, X1])
    lab = np.array([0] * 6 + [1] * 5)
    T = 0.0
    for i, j in itertools.permutations(range(11), 2):
        denom = sum(np.exp(-np.linalg.norm(X[i] - X[k]) / lam) for k in range(11) if k != i)
        T += (lab[i] != lab[j]) * np.exp(-np.linalg.norm(X[i] - X[j]) / lam) / denom
    assert float(smoothed_1nn(torch.tensor(X0), torch.tensor(X1), lam, eps=0)) == pytest.approx(T, rel=1e-10)
    assert float(smoothed_1nn(torch.tensor(X0), torch.tensor(X1), lam)) == pytest.approx(T, rel=1e-3)
    mu = edge_marginals(torch.tensor(X), lam, eps=0)
    assert torch.allclose(mu.sum(1), torch.ones(11, dtype=mu.dtype))
    assert torch.all(mu.diagonal() == 0)


def test_null_moments_exact_by_enumeration():
    """All C(8, 3) labellings of 8 points: the exact permutation mean and variance."""
    rng = np.random.default_rng(2)
    X = torch.tensor(rng.normal(size=(8, 2)))
    mu = edge_marginals(X, 0.5)
    Ts = []
    for ones in itertools.combinations(range(8), 3):
        lab = torch.zeros(8, dtype=mu.dtype)
        lab[list(ones)] = 1
        Ts.append(float((mu * (lab[:, None] != lab[None, :])).sum()))
    mean, var = null_moments(mu, 5, 3)
    assert float(mean) == pytest.approx(np.mean(Ts), rel=1e-10)
    assert float(mean) == pytest.approx(2 * 5 * 3 / 7, rel=1e-10)
    assert float(var) == pytest.approx(np.var(Ts), rel=1e-9)


def test_permutation_null_matches_the_moments():
    rng = np.random.default_rng(3)
    X0, X1 = torch.tensor(rng.normal(size=(20, 2))), torch.tensor(rng.normal(size=(30, 2)))
    T = permutation_null(X0, X1, 0.3, n_perm=20000, generator=torch.Generator().manual_seed(0))
    mean, var = null_moments(edge_marginals(torch.cat([X0, X1]), 0.3), 20, 30)
    assert float(T.mean()) == pytest.approx(float(mean), abs=4 * float(var.sqrt()) / np.sqrt(20000))
    assert float(T.var()) == pytest.approx(float(var), rel=0.05)


def test_t_is_standard_under_h0_and_negative_when_separated():
    gen = np.random.default_rng(4)
    ts = [float(t_statistic(torch.tensor(gen.normal(size=(40, 2))), torch.tensor(gen.normal(size=(40, 2))), 0.2))
          for _ in range(150)]
    assert abs(np.mean(ts)) < 0.3 and 0.7 < np.std(ts) < 1.3
    far = t_statistic(torch.tensor(gen.normal(size=(40, 2))), torch.tensor(gen.normal(4.0, 1.0, size=(40, 2))), 0.2)
    assert float(far) < -3


def test_graph_loss_gradient_is_finite_and_pulls_samples_together():
    X0 = torch.randn(30, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    X1 = (X0[:20] + 1.5).clone().requires_grad_(True)
    X1dup = torch.cat([X1, X1[:1]])  # a duplicated point: zero distance must not give NaN
    loss = graph_loss(X0, X1dup, 0.5)
    (g,) = torch.autograd.grad(loss, X1)
    assert torch.isfinite(g).all()
    # a gradient step lowers the loss (moves the shifted sample towards X0)
    with torch.no_grad():
        assert float(graph_loss(X0, torch.cat([X1 - 0.05 * g / g.norm(), X1[:1]]), 0.5)) < float(loss)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="same dimension"):
        smoothed_1nn(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="n0 \\+ n1"):
        null_moments(torch.zeros(5, 5), 2, 2)
    with pytest.raises(ValueError, match="lam"):
        smoothed_1nn(torch.randn(3, 2), torch.randn(3, 2), lam=-1)
