"""Multi-object images made in code: coloured squares, discs and triangles on a dark background,
with their instance masks (toy stand-ins for the object-discovery datasets of AKOrN and others)."""

import numpy as np
import torch


def multi_object_images(n, size=32, objects=3, min_side=8, max_side=14, noise=0.0, seed=0):
    """``n`` RGB images ``[n, 3, size, size]`` in [0, 1] and instance masks ``[n, size, size]``
    (0 = background, 1..``objects`` = objects, later objects drawn on top of earlier ones).

    Each object is a square, disc or triangle of random side in [min_side, max_side], position and
    saturated colour; ``noise`` adds Gaussian pixel noise of that standard deviation.
    """
    if n < 1 or objects < 1:
        raise ValueError(f"need n >= 1 and objects >= 1; got n={n}, objects={objects}")
    if not 1 <= min_side <= max_side < size:
        raise ValueError(f"need 1 <= min_side <= max_side < size; got {min_side}, {max_side}, {size}")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    yy, xx = yy[None], xx[None]  # broadcast over images
    masks = np.zeros((n, size, size), dtype=np.int64)
    images = np.zeros((n, 3, size, size), dtype=np.float32) + 0.1
    for k in range(1, objects + 1):  # a loop over objects, vectorised over images
        side = rng.integers(min_side, max_side + 1, n)[:, None, None]
        top = (rng.random(n)[:, None, None] * (size - side)).astype(int)
        left = (rng.random(n)[:, None, None] * (size - side)).astype(int)
        kind = rng.integers(0, 3, n)[:, None, None]
        u, v = (yy - top) / side, (xx - left) / side  # coordinates in the object's box, [0, 1)
        inside_box = (u >= 0) & (u < 1) & (v >= 0) & (v < 1)
        disc = (u - 0.5) ** 2 + (v - 0.5) ** 2 < 0.25
        triangle = np.abs(v - 0.5) < 0.5 * u
        shape = np.where(kind == 0, inside_box, np.where(kind == 1, disc & inside_box, triangle & inside_box))
        hue = rng.random(n)
        colour = 0.25 + 0.75 * np.clip(np.abs(((hue[:, None] * 6 + np.array([0, 4, 2])) % 6) - 3) - 1, 0, 1)
        masks[shape] = k
        images = np.where(shape[:, None], colour[:, :, None, None].astype(np.float32), images)
    if noise:
        images = images + noise * rng.standard_normal(images.shape).astype(np.float32)
    return torch.from_numpy(np.clip(images, 0, 1).astype(np.float32)), torch.from_numpy(masks)
