"""dyngeo.geometry.topology against known homology, gudhi against ripser, persim, and stability."""

import numpy as np
import persim
import pytest
import torch

from dyngeo.data import manifolds
from dyngeo.geometry import topology as T

torch.set_num_threads(1)


def _salient(dgm, ratio=2.0, top=6):
    """The number of salient points: where the largest ratio between consecutive persistences (among
    the ``top`` most persistent) falls, or 0 when no ratio reaches ``ratio``."""
    p = np.sort(T.persistence(T.finite(dgm)))[::-1][: top + 1]
    gaps = p[:-1] / np.maximum(p[1:], 1e-12)
    return int(np.argmax(gaps)) + 1 if gaps.max() >= ratio else 0


def test_circle_has_one_salient_loop():
    X, _ = manifolds.circle(300, noise=0.02, seed=0)
    d = T.diagrams(X, maxdim=1)
    assert len(d) == 2 and all(x.shape[1] == 2 for x in d)
    assert np.isinf(d[0][:, 1]).sum() == 1  # one component that never dies
    assert _salient(d[1]) == 1
    assert T.top_k(d[1], 1)[0, 1] == pytest.approx(np.sqrt(3), abs=0.15)  # the inscribed triangle fills it


def test_torus_two_loops_one_void_alpha_and_rips():
    X, _ = manifolds.torus(1500, seed=1)
    d = T.diagrams(X, maxdim=2, method="alpha")
    assert _salient(d[1]) == 2 and _salient(d[2]) == 1
    d = T.diagrams(X, maxdim=2, n_sub=200, seed=0)
    assert T.persistence(T.top_k(d[1], 3))[1] > 2 * T.persistence(T.top_k(d[1], 3))[2]
    assert _salient(d[2]) == 1


def test_flat_torus_and_klein_bottle_betti():
    # over Z/2 both have Betti numbers (1, 2, 1); the sphere (1, 0, 1)
    for gen in (manifolds.flat_torus, manifolds.klein_bottle):
        X, _ = gen(1500, seed=2)
        d = T.diagrams(X, maxdim=2, n_sub=200)
        assert _salient(d[1]) == 2, gen.__name__
        assert T.persistence(T.top_k(d[2], 2))[0] > 4 * T.persistence(T.top_k(d[2], 2))[1], gen.__name__


def test_gudhi_rips_equals_ripser():
    X, _ = manifolds.flat_torus(60, seed=3)
    a, b = T.diagrams(X, 2, method="ripser"), T.diagrams(X, 2, method="gudhi")
    X, _ = manifolds.circle(150, noise=0.1, seed=3)
    a, b = a + T.diagrams(X, 1, method="ripser"), b + T.diagrams(X, 1, method="gudhi")
    for k in range(5):
        assert T.bottleneck(a[k], b[k]) < 1e-6, k
        np.testing.assert_allclose(np.sort(T.persistence(T.finite(a[k]))), np.sort(T.persistence(T.finite(b[k]))), atol=1e-6)


def test_alpha_and_rips_interleave_on_a_circle():
    X, _ = manifolds.circle(200, seed=4)
    rips, alpha = T.diagrams(X, 1), T.diagrams(X, 1, method="alpha")
    # both see one loop; the alpha (Čech) death is the diameter 2, the Rips death sqrt(3)
    assert T.top_k(alpha[1], 1)[0, 1] == pytest.approx(2.0, abs=0.02)
    assert T.top_k(rips[1], 1)[0, 1] == pytest.approx(np.sqrt(3), abs=0.02)


def test_distances_match_persim_and_stability():
    X, _ = manifolds.circle(200, noise=0.05, seed=5)
    rng = np.random.default_rng(0)
    Y = X.numpy() + rng.uniform(-0.01, 0.01, X.shape)
    dx, dy = T.diagrams(X, 1), T.diagrams(Y, 1)
    for k in range(2):
        assert T.bottleneck(dx[k], dx[k]) == 0.0
        assert T.bottleneck(dx[k], dy[k]) == pytest.approx(persim.bottleneck(T.finite(dx[k]), T.finite(dy[k])), abs=1e-9)
        assert T.wasserstein(dx[k], dy[k], p=1, internal_p=2) == pytest.approx(persim.wasserstein(T.finite(dx[k]), T.finite(dy[k])), abs=1e-9)
        # stability: moving every point by at most eps (sup norm, so |.|_2 <= sqrt(2) eps) moves
        # every pairwise distance by at most 2 sqrt(2) eps, hence the Rips diagrams by at most that much
        eps = np.abs(Y - X.numpy()).max()
        assert T.bottleneck(dx[k], dy[k]) <= 2 * np.sqrt(2) * eps + 1e-12
    assert T.wasserstein(dx[1], dx[1]) == 0.0


def test_greedy_subsample_is_a_net():
    X, _ = manifolds.sphere(600, seed=6)
    idx, eps = T.greedy_subsample(X, 60, seed=0, return_radius=True)
    assert len(set(idx.tolist())) == 60
    D = torch.cdist(X.double(), X[idx].double())
    assert D.min(1).values.max().item() == pytest.approx(eps, rel=1e-6)
    # the subsample's Rips diagrams are within 2 eps (bottleneck) of the full cloud's
    full, sub = T.diagrams(X[:300], 1), T.diagrams(X[:300][T.greedy_subsample(X[:300], 100)], 1)
    _, eps300 = T.greedy_subsample(X[:300], 100, return_radius=True)
    assert T.bottleneck(full[1], sub[1]) <= 2 * eps300 + 1e-9


def test_betti_and_top_k_by_hand():
    d = np.array([[0.0, 1.0], [0.2, 0.5], [0.1, np.inf], [0.3, 0.35]])
    assert T.betti(d, 0.4) == 3 and T.betti(d, 0.6) == 2 and T.betti(d, 5.0) == 1
    np.testing.assert_array_equal(T.top_k(d, 2), [[0.0, 1.0], [0.2, 0.5]])
    assert T.top_k(d, 1, include_infinite=True)[0, 1] == np.inf
    np.testing.assert_array_equal(T.betti([d, d[:2]], 0.4), [3, 2])
    assert T.betti(np.zeros((0, 2)), 1.0) == 0


def test_bad_inputs():
    with pytest.raises(ValueError, match="NaN"):
        T.diagrams(np.array([[0.0, np.nan], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="method"):
        T.diagrams(np.zeros((4, 2)), method="cech")
    with pytest.raises(ValueError, match="death < birth"):
        T.bottleneck(np.array([[1.0, 0.5]]), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="m must be"):
        T.greedy_subsample(np.zeros((5, 2)), 6)


def test_plots_run():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = T.diagrams(manifolds.circle(100, seed=0)[0], 1)
    fig, ax = plt.subplots(1, 2)
    T.plot_diagram(ax[0], d)
    T.plot_barcode(ax[1], d, k_max=5)
    plt.close(fig)
