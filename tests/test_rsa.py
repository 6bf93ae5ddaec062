"""RSA toolkit (dyngeo.geometry.rsa) against independent references: SciPy's pdist, eigh, nnls,
pearsonr/spearmanr and bootstrap, and planted solutions."""

import numpy as np
import pytest
import scipy.linalg
import scipy.optimize
import scipy.stats
import torch
from scipy.spatial.distance import pdist, squareform

from dyngeo.data.brain_roi import TABLE1_SIZES, brain_roi
from dyngeo.geometry import rsa


def two_blocks(rng, n1=12, n2=9, within=0.1, between=0.9, noise=0.05):
    n = n1 + n2
    y = np.r_[np.zeros(n1, int), np.ones(n2, int)]
    R = np.where(y[:, None] == y[None], within, between) + noise * rng.random((n, n))
    R = (R + R.T) / 2
    np.fill_diagonal(R, 0)
    perm = rng.permutation(n)
    return R[np.ix_(perm, perm)], y[perm]


def test_rdm_is_pdist_correlation_numpy_and_torch():
    rng = np.random.default_rng(0)
    V = rng.normal(size=(17, 30)) + rng.normal(size=(17, 1)) * 3  # rows with their own offsets
    want = squareform(pdist(V, "correlation"))
    np.testing.assert_allclose(rsa.rdm(V), want, atol=1e-12)
    got = rsa.rdm(torch.tensor(V, dtype=torch.float32))
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5)
    np.testing.assert_allclose(rsa.upper(want), pdist(V, "correlation"), atol=1e-12)
    with pytest.raises(ValueError, match="constant"):
        rsa.rdm(np.vstack([V[:3], np.ones(30)]))
    with pytest.raises(ValueError):
        rsa.rdm(V[0])


def test_compare_rdms_matches_scipy_and_is_permutation_invariant():
    rng = np.random.default_rng(1)
    R1 = rsa.rdm(rng.normal(size=(20, 8)))
    R2 = rsa.rdm(rng.normal(size=(20, 8)) + 0.0)
    R2 = 0.5 * R1 + 0.5 * R2
    a, b = rsa.upper(R1), rsa.upper(R2)
    assert rsa.compare_rdms(R1, R2) == pytest.approx(scipy.stats.pearsonr(a, b)[0], abs=1e-12)
    assert rsa.compare_rdms(R1, R2, "spearman") == pytest.approx(scipy.stats.spearmanr(a, b)[0], abs=1e-12)
    p = rng.permutation(20)
    assert rsa.compare_rdms(R1[np.ix_(p, p)], R2[np.ix_(p, p)]) == pytest.approx(rsa.compare_rdms(R1, R2), abs=1e-12)
    with pytest.raises(ValueError):
        rsa.compare_rdms(R1, R2, "kendall")


def test_rdm_and_comparisons_match_rsatoolbox():
    """The field's own toolbox (Nili et al. 2014) computes the same RDMs and the same comparisons."""
    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import calc_rdm, compare

    rng = np.random.default_rng(11)
    V, W = rng.normal(size=(15, 40)), rng.normal(size=(15, 40))
    W[:, :10] += V[:, :10]  # related, so the correlations are far from 0
    ours_V, ours_W = rsa.rdm(V), rsa.rdm(W)
    theirs_V, theirs_W = (calc_rdm(Dataset(X), method="correlation") for X in (V, W))
    assert np.allclose(theirs_V.get_matrices()[0], ours_V, atol=1e-12)
    assert np.isclose(compare(theirs_V, theirs_W, method="corr")[0, 0], rsa.compare_rdms(ours_V, ours_W))
    assert np.isclose(compare(theirs_V, theirs_W, method="spearman")[0, 0],
                      rsa.compare_rdms(ours_V, ours_W, method="spearman"))


def test_nnls_recovers_planted_category_weights():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, 40)
    y[:4] = np.arange(4)
    w = np.array([0.3, 0.0, 1.2, 0.5])
    R = np.tensordot(w, rsa.categorical_rdms(y), axes=1)
    got, pred = rsa.fit_categorical_model(y, R)
    np.testing.assert_allclose(got, w, atol=1e-10)
    np.testing.assert_allclose(pred, R, atol=1e-10)
    # against scipy's nnls on a noisy target, built independently
    Rn = R + 0.2 * rng.random(R.shape)
    Rn = (Rn + Rn.T) / 2
    iu = np.triu_indices(40, 1)
    A = np.stack([(~((y[iu[0]] == c) & (y[iu[1]] == c))).astype(float) for c in range(4)], axis=1)
    np.testing.assert_allclose(rsa.fit_categorical_model(y, Rn)[0], scipy.optimize.nnls(A, Rn[iu])[0], atol=1e-10)


