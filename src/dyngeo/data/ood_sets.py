"""Out-of-distribution image sets generated on the fly for 8×8 digits (Part II, "Lift, map, detect").

All sets are float32 tensors ``[N, 1, size, size]`` with pixels in [0, 1], like
``dyngeo.data.digits()`` reshaped. Each generator is deterministic given its ``seed``.

- :func:`inverted`: images with black and white swapped (``1 - x``), a far shift in intensity;
- :func:`sprites`: one filled ellipse or rectangle on a black background, at a random place and size;
- :func:`blurred_noise`: uniform noise smoothed by a Gaussian filter and stretched to [0, 1] per image.
"""

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

__all__ = ["inverted", "sprites", "blurred_noise", "ood_sets"]


def _check_count(n, size):
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}")
    if not isinstance(size, int) or size < 4:
        raise ValueError(f"size must be an integer >= 4; got {size!r}")


def inverted(images):
    """``1 - x`` for images in [0, 1] (any shape); raises if the pixels leave [0, 1]."""
    images = torch.as_tensor(images)
    if not images.dtype.is_floating_point or images.numel() == 0:
        raise ValueError("images must be a non-empty floating-point tensor with pixels in [0, 1]")
    if float(images.min()) < 0 or float(images.max()) > 1:
        raise ValueError("inverted expects pixels in [0, 1]")
    return 1 - images


def sprites(n, size=8, seed=0):
    """``n`` images of one filled ellipse (half of them on average) or axis-aligned rectangle, with centre,
    half-widths (1 to size/2 pixels) and brightness (0.5 to 1) drawn at random, on a black background."""
    _check_count(n, size)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    centre = rng.uniform(size * 0.25, size * 0.75, (n, 2))
    half = rng.uniform(1.0, size / 2, (n, 2))
    level = rng.uniform(0.5, 1.0, n)
    ellipse = rng.random(n) < 0.5
    dy = (yy[None] - centre[:, 0, None, None]) / half[:, 0, None, None]
    dx = (xx[None] - centre[:, 1, None, None]) / half[:, 1, None, None]
    inside = np.where(ellipse[:, None, None], dx**2 + dy**2 <= 1, (np.abs(dx) <= 1) & (np.abs(dy) <= 1))
    images = inside * level[:, None, None]
    return torch.tensor(images, dtype=torch.float32).unsqueeze(1)


def blurred_noise(n, size=8, sigma=1.0, seed=0):
    """``n`` images of uniform noise blurred by a Gaussian of width ``sigma`` pixels (``scipy.ndimage``),
    then stretched linearly to [0, 1] per image."""
    _check_count(n, size)
    if sigma <= 0:
        raise ValueError(f"sigma must be positive; got {sigma}")
    rng = np.random.default_rng(seed)
    noise = gaussian_filter(rng.random((n, size, size)), sigma=(0, sigma, sigma), mode="reflect")
    lo, hi = noise.min(axis=(1, 2), keepdims=True), noise.max(axis=(1, 2), keepdims=True)
    images = (noise - lo) / np.maximum(hi - lo, 1e-12)
    return torch.tensor(images, dtype=torch.float32).unsqueeze(1)


def ood_sets(digit_images, n, size=8, seed=0):
    """The three generated sets of ``n`` images each, as a dict ``{"inverted", "sprites", "blurred noise"}``;
    ``digit_images`` ``[M, 1, size, size]`` (M ≥ n) supplies the images to invert (the first ``n``)."""
    digit_images = torch.as_tensor(digit_images)
    if digit_images.dim() != 4 or tuple(digit_images.shape[1:]) != (1, size, size) or len(digit_images) < n:
        raise ValueError(f"digit_images must be [M >= {n}, 1, {size}, {size}]; got {tuple(digit_images.shape)}")
    return {"inverted": inverted(digit_images[:n]),
            "sprites": sprites(n, size, seed),
            "blurred noise": blurred_noise(n, size, seed=seed + 1)}
