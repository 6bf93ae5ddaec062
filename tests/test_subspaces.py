"""Tests of dyngeo.geometry.subspaces and dyngeo.data.subspace_sets against SciPy, closed forms and
planted answers."""

import numpy as np
import pytest
import scipy.linalg as sl
import torch

from dyngeo.data import digit_sets, haar_bases, planted_schubert, set_bases
from dyngeo.geometry import subspaces as sv


def _rand(n, l, seed):
    return torch.as_tensor(np.random.default_rng(seed).standard_normal((n, l)))


@pytest.mark.parametrize("n,l,k", [(10, 3, 3), (20, 2, 5), (20, 5, 2), (64, 4, 4), (6, 3, 3)])
def test_principal_angles_match_scipy(n, l, k):
    for seed in range(4):
        X, Y = _rand(n, l, seed), _rand(n, k, seed + 100)
        ours = sv.principal_angles(X, Y).numpy()
        ref = np.sort(sl.subspace_angles(X.numpy(), Y.numpy()))
        np.testing.assert_allclose(ours, ref, atol=1e-10)
        assert np.all(np.diff(ours) >= 0)  # ascending


def test_principal_angles_small_angles_accurate():
    X = _rand(30, 3, 0)
    Y = X + 1e-9 * _rand(30, 3, 1)  # nearly the same subspace: arccos of cosines would lose these
    ours = sv.principal_angles(X, Y).numpy()
    ref = np.sort(sl.subspace_angles(X.numpy(), Y.numpy()))
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-16)
    assert ours.max() < 1e-8


def test_principal_angles_invariant_to_basis_and_rotation():
    X, Y = _rand(12, 3, 1), _rand(12, 4, 2)
    Q3, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((3, 3)))
    A = torch.as_tensor(np.random.default_rng(4).standard_normal((4, 4)))  # any invertible change of basis
    O, _ = np.linalg.qr(np.random.default_rng(5).standard_normal((12, 12)))
    base = sv.principal_angles(X, Y)
    torch.testing.assert_close(sv.principal_angles(X @ torch.as_tensor(Q3), Y @ A), base)
    torch.testing.assert_close(sv.principal_angles(torch.as_tensor(O) @ X, torch.as_tensor(O) @ Y), base)


def test_shared_directions_have_zero_angles_and_batches_work():
    Xs, W = planted_schubert(40, 3, 4, 6, c=2, seed=1)
    theta = sv.principal_angles(Xs, W)
    assert theta.shape == (6, 3)
    assert theta[:, :2].max() < 1e-10 and theta[:, 2].min() > 1e-3
    for i in range(6):
        torch.testing.assert_close(theta[i], sv.principal_angles(Xs[i], W))


def test_distances_closed_forms():
    # two lines at 30 degrees in the plane, and orthogonal planes
    x = torch.tensor([[1.0], [0.0], [0.0]], dtype=torch.float64)
    y = torch.tensor([[np.cos(np.pi / 6)], [np.sin(np.pi / 6)], [0.0]], dtype=torch.float64)
    assert sv.grassmann_distance(x, y).item() == pytest.approx(np.pi / 6)
    assert sv.grassmann_distance(x, y, "chordal").item() == pytest.approx(0.5)
    E = torch.eye(4, dtype=torch.float64)
    assert sv.grassmann_distance(E[:, :2], E[:, 2:]).item() == pytest.approx(np.pi / 2 * np.sqrt(2))
    assert sv.grassmann_distance(E[:, :2], E[:, 2:], "chordal").item() == pytest.approx(np.sqrt(2))
    with pytest.raises(ValueError):
        sv.grassmann_distance(x, y, "euclid")


def test_schubert_distance_uses_the_c_smallest_angles():
    Xs, W = planted_schubert(30, 3, 3, 5, c=1, seed=2)
    d1 = sv.schubert_distance(Xs, W, 1)
    d2 = sv.schubert_distance(Xs, W, 2)
    assert d1.max() < 1e-10 and d2.min() > 1e-3
    theta = sv.principal_angles(Xs, W)
    torch.testing.assert_close(d2, torch.sin(theta[:, :2]).norm(dim=1))
    torch.testing.assert_close(sv.schubert_distance(Xs, W, 2, kind="angle", p=1), theta[:, :2].sum(1))
    assert torch.all(sv.schubert_distance(Xs, W, 3) >= d2)
    assert sv.in_schubert(Xs, W, 1) and not sv.in_schubert(Xs, W, 2)
    with pytest.raises(ValueError):
        sv.schubert_distance(Xs, W, 4)


