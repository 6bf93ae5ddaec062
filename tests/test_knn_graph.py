"""The kNN adjacency-spectral distance (Gong et al. 2025, eq. 3) against scikit-learn and NumPy."""

import numpy as np
import pytest
import torch
from sklearn.neighbors import kneighbors_graph

from dyngeo.geometry import knn_graph


def _reference_spectrum(X, k):
    # scikit-learn's row i lists the neighbours of i; the paper's A[i, j] = 1 when i is a neighbour of j
    A = kneighbors_graph(X, k, mode="connectivity", include_self=False).toarray().T
    lam = np.linalg.eigvals(A)
    return A, lam[np.lexsort((-lam.imag, -lam.real))]


@pytest.mark.parametrize("k", [1, 5, 20])
def test_adjacency_matches_scikit_learn(k):
    X = np.random.default_rng(k).normal(size=(60, 7))
    A_ref, _ = _reference_spectrum(X, k)
    A = knn_graph.knn_adjacency(torch.from_numpy(X), k)
    np.testing.assert_array_equal(A.numpy(), A_ref)
    assert (A.sum(0) == k).all() and (torch.diagonal(A) == 0).all()


@pytest.mark.parametrize("k", [5, 20])
def test_distance_matches_a_numpy_reference(k):
    rng = np.random.default_rng(0)
    X1 = rng.normal(size=(50, 4))
    X2 = X1 + 0.3 * rng.normal(size=X1.shape)
    _, l1 = _reference_spectrum(X1, k)
    _, l2 = _reference_spectrum(X2, k)
    ref = np.sqrt(np.sum(np.abs(l1 - l2) ** 2))
    got = knn_graph.spectral_distance(torch.from_numpy(X1), torch.from_numpy(X2), k)
    assert got == pytest.approx(ref, rel=1e-8, abs=1e-10)
    assert got > 0.1  # a perturbation that rewires the graph moves the spectrum


def test_self_distance_zero_and_symmetry():
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(40, 3)), rng.normal(size=(40, 5))
    for k in (5, 20):
        assert knn_graph.spectral_distance(X, X, k) == 0.0
        assert knn_graph.spectral_distance(X, Y, k) == pytest.approx(knn_graph.spectral_distance(Y, X, k), rel=1e-12)
        assert knn_graph.spectral_distance(X, Y, k, symmetric=True) == pytest.approx(
            knn_graph.spectral_distance(Y, X, k, symmetric=True), rel=1e-12)


def test_scaling_and_moving_the_cloud_keep_the_graph():
    X = np.random.default_rng(2).normal(size=(30, 3))
    assert knn_graph.spectral_distance(X, 3.0 * X + 1.0, 5) == 0.0


def test_symmetric_variant_is_the_sorted_real_spectrum():
    rng = np.random.default_rng(3)
    X1, X2 = rng.normal(size=(35, 2)), rng.normal(size=(35, 2))
    sym = lambda X: np.maximum(*(lambda A: (A, A.T))(kneighbors_graph(X, 5, include_self=False).toarray()))
    l1, l2 = (np.sort(np.linalg.eigvalsh(sym(X)))[::-1] for X in (X1, X2))
    assert knn_graph.spectral_distance(X1, X2, 5, symmetric=True) == pytest.approx(np.linalg.norm(l1 - l2), rel=1e-10)


def test_spectrum_order_on_a_directed_cycle():
    # the directed n-cycle has the n-th roots of unity as eigenvalues
    n = 6
    A = torch.roll(torch.eye(n, dtype=torch.float64), 1, dims=0)
    lam = knn_graph.adjacency_spectrum(A)
    want = np.exp(2j * np.pi * np.arange(n) / n)
    want = want[np.lexsort((-want.imag, -want.real))]
    np.testing.assert_allclose(lam.numpy(), want, atol=1e-12)
    assert lam[0].real == pytest.approx(1.0) and lam[1].imag > 0 > lam[2].imag  # conjugates: + first


def test_bad_inputs():
    X = np.zeros((10, 2))
    with pytest.raises(ValueError, match="k must be"):
        knn_graph.knn_adjacency(X, 10)
    with pytest.raises(ValueError, match="same number of points"):
        knn_graph.spectral_distance(np.ones((10, 2)), np.ones((9, 2)), 3)
    with pytest.raises(ValueError, match="NaN"):
        knn_graph.knn_adjacency(np.full((5, 2), np.nan), 2)
    with pytest.raises(ValueError, match="square"):
        knn_graph.adjacency_spectrum(torch.ones(3, 4))
