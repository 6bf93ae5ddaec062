"""A glyph turning through a full circle at a few sizes, with one neighbourhood held out: a small
stand-in for the rendered object views of Gong et al. (2025, LineMOD), whose image manifold is
sampled densely except where a neighbourhood of images is removed.

The images lie on a cylinder: angle θ ∈ [0°, 360°) (a circle, since the glyph has no rotational
symmetry) times scale s. The held-out set follows the paper's protocol (Sec. 4.2): a random anchor
image and its nearest neighbours in pixel space (Euclidean). The true angle and scale of every image
are returned with it.
"""

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["GLYPH_F", "glyph", "render_glyph", "rotating_glyphs", "GlyphSet"]

# An "F": no rotation other than the full turn maps it to itself, so the angles trace a circle.
GLYPH_F = (
    "..........",
    "..######..",
    "..######..",
    "..##......",
    "..#####...",
    "..#####...",
    "..##......",
    "..##......",
    "..##......",
    "..........",
)


def glyph(size=16, rows=GLYPH_F, blur=0.6):
    """The bitmap ``rows`` ('#' = ink) upsampled to ``[size, size]`` floats in [0, 1], slightly blurred
    so that small rotations change the pixels smoothly."""
    from scipy.ndimage import gaussian_filter, zoom

    if size < len(rows):
        raise ValueError(f"size must be at least the bitmap's {len(rows)} rows; got {size}")
    if len({len(r) for r in rows}) != 1:
        raise ValueError("every row of the bitmap must have the same length")
    bitmap = np.array([[c == "#" for c in r] for r in rows], dtype=np.float64)
    img = zoom(bitmap, (size / bitmap.shape[0], size / bitmap.shape[1]), order=0)
    if blur:
        img = gaussian_filter(img, blur)
    return np.clip(img / img.max(), 0, 1)


def render_glyph(image, theta, scale):
    """``image`` ``[H, W]`` turned by ``theta`` (degrees, counter-clockwise as displayed, like
    ``np.rot90``) and scaled by ``scale`` about its centre, for every pair of the broadcast ``theta``,
    ``scale``: ``[M, H*W]`` float32 in [0, 1], bilinear, black outside the frame (one vectorised
    ``map_coordinates`` call)."""
    from scipy.ndimage import map_coordinates

    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"image must be a 2-D array; got shape {img.shape}")
    theta, scale = (a.ravel() for a in np.broadcast_arrays(np.asarray(theta, float), np.asarray(scale, float)))
    if np.any(scale <= 0):
        raise ValueError("scales must be positive")
    H, W = img.shape
    cr, cc = (H - 1) / 2, (W - 1) / 2
    r, c = np.meshgrid(np.arange(H) - cr, np.arange(W) - cc, indexing="ij")
    a = np.deg2rad(theta)[:, None, None]
    s = scale[:, None, None]
    # output pixel (r, c), relative to the centre, samples the input at R(-θ) (r, c) / s
    src_r = (np.cos(a) * r + np.sin(a) * c) / s + cr
    src_c = (-np.sin(a) * r + np.cos(a) * c) / s + cc
    out = map_coordinates(img, [src_r, src_c], order=1, mode="grid-constant", cval=0.0)
    return np.clip(out, 0, 1).reshape(len(theta), H * W).astype(np.float32)


@dataclass
class GlyphSet:
    """The images and their truth. ``X`` ``[N, size²]`` float32; ``angle`` (degrees) and ``scale``
    ``[N]`` float32; ``hold`` the held-out neighbourhood (anchor first, then its neighbours by distance)
    and ``train`` the rest, both int64 indices into ``X``; ``size`` the image side."""

    X: torch.Tensor
    angle: torch.Tensor
    scale: torch.Tensor
    hold: torch.Tensor
    train: torch.Tensor
    size: int

    @property
    def images(self):
        """``X`` as ``[N, size, size]``."""
        return self.X.view(-1, self.size, self.size)


def rotating_glyphs(n_angles=72, scales=(0.6, 0.7, 0.8, 0.9, 1.0), n_hold=36, size=16, noise=0.0, seed=0):
    """The glyph at ``n_angles`` equally spaced angles in [0°, 360°) times each of ``scales``
    (``N = n_angles * len(scales)`` images, angle-major), plus optional Gaussian pixel ``noise``.

    The held-out neighbourhood: an anchor image drawn with ``seed`` and its ``n_hold - 1`` nearest
    images in pixel space (Gong et al. 2025, Sec. 4.2). ``n_hold = 0`` holds nothing out.
    """
    scales = np.atleast_1d(np.asarray(scales, dtype=np.float64))
    if n_angles < 3:
        raise ValueError(f"n_angles must be at least 3 to trace a circle; got {n_angles}")
    N = n_angles * len(scales)
    if not 0 <= n_hold < N:
        raise ValueError(f"n_hold must lie in [0, {N}) for {N} images; got {n_hold}")
    T, S = np.meshgrid(360.0 * np.arange(n_angles) / n_angles, scales, indexing="ij")
    X = render_glyph(glyph(size), T.ravel(), S.ravel())
    rng = np.random.default_rng(seed)
    if noise:
        X = np.clip(X + noise * rng.standard_normal(X.shape), 0, 1).astype(np.float32)
    X = torch.from_numpy(X)
    if n_hold:
        anchor = int(rng.integers(N))
        d = torch.cdist(X[anchor:anchor + 1].double(), X.double())[0]
        d[anchor] = -1.0  # the anchor first, even if another image coincides with it
        hold = torch.argsort(d, stable=True)[:n_hold]
    else:
        hold = torch.zeros(0, dtype=torch.long)
    keep = torch.ones(N, dtype=torch.bool)
    keep[hold] = False
    return GlyphSet(X=X, angle=torch.from_numpy(T.ravel().astype(np.float32)),
                    scale=torch.from_numpy(S.ravel().astype(np.float32)), hold=hold,
                    train=torch.nonzero(keep).flatten(), size=size)