def test_manifold_dimensions():
    assert sv.dim_grassmann(2, 5) == 6 == sv.dim_orthogonal(5) - sv.dim_orthogonal(2) - sv.dim_orthogonal(3)
    assert sv.dim_flag([1, 2], 4) == 5
    assert sv.dim_flag([3], 7) == sv.dim_grassmann(3, 7)
    for n in range(2, 7):
        for l in range(1, n + 1):
            assert sv.dim_stiefel(l, n) == n * l - l * (l + 1) // 2  # nl entries, l(l+1)/2 constraints
            assert sv.dim_flag(list(range(1, l + 1)), n) == sv.dim_stiefel(l, n)  # ST(l, n) covers FL(1..l; n)
    assert sv.dim_grassmann(1, 3) == 2  # RP^2
    with pytest.raises(ValueError):
        sv.dim_flag([2, 2], 4)


def test_orthonormal_basis_handles_rank_deficiency():
    V = _rand(10, 2, 0)
    V3 = torch.cat([V, V[:, :1] * 2], dim=1)
    Q = sv.orthonormal_basis(V3)
    assert Q.shape == (10, 2)
    torch.testing.assert_close(Q.T @ Q, torch.eye(2, dtype=torch.float64))
    assert sv.principal_angles(Q, V).max() < 1e-7


def test_mm_recovers_planted_w_and_is_monotone():
    Xs, W = planted_schubert(64, 3, 2, 40, seed=0)
    for objective in ("cos2", "cos"):
        K, history = sv.svbf_mm(Xs, 2, objective=objective, iters=300, seed=1)
        assert history[-1] > 1 - 1e-10
        assert np.all(np.diff(history) > -1e-12)
        assert sv.principal_angles(K, W).max() < 1e-6
        torch.testing.assert_close(K.T @ K, torch.eye(2, dtype=torch.float64))


def test_k1_fit_is_the_top_eigenvector():
    d = digit_sets(3, classes=(3,), seed=0)
    S = (d.train @ d.train.transpose(1, 2)).sum(0)
    evals, evecs = np.linalg.eigh(S.numpy())
    K, history = sv.svbf_mm(d.train, 1, iters=500, tol=0)
    assert abs(float(K[:, 0] @ torch.as_tensor(evecs[:, -1]))) > 1 - 1e-8
    assert history[-1] == pytest.approx(evals[-1] / d.train.shape[0], rel=1e-10)


def test_full_c_objective_is_the_flag_mean():
    Xs = haar_bases(30, 12, 3, seed=3)
    k = 3
    F = sv.flag_mean(Xs, k)
    S = (Xs @ Xs.transpose(1, 2)).sum(0).numpy()
    top = np.linalg.eigh(S)[0][-k:].sum()
    assert sv.svbf_objective(Xs, F, c=3) == pytest.approx(top / (30 * 3), rel=1e-10)
    K, history = sv.svbf_mm(Xs, k, c=3, iters=2000, tol=0)
    assert history[-1] == pytest.approx(top / (30 * 3), rel=1e-6)


def test_flag_median_is_robust_to_an_outlier_cluster():
    Xs, W = planted_schubert(20, 2, 2, 30, c=2, noise=0.05, seed=4)  # spans near span W
    outliers = haar_bases(8, 20, 2, seed=5)
    both = torch.cat([Xs, outliers])
    mean_err = sv.grassmann_distance(sv.flag_mean(both, 2), W)
    median_err = sv.grassmann_distance(sv.flag_median(both, 2), W)
    assert median_err < mean_err
    chordal = lambda Y: torch.sin(sv.principal_angles(both, Y)).norm(dim=1).sum()  # noqa: E731
    assert chordal(sv.flag_median(both, 2)) <= chordal(sv.flag_mean(both, 2)) + 1e-12


def test_adam_node_matches_its_definition_and_improves():
    Xs, W = planted_schubert(16, 2, 2, 10, seed=6)
    node = sv.SVBFNode(16, 2, 10, seed=0)
    b, _ = node.coordinates()
    manual = torch.stack([b[i] @ node.K.T @ Xs[i] @ Xs[i].T @ node.K @ b[i] for i in range(10)])
    torch.testing.assert_close(node(Xs), manual)
    K, node, hist = sv.svbf_adam(Xs, 2, iters=400, lr=1e-2, record_every=100)
    assert hist["orthogonality"][-1] < 1e-2 < hist["orthogonality"][0]
    assert hist["objective"][-1] > hist["objective"][0]


