"""Tests of dyngeo.ssl (SimCLR loss and views) and dyngeo.segment (feature clustering) against
definitions evaluated independently, closed forms and scikit-learn."""

import math

import numpy as np
import pytest
import torch
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score

from dyngeo.data.shapes import multi_object_images
from dyngeo.metrics import fg_ari
from dyngeo.segment import cluster_features
from dyngeo.ssl import nt_xent, random_view, rotate_hue


def nt_xent_by_definition(z1, z2, t):
    """SimCLR's loss written out view by view, in numpy."""
    z = np.concatenate([z1, z2])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    B, total = len(z1), 0.0
    for i in range(2 * B):
        j = (i + B) % (2 * B)
        denom = sum(math.exp(z[i] @ z[k] / t) for k in range(2 * B) if k != i)
        total += -math.log(math.exp(z[i] @ z[j] / t) / denom)
    return total / (2 * B)


def test_nt_xent_matches_its_definition(float64):
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    for t in (0.1, 0.5, 1.0):
        assert nt_xent(z1, z2, t).item() == pytest.approx(nt_xent_by_definition(z1.numpy(), z2.numpy(), t), rel=1e-10)


def test_nt_xent_closed_form_for_orthonormal_pairs(float64):
    # identical views, images orthonormal: s = 1 with the partner, 0 with the 2B - 2 others
    B, t = 4, 0.1
    z = torch.eye(B)
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2 * (B - 1)))
    assert nt_xent(z, z, t).item() == pytest.approx(expected, rel=1e-12)
    assert nt_xent(z, z.roll(1, 0), t).item() > expected + 5  # mismatched partners cost a lot


def test_nt_xent_rejects_bad_inputs():
    with pytest.raises(ValueError, match="same shape|one shape"):
        nt_xent(torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="at least two"):
        nt_xent(torch.randn(1, 3), torch.randn(1, 3))
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(torch.randn(4, 3), torch.randn(4, 3), temperature=0)


def test_random_view_without_changes_is_the_identity():
    images, _ = multi_object_images(3, size=16, min_side=4, max_side=8)
    same = random_view(images, scale=(1.0, 1.0), jitter=0.0, flip=False)
    assert torch.allclose(same, images, atol=1e-5)


def test_random_view_crops_flips_and_stays_in_range():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(64, 3, 16, 16, generator=g)
    views = random_view(images, g)
    assert views.shape == images.shape and views.min() >= 0 and views.max() <= 1
    # a left-right ramp: a flip reverses the horizontal gradient in about half of the views
    ramp = torch.linspace(0, 1, 16).expand(64, 3, 16, 16)
    slope = random_view(ramp, g, jitter=0.0).diff(dim=3).mean((1, 2, 3))
    assert 16 < (slope < 0).sum() < 48 and (slope.abs() > 0).all()
    with pytest.raises(ValueError, match="RGB"):
        random_view(torch.rand(2, 1, 8, 8))


def test_hue_rotation_by_a_third_turn_cycles_the_channels(float64):
    img = torch.rand(2, 3, 4, 4)
    turned = rotate_hue(img, torch.full((2,), 2 * math.pi / 3))
    assert torch.allclose(turned, img[:, [2, 0, 1]], atol=1e-12)
    grey = torch.full((1, 3, 2, 2), 0.4)
    assert torch.allclose(rotate_hue(grey, torch.tensor([1.0])), grey, atol=1e-12)


def test_cluster_features_agrees_with_scikit_learn():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(3, 5, 6, 6, generator=g)
    ours = cluster_features(feats, 4)
    for f, labels in zip(feats, ours):
        pts = torch.nn.functional.normalize(f.flatten(1).T, dim=1).double().numpy()
        ref = AgglomerativeClustering(n_clusters=4, linkage="average", metric="cosine").fit_predict(pts)
        assert adjusted_rand_score(ref, labels.flatten().numpy()) == pytest.approx(1.0)


def test_cluster_features_recovers_masks_and_upsamples():
    _, masks = multi_object_images(4, size=16, objects=3, min_side=4, max_side=8, seed=1)
    feats = torch.nn.functional.one_hot(masks, 4).permute(0, 3, 1, 2).float() + 0.01
    assert torch.allclose(fg_ari(masks, cluster_features(feats, 4)), torch.ones(4))
    coarse = cluster_features(feats[:, :, ::2, ::2], 4, size=(16, 16))
    assert coarse.shape == (4, 16, 16) and torch.equal(coarse[:, ::2, ::2], cluster_features(feats[:, :, ::2, ::2], 4))
    with pytest.raises(ValueError, match="features"):
        cluster_features(torch.randn(4, 6, 6), 3)


def test_draw_uses_the_generator_and_keeps_dtype():
    from dyngeo.rng import draw

    ours = draw(torch.randn, (4, 3), torch.Generator().manual_seed(5), "cpu", torch.float64)
    assert ours.dtype == torch.float64
    assert torch.equal(ours, torch.randn(4, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64))
    assert draw(torch.rand, (2,)).shape == (2,)
