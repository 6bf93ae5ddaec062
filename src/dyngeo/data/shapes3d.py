"""A small procedural stand-in for 3D Shapes (Burgess & Kim 2018), rendered with NumPy.

A scene is a wall (upper part of the image), a floor (lower part) and one object standing on the
floor. Six factors, each with a known number of levels, generate it (the real 3D Shapes has the same
six: floor hue, wall hue, object hue, scale, shape, orientation):

- ``floor_hue``, ``wall_hue``, ``object_hue``: hues spaced evenly round the colour wheel;
- ``scale``: the object's size, evenly spaced;
- ``shape``: square, triangle, pill (an elongated ellipse), cross (up to four);
- ``orientation``: the object's rotation, evenly spaced in [−40°, 40°] (less than every shape's symmetry).

Images are anti-aliased by 4× supersampling. Factors not asked for stay at a fixed middle level. With
``n`` given, ``n`` scenes are drawn from the grid of levels (without replacement while the grid lasts);
``jitter`` shifts the object by up to that many pixels (seeded), a nuisance no factor explains.
"""

import itertools

import numpy as np
import torch

__all__ = ["FACTORS", "SHAPES", "shapes3d", "factor_levels"]

FACTORS = {"floor_hue": 10, "wall_hue": 10, "object_hue": 10, "scale": 8, "shape": 4, "orientation": 15}
SHAPES = ("square", "triangle", "pill", "cross")
_DEFAULT = {"floor_hue": 0.55, "wall_hue": 0.5, "object_hue": 0.0, "scale": 0.5, "shape": 0, "orientation": 0.5}


def _hsv(h, s, v):
    """Vectorised HSV → RGB for arrays of hues (s, v scalars); returns [..., 3]."""
    h = np.asarray(h, dtype=np.float64) % 1.0
    k = (np.array([5.0, 3.0, 1.0]) + h[..., None] * 6.0) % 6.0
    return v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def factor_levels(name, levels):
    """The physical values of factor ``name`` at ``levels`` levels (hue in [0, 1), scale as a fraction of
    the image, orientation in radians, shape as an index)."""
    if name not in FACTORS:
        raise ValueError(f"unknown factor {name!r}; choose from {list(FACTORS)}")
    if name == "shape":
        if not 1 <= levels <= len(SHAPES):
            raise ValueError(f"shape has at most {len(SHAPES)} levels; got {levels}")
        return np.arange(levels)
    if levels < 1:
        raise ValueError(f"{name} needs at least one level; got {levels}")
    if name.endswith("hue"):
        return np.arange(levels) / levels
    if name == "scale":
        return np.linspace(0.14, 0.30, levels) if levels > 1 else np.array([0.22])
    return np.deg2rad(np.linspace(-40.0, 40.0, levels)) if levels > 1 else np.array([0.0])


def _render(values, size, shifts):
    """values: dict name -> [N] physical values; returns [N, 3, size, size] float32 in [0, 1]."""
    n = len(values["scale"])
    ss = 4
    grid = (np.arange(size * ss) + 0.5) / (size * ss)  # pixel centres in [0, 1]
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    out = np.empty((n, 3, size, size), dtype=np.float32)
    horizon = 0.62
    for start in range(0, n, 256):
        sl = slice(start, start + 256)
        m = len(values["scale"][sl])
        wall = _hsv(values["wall_hue"][sl], 0.55, 0.95)
        floor = _hsv(values["floor_hue"][sl], 0.6, 0.75)
        obj = _hsv(values["object_hue"][sl], 0.85, 0.9)
        cx = 0.5 + shifts[sl, 0] / size
        cy = 0.58 + shifts[sl, 1] / size
        r = values["scale"][sl][:, None, None]
        th = values["orientation"][sl][:, None, None]
        dx, dy = xx[None] - cx[:, None, None], -(yy[None] - cy[:, None, None])  # y up
        u = (np.cos(th) * dx + np.sin(th) * dy) / r
        v = (-np.sin(th) * dx + np.cos(th) * dy) / r
        shape = values["shape"][sl][:, None, None]
        masks = [np.maximum(np.abs(u), np.abs(v)) <= 0.8,
                 (v >= -0.5) & (np.sqrt(3.0) * np.abs(u) + v <= 1.0),
                 u**2 + (v / 0.45) ** 2 <= 1.0,
                 ((np.abs(u) <= 0.3) & (np.abs(v) <= 1.0)) | ((np.abs(v) <= 0.3) & (np.abs(u) <= 1.0))]
        mask = np.select([shape == i for i in range(len(SHAPES))], masks, False)
        back = np.where((yy < horizon)[None, :, :, None], wall[:, None, None, :], floor[:, None, None, :])
        shade = (0.8 + 0.2 * (v + 1.0) / 2.0)[..., None]  # a little light from above
        img = np.where(mask[..., None], np.clip(obj[:, None, None, :] * shade, 0, 1), back)
        img = img.reshape(m, size, ss, size, ss, 3).mean((2, 4))
        out[sl] = img.transpose(0, 3, 1, 2)
    return out


def shapes3d(factors=None, n=None, size=16, seed=0, jitter=0.0):
    """Render scenes. ``factors`` maps factor names (see :data:`FACTORS`) to their numbers of levels
    (default: object hue 6, wall hue 9, scale 5). Returns ``(X, F, names)``: images ``[N, 3, size, size]``
    float32 in [0, 1], factor levels ``[N, K]`` int64 (columns in the order of ``names``)."""
    factors = dict(factors) if factors is not None else {"object_hue": 6, "wall_hue": 9, "scale": 5}
    if not factors:
        raise ValueError("give at least one factor")
    if size < 8:
        raise ValueError(f"size must be >= 8 pixels; got {size}")
    if jitter < 0:
        raise ValueError(f"jitter must be >= 0; got {jitter}")
    names = list(factors)
    levels = {name: factor_levels(name, int(k)) for name, k in factors.items()}
    rng = np.random.default_rng(seed)
    counts = [len(levels[name]) for name in names]
    total = int(np.prod(counts))
    if n is None:
        F = np.array(list(itertools.product(*[range(c) for c in counts])), dtype=np.int64).reshape(total, len(names))
    else:
        if n < 1:
            raise ValueError(f"n must be >= 1; got {n}")
        if n <= total:
            flat = rng.choice(total, size=n, replace=False)
        else:
            flat = np.concatenate([rng.permutation(total) for _ in range(-(-n // total))])[:n]
        F = np.stack(np.unravel_index(flat, counts), 1).astype(np.int64)
    N = F.shape[0]
    values = {}
    for name in FACTORS:
        if name in factors:
            values[name] = levels[name][F[:, names.index(name)]]
        elif name == "shape":
            values[name] = np.zeros(N, dtype=np.int64)
        else:
            full = factor_levels(name, FACTORS[name])
            values[name] = np.full(N, full[int(_DEFAULT[name] * (len(full) - 1))] if name != "floor_hue"
                                   else _DEFAULT[name])
    shifts = rng.uniform(-jitter, jitter, size=(N, 2)) if jitter > 0 else np.zeros((N, 2))
    X = _render(values, size, shifts)
    return torch.from_numpy(X), torch.from_numpy(F), names