def test_svbf_coordinates_give_the_angles():
    Xs, W = planted_schubert(20, 3, 3, 5, seed=7)
    K = haar_bases(1, 20, 3, seed=8)[0]
    b, a, cos = sv.svbf_coordinates(Xs, K)
    theta = sv.principal_angles(Xs, K)
    torch.testing.assert_close(cos[:, 0], torch.cos(theta[:, 0]))
    Kb = (K @ b[..., 0].T).T  # [r, n]: the closest direction of span K
    proj = torch.einsum("rnl,rn->rl", Xs, Kb).norm(dim=1)
    torch.testing.assert_close(proj, torch.cos(theta[:, 0]))


def test_set_bases_are_orthonormal_single_class_groups():
    d = digit_sets(2, m=3, classes=(0, 1), seed=0)
    assert d.train.shape[1:] == (64, 2) and d.test.shape[1:] == (64, 3)
    I = torch.eye(2, dtype=torch.float64)
    torch.testing.assert_close(d.train.transpose(1, 2) @ d.train, I.expand(len(d.train), 2, 2))
    labels = d.train_image_labels[d.train_groups]
    assert torch.all(labels == d.train_labels[:, None])
    # each basis spans its group's images
    imgs = d.train_images[d.train_groups[0]].T
    assert sv.principal_angles(d.train[0], imgs).max() < 1e-7
    with pytest.raises(ValueError):
        set_bases(np.zeros((3, 4)), np.zeros(3), 0)


def test_classifiers_run_and_beat_chance_on_digits():
    d = digit_sets(2, classes=(3, 5, 8), seed=1)
    classes, Ks = sv.alg2_fit(d.train, d.train_labels, 3)
    acc2 = (sv.nearest_subspace_predict(classes, Ks, d.test) == d.test_labels).double().mean()
    K, _ = sv.svbf_mm(d.train, 3)
    acc1 = (sv.alg1_predict(K, d.train, d.train_labels, d.test) == d.test_labels).double().mean()
    model = sv.alg3_fit(d.train, d.train_labels, 3)
    acc3 = (sv.alg3_predict(model, d.test) == d.test_labels).double().mean()
    assert acc2 > 0.8 and acc1 > 0.5 and acc3 > 0.5


def test_mm_beats_a_random_search_on_gr_2_4():
    # No closed form for c = 1 < min(l, k): compare with the best of 20,000 Haar-random K on Gr(2, 4)
    Xs = haar_bases(15, 4, 2, seed=11)
    candidates = haar_bases(20000, 4, 2, seed=12)
    cos = torch.linalg.svdvals(Xs.transpose(1, 2).unsqueeze(0) @ candidates.unsqueeze(1))[..., 0]  # [20000, 15]
    best_random = float((cos**2).mean(1).max())
    best_mm = max(sv.svbf_mm(Xs, 2, iters=500, seed=s)[1][-1] for s in range(3))
    assert best_random - 1e-9 <= best_mm <= 1 + 1e-12
    assert best_mm - best_random < 0.02  # the random search comes close: both see the same landscape


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_device_agnostic_on_cuda():
    Xs, W = planted_schubert(64, 3, 2, 40, seed=0)
    K, hist = sv.svbf_mm(Xs.cuda(), 2)
    assert K.is_cuda and hist[-1] > 1 - 1e-10
    assert sv.principal_angles(K, W.cuda()).max() < 1e-6
    K_a, _, _ = sv.svbf_adam(Xs.cuda(), 2, iters=50)
    assert K_a.is_cuda
    d = digit_sets(2, classes=(3, 8), seed=0)
    classes, Ks = sv.alg2_fit(d.train.cuda(), d.train_labels, 2)
    pred = sv.nearest_subspace_predict(classes, Ks, d.test.cuda())
    assert (pred == d.test_labels).double().mean() > 0.8
    model = sv.alg3_fit(d.train.cuda(), d.train_labels, 2)
    assert sv.alg3_predict(model, d.test.cuda()).shape == d.test_labels.shape
