"""The rotating-glyph image set: its truth, its hold-out neighbourhood and its topology."""

import numpy as np
import pytest
import torch
from scipy.ndimage import rotate
from sklearn.neighbors import NearestNeighbors

from dyngeo.data.rotating_glyphs import glyph, render_glyph, rotating_glyphs
from dyngeo.geometry import topology


def test_shapes_truth_and_seeding():
    G = rotating_glyphs(n_angles=24, scales=(0.8, 1.0), n_hold=10, seed=3)
    assert G.X.shape == (48, 256) and G.X.dtype == torch.float32 and G.images.shape == (48, 16, 16)
    assert float(G.X.min()) >= 0 and float(G.X.max()) <= 1
    np.testing.assert_allclose(G.angle.numpy(), np.repeat(np.arange(24) * 15.0, 2))
    np.testing.assert_allclose(G.scale.numpy(), np.tile([0.8, 1.0], 24), rtol=1e-6)
    again = rotating_glyphs(n_angles=24, scales=(0.8, 1.0), n_hold=10, seed=3)
    assert torch.equal(G.X, again.X) and torch.equal(G.hold, again.hold)
    other = rotating_glyphs(n_angles=24, scales=(0.8, 1.0), n_hold=10, seed=4)
    assert not torch.equal(G.hold, other.hold)


def test_hold_out_is_the_anchor_and_its_nearest_images():
    G = rotating_glyphs(n_hold=30, seed=1)
    assert sorted(torch.cat([G.hold, G.train]).tolist()) == list(range(len(G.X)))
    anchor = G.hold[0].item()
    nn = NearestNeighbors(n_neighbors=30).fit(G.X.numpy())
    dist, idx = nn.kneighbors(G.X[anchor:anchor + 1].numpy())
    assert set(idx[0].tolist()) == set(G.hold.tolist())
    d = np.linalg.norm(G.X.numpy() - G.X[anchor].numpy(), axis=1)
    assert d[G.hold.numpy()].max() <= d[G.train.numpy()].min() + 1e-6  # a whole ball, nothing left inside


def test_rendering_matches_scipy_rotate_at_right_angles():
    img = glyph(16)
    for k in (1, 2, 3):
        got = render_glyph(img, 90.0 * k, 1.0).reshape(16, 16)
        want = rotate(img, 90.0 * k, reshape=False, order=1)  # at multiples of 90°: np.rot90, a pixel permutation
        np.testing.assert_allclose(got, np.clip(want, 0, 1), atol=1e-6)
        np.testing.assert_allclose(got, np.rot90(img, k), atol=1e-6)
    np.testing.assert_allclose(render_glyph(img, 360.0, 1.0).reshape(16, 16), img, atol=1e-6)


def test_the_turning_glyph_traces_one_loop():
    G = rotating_glyphs(n_angles=48, scales=(1.0,), n_hold=0)
    h1 = topology.persistence(topology.diagrams(G.X, maxdim=1)[1])
    top = np.sort(h1)[::-1]
    assert top[0] > 4 * top[1]  # one salient H1 point: the circle of angles


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_hold"):
        rotating_glyphs(n_angles=10, scales=(1.0,), n_hold=10)
    with pytest.raises(ValueError, match="positive"):
        render_glyph(glyph(), 0.0, 0.0)
    with pytest.raises(ValueError, match="n_angles"):
        rotating_glyphs(n_angles=2)