def test_fiedler_vector_against_eigh_and_two_blocks():
    rng = np.random.default_rng(3)
    R, y = two_blocks(rng)
    L = rsa.laplacian(1 - R)
    lam, e2 = rsa.fiedler_vector(L)
    vals, vecs = scipy.linalg.eigh(L)
    assert lam == pytest.approx(vals[1], abs=1e-10)
    np.testing.assert_allclose(L @ e2, lam * e2, atol=1e-10)
    assert abs(e2.sum()) < 1e-8 and np.linalg.norm(e2) == pytest.approx(1)
    assert abs(abs(e2 @ vecs[:, 1]) - 1) < 1e-8
    assert rsa.fiedler_accuracy(R, y) == 1.0
    part = e2 > 0
    assert rsa.partition_accuracy(part, y) == rsa.partition_accuracy(~part, y) == 1.0
    assert rsa.printed_fiedler_accuracy(R) == 1.0  # the formula as printed
    # a random RDM: the printed formula still says 1, the right one does not
    Rr = rsa.rdm(rng.normal(size=(21, 10)))
    assert rsa.printed_fiedler_accuracy(Rr) == 1.0 and rsa.fiedler_accuracy(Rr, y) < 1.0


def test_partition_accuracy_hand_made():
    y = np.array([0, 0, 0, 1, 1, 1])
    assert rsa.partition_accuracy([1, 1, 0, 0, 0, 0], y) == pytest.approx(5 / 6)
    assert rsa.partition_accuracy([0, 0, 1, 1, 1, 1], y) == pytest.approx(5 / 6)
    assert rsa.partition_accuracy([1, 0, 1, 0, 1, 0], y) == pytest.approx(4 / 6)
    with pytest.raises(ValueError):
        rsa.partition_accuracy([1, 0], [0, 1, 2])


def test_bootstrap_ci_against_scipy_and_chance():
    rng = np.random.default_rng(4)
    x = rng.normal(1.0, 1.0, 30)
    low, high, dist = rsa.bootstrap_ci(lambda i: x[i].mean(), 30, 500, n_tests=5, seed=7)
    ref = scipy.stats.bootstrap((x,), np.mean, n_resamples=500, confidence_level=0.99, method="BCa",
                                random_state=np.random.default_rng(7))
    assert (low, high) == pytest.approx(tuple(ref.confidence_interval), rel=1e-2)
    R, y = two_blocks(rng, 15, 15)
    stat = lambda i: rsa.partition_accuracy(rsa.fiedler_partition(R[np.ix_(i, i)]), y[i])
    low, high, _ = rsa.bootstrap_ci(stat, 30, 300, n_tests=10)
    assert low > 0.5
    Rr = rsa.rdm(rng.normal(size=(30, 10)))
    stat = lambda i: rsa.partition_accuracy(rsa.fiedler_partition(Rr[np.ix_(i, i)]), y[i])
    low, high, _ = rsa.bootstrap_ci(stat, 30, 300, n_tests=10, method="percentile")
    assert low <= 0.55  # the best-match accuracy is >= 0.5 by construction, so chance sits at its floor


def test_bootstrap_pvalue_small_for_related_large_for_unrelated():
    rng = np.random.default_rng(5)
    V = rng.normal(size=(40, 20))
    R1, R2 = rsa.rdm(V + 0.5 * rng.normal(size=V.shape)), rsa.rdm(V + 0.5 * rng.normal(size=V.shape))
    r, p, _ = rsa.rdm_bootstrap_pvalue(R1, R2, 200)
    assert r > 0.3 and p == pytest.approx(1 / 201)
    R3 = rsa.rdm(rng.normal(size=(40, 20)))
    assert rsa.rdm_bootstrap_pvalue(R1, R3, 200)[1] > 0.01


def test_layer_rdms_through_hooks():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    X = torch.randn(15, 6)
    rdms = rsa.layer_rdms(net, X)
    assert list(rdms) == ["0", "1", "2"]
    h = net[1](net[0](X)).detach().numpy()
    np.testing.assert_allclose(rdms["1"].numpy(), squareform(pdist(h, "correlation")), atol=1e-6)
    name, r, scores = rsa.best_layer(rdms, rdms["2"])
    assert name == "2" and r == pytest.approx(1)
    assert not net[0]._forward_hooks
    cnn = torch.nn.Sequential(torch.nn.Unflatten(1, (1, 4, 4)), torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten())
    rdms = rsa.layer_rdms(cnn, torch.randn(5, 16))  # the hooks must not change what flows on
    assert list(rdms) == ["0", "1", "2"]
    np.testing.assert_allclose(rdms["1"].numpy(), rdms["2"].numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="no such"):
        rsa.layer_rdms(net, X, ["fc"])


def test_brain_roi_sizes_and_structure():
    b = brain_roi()
    assert np.bincount(b.labels.numpy()).tolist() == [round(s / 10) for s in TABLE1_SIZES]
    assert b.subjects.shape[:2] == (3, 192) and torch.allclose(b.mean, b.subjects.mean(0))
    Rm = rsa.rdm(b.mean).numpy()
    w, pred = rsa.fit_categorical_model(b.labels, Rm)
    single = rsa.compare_rdms(pred, rsa.rdm(b.subjects[0]).numpy())
    assert rsa.compare_rdms(pred, Rm) > single > 0.05  # averaging subjects removes noise
    assert rsa.compare_rdms(pred, rsa.rdm(brain_roi(category=0.0).mean).numpy()) < single
