"""The procedural 3D-Shapes stand-in: labels, determinism, and each factor changing the pixels it should."""

import numpy as np
import pytest
import torch

from dyngeo.data.shapes3d import FACTORS, factor_levels, shapes3d


def test_full_grid_labels_and_range():
    X, F, names = shapes3d({"object_hue": 3, "scale": 2}, size=16)
    assert names == ["object_hue", "scale"]
    assert X.shape == (6, 3, 16, 16) and X.dtype == torch.float32 and F.dtype == torch.int64
    assert sorted(map(tuple, F.tolist())) == [(a, b) for a in range(3) for b in range(2)]
    assert float(X.min()) >= 0 and float(X.max()) <= 1


def test_seeded_and_sampled_without_replacement():
    a = shapes3d({"wall_hue": 5, "shape": 4}, n=12, seed=3, jitter=1.0)
    b = shapes3d({"wall_hue": 5, "shape": 4}, n=12, seed=3, jitter=1.0)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert len(set(map(tuple, a[1].tolist()))) == 12
    c = shapes3d({"wall_hue": 5, "shape": 4}, n=12, seed=4, jitter=1.0)
    assert not torch.equal(a[0], c[0])


def _pair(name, levels=4, **kw):
    X, F, _ = shapes3d({name: levels}, size=32, **kw)
    return X[0], X[-1]


def test_each_factor_changes_the_right_region():
    wall, floor = slice(0, 6), slice(30, 32)  # rows above the object, rows of floor below it
    a, b = _pair("wall_hue")
    assert (a[:, wall] - b[:, wall]).abs().max() > 0.2 and torch.equal(a[:, floor], b[:, floor])
    a, b = _pair("floor_hue")
    assert (a[:, floor] - b[:, floor]).abs().max() > 0.2 and torch.equal(a[:, wall], b[:, wall])
    for name in ("object_hue", "scale", "shape", "orientation"):
        a, b = _pair(name)
        assert torch.equal(a[:, wall], b[:, wall]) and torch.equal(a[:, floor], b[:, floor]), name
        assert (a - b).abs().max() > 0.2, name


def test_object_area_grows_with_scale():
    X, F, _ = shapes3d({"scale": 4}, size=32)
    wall, floor = X[:, :, :1, :1], X[:, :, -1:, :1]  # corner pixels: the background colours
    obj = ((X - wall).abs().sum(1) > 0.15) & ((X - floor).abs().sum(1) > 0.15)
    area = obj.float().sum((1, 2))
    assert torch.all(area[1:] > area[:-1]) and area[0] > 20


def test_levels_and_errors():
    assert np.allclose(factor_levels("object_hue", 4), [0, 0.25, 0.5, 0.75])
    assert set(FACTORS) == {"floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"}
    with pytest.raises(ValueError, match="unknown factor"):
        shapes3d({"colour": 3})
    with pytest.raises(ValueError, match="at most 4"):
        shapes3d({"shape": 5})
