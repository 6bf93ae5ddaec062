"""MIG and its supervised variants against scikit-learn's mutual information and closed forms."""

import numpy as np
import pytest
import torch
from sklearn.metrics import mutual_info_score

from dyngeo.metrics import disentanglement as dis
from dyngeo.metrics.images import psnr


def _factors(n=2000, levels=(4, 5, 3), seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, k, n) for k in levels], 1)


def test_mutual_info_matches_sklearn():
    v = _factors()
    rng = np.random.default_rng(1)
    z = np.c_[v[:, 0] + rng.normal(0, 0.3, len(v)), rng.normal(size=len(v)), v[:, 1] * v[:, 2]]
    I = dis.mutual_info_matrix(z, v, bins=10)
    zd = dis.discretize(z, 10)
    ref = np.array([[mutual_info_score(zd[:, j], v[:, k]) for k in range(3)] for j in range(3)])
    np.testing.assert_allclose(I, ref, rtol=1e-10, atol=1e-12)
    H = dis.entropies(v)
    np.testing.assert_allclose(H, [mutual_info_score(c, c) for c in v.T], rtol=1e-12)


def _mig_by_sklearn(zd, v):
    I = np.array([[mutual_info_score(zd[:, j], v[:, k]) for k in range(v.shape[1])] for j in range(zd.shape[1])])
    H = np.array([mutual_info_score(c, c) for c in v.T])
    top = np.sort(I, 0)[::-1]
    return np.mean((top[0] - top[1]) / H)


def test_mig_on_discrete_codes_matches_sklearn_reference():
    v = _factors(seed=2)
    rng = np.random.default_rng(3)
    zd = np.c_[v, (v[:, 0] + rng.integers(0, 2, len(v))) % 4, rng.integers(0, 6, len(v))]
    assert dis.mig(zd, v, discrete=True) == pytest.approx(_mig_by_sklearn(zd, v), rel=1e-10)


def test_copied_factors_score_one_and_a_rotation_scores_less():
    v = _factors(seed=4)
    codes = v.astype(float)
    for name, f in [("mig", dis.mig), ("mig_sup", dis.mig_sup), ("dcimig", dis.dcimig)]:
        # 1 up to the plug-in estimate of I(z_j; v_k) between independent factors (a few 1e-3 at this N)
        assert f(codes, v, discrete=True) == pytest.approx(1.0, abs=0.01), name
    # with B bins equal to the levels, JEMMIG's normaliser has log B >= H(z*): the score is 1 − 0 = 1 exactly
    assert dis.jemmig(codes, v, discrete=True) == pytest.approx(1.0, abs=0.01)
    Q, _ = np.linalg.qr(np.random.default_rng(5).normal(size=(3, 3)))
    rotated = (codes - codes.mean(0)) / codes.std(0) @ Q
    good = dis.scores(codes + 1e-3 * np.random.default_rng(6).normal(size=codes.shape), v, bins=20)
    bad = dis.scores(rotated, v, bins=20)
    for key in good:
        assert bad[key] < good[key] - 0.2, (key, good[key], bad[key])


def test_random_code_scores_near_zero_and_closed_form_mig():
    v = _factors(20000, levels=(2, 2), seed=7)
    rng = np.random.default_rng(8)
    noise = rng.normal(size=(len(v), 2))
    assert dis.mig(noise, v, bins=10) < 0.01
    # z0 copies v0; z1 copies v0 with probability 1 - p and flips it otherwise: the gap is
    # H(v0) − I(z1; v0) = h(p) for a fair bit (1 − I with I = log 2 − h(p)), i.e. MIG_0 = h(p) / log 2
    p = 0.1
    flip = rng.random(len(v)) < p
    z = np.c_[v[:, 0], np.where(flip, 1 - v[:, 0], v[:, 0])]
    h = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    I = dis.mutual_info_matrix(z, v[:, :1], discrete=True)
    assert I[1, 0] == pytest.approx(np.log(2) - h, abs=0.01)
    assert dis.mig(z, v[:, :1], discrete=True) == pytest.approx(h / np.log(2), abs=0.02)


def test_dcimig_credits_each_dimension_once():
    """Two dimensions both copying factor 0: each is credited to factor 0 with the gap H(v0) − I(v0; v1), so
    dcimig = (H(v0) − I(v0; v1)) / (H(v0) + H(v1)), while MIG gives factor 0 a zero gap (two equally good
    dimensions)."""
    v = _factors(5000, levels=(4, 4), seed=9)
    z = np.c_[v[:, 0], v[:, 0]]
    H = dis.entropies(v)
    want = (H[0] - mutual_info_score(v[:, 0], v[:, 1])) / H.sum()
    assert dis.dcimig(z, v, discrete=True) == pytest.approx(want, rel=1e-12)
    assert dis.mig(z, v, discrete=True) == pytest.approx(0.0, abs=1e-12)


def test_torch_inputs_and_errors():
    v = torch.tensor(_factors(300, seed=10))
    assert dis.mig(v.double(), v) == pytest.approx(dis.mig(v.numpy().astype(float), v.numpy()))
    with pytest.raises(ValueError, match="two code dimensions"):
        dis.mig(np.zeros((10, 1)), np.arange(10) % 2)
    with pytest.raises(ValueError, match="two levels"):
        dis.mig(np.random.default_rng(0).normal(size=(10, 2)), np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match="two factors"):
        dis.dcimig(np.random.default_rng(0).normal(size=(10, 2)), np.arange(10) % 2)
    with pytest.raises(ValueError, match="NaN"):
        dis.mig(np.full((4, 2), np.nan), np.arange(4) % 2)


def test_psnr_matches_skimage():
    from skimage.metrics import peak_signal_noise_ratio

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(4, 3, 8, 8, generator=g), torch.rand(4, 3, 8, 8, generator=g)
    ref = np.mean([peak_signal_noise_ratio(a.numpy(), b.numpy(), data_range=1.0) for a, b in zip(x, y)])
    assert float(psnr(y, x)) == pytest.approx(ref, rel=1e-6)
    assert psnr(x, y, reduction="none").shape == (4,)
    with pytest.raises(ValueError, match="same shape"):
        psnr(x, y[:2])
