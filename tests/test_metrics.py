"""Tests of dyngeo.metrics on hand-made cases and against scikit-learn."""

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from dyngeo.metrics import calibration_bins, ece, fg_ari, mbo


def test_fg_ari_hand_made_cases():
    true = torch.tensor([[0, 0, 1, 1, 2, 2]])
    assert fg_ari(true, torch.tensor([[5, 5, 3, 3, 4, 4]])).item() == pytest.approx(1.0)  # renamed labels
    assert fg_ari(true, torch.tensor([[3, 4, 3, 3, 4, 4]])).item() == pytest.approx(1.0)  # background ignored
    # foreground pixels {a,a,b,b} predicted {x,y,x,y}: pairs agree 0, expected 1/3 * ... -> ARI = -0.5
    assert fg_ari(true, torch.tensor([[0, 0, 1, 2, 1, 2]])).item() == pytest.approx(-0.5)
    # everything in one cluster scores 0
    assert fg_ari(true, torch.zeros_like(true)).item() == pytest.approx(0.0)


def test_fg_ari_matches_sklearn_on_random_masks():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 4, (5, 200))
    pred = np.where(rng.random((5, 200)) < 0.7, true, rng.integers(0, 6, (5, 200)))
    got = fg_ari(torch.as_tensor(true), torch.as_tensor(pred))
    for b in range(5):
        fg = true[b] != 0
        assert got[b].item() == pytest.approx(adjusted_rand_score(true[b][fg], pred[b][fg]), abs=1e-6)


def test_mbo_hand_made_case():
    true = torch.tensor([[0, 0, 1, 1, 1, 2]])
    pred = torch.tensor([[0, 1, 1, 1, 2, 2]])
    # object 1 = {2,3,4}: best IoU with cluster 1 = {1,2,3}: 2/4; object 2 = {5}: cluster 2 = {4,5}: 1/2
    assert mbo(true, pred).item() == pytest.approx(0.5)
    assert mbo(true, true).item() == pytest.approx(1.0)
    assert mbo(true, torch.tensor([[0, 0, 1, 1, 1, 1]])).item() == pytest.approx((0.75 + 0.25) / 2)  # {2,3,4} in {2..5}: 3/4; {5}: 1/4


def test_ece_hand_made_case():
    probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    labels = torch.tensor([0, 1, 0, 1])
    # bins of width 0.1: {0.9, 0.9} acc 0.5 -> gap 0.4; {0.6} acc 1 -> 0.4; {0.7} acc 1 -> 0.3
    assert ece(probs, labels, bins=10) == pytest.approx(0.5 * 0.4 + 0.25 * 0.4 + 0.25 * 0.3)
    conf, acc, count = calibration_bins(probs, labels, bins=10)
    assert count.sum() == 4 and count[8] == 2 and acc[8] == 0.5
    perfect = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert ece(perfect, torch.tensor([0, 1])) == pytest.approx(0.0)


def test_metrics_reject_bad_input():
    with pytest.raises(TypeError, match="integer"):
        fg_ari(torch.zeros(1, 4), torch.zeros(1, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="same shape"):
        mbo(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="probs"):
        ece(torch.rand(4), torch.zeros(4, dtype=torch.long))


def test_frechet_distance_matches_the_gaussian_closed_form():
    # Diagonal covariances: the distance is |μ_a − μ_b|² + Σ (σ_a − σ_b)², computed from the sample moments.
    from dyngeo.metrics.distributions import frechet_distance

    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, size=(4000, 3)) * [1.0, 2.0, 0.5]
    b = rng.normal(1.0, 1.0, size=(3000, 3)) * [3.0, 1.0, 0.5] + [0.0, 2.0, -1.0]
    sa, sb = a.std(0, ddof=1), b.std(0, ddof=1)
    diag = ((a.mean(0) - b.mean(0)) ** 2).sum() + ((sa - sb) ** 2).sum()
    cov = lambda x: np.cov(x, rowvar=False)
    assert np.abs(cov(a) - np.diag(sa**2)).max() < 0.2  # near-diagonal sample covariance
    assert abs(frechet_distance(a, b) - diag) < 0.05 * diag
    assert abs(frechet_distance(torch.tensor(a), torch.tensor(a))) < 1e-8
    with pytest.raises(ValueError, match="feature dimension"):
        frechet_distance(a, b[:, :2])
