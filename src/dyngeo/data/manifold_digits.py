"""Digits that move on a known two-dimensional manifold: each class's prototype (the mean of
scikit-learn's 8x8 digits of that class, upsampled to 16x16) rotated by θ and scaled by s. The
intrinsic parameters are returned with the images, so an attack's result can be read as "this digit
turned by 40°" (the stand-in for the rendered vehicles of Mahler et al. 2024, whose images come with
azimuth and down-look angle)."""

import numpy as np
import torch

__all__ = ["digit_prototypes", "render_digits", "rotated_digits"]


def digit_prototypes(size=16):
    """The ten class-mean digits, ``[10, size, size]`` floats in [0, 1]: bilinearly upsampled to
    three quarters of ``size`` and padded with black, so rotations and scalings stay in the frame."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    data = load_digits()
    means = np.stack([data.images[data.target == c].mean(0) / 16.0 for c in range(10)])
    inner = int(round(0.75 * size))
    pad = (size - inner) // 2
    out = np.zeros((10, size, size))
    out[:, pad:pad + inner, pad:pad + inner] = np.stack([zoom(m, inner / 8, order=1) for m in means])
    return np.clip(out, 0, 1)


def render_digits(prototypes, labels, theta, scale):
    """Render ``prototypes[labels]`` rotated by ``theta`` (degrees; positive turns the top of the digit to the left on screen) and scaled by
    ``scale`` about the image centre: ``[M, size*size]`` float32 in [0, 1]."""
    from scipy.ndimage import affine_transform

    P = np.asarray(prototypes, dtype=np.float64)
    labels, theta, scale = (np.broadcast_arrays(np.asarray(labels), np.asarray(theta, float), np.asarray(scale, float)))
    if np.any(scale <= 0):
        raise ValueError("scales must be positive")
    size = P.shape[-1]
    c = (size - 1) / 2
    out = np.empty((labels.size, size * size), dtype=np.float32)
    for i, (lab, t, s) in enumerate(zip(labels.ravel(), theta.ravel(), scale.ravel())):
        a = np.deg2rad(t)
        # output pixel (r, q) samples the input at A (r, q) + offset; A = R(-θ) / s
        A = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]) / s
        offset = np.array([c, c]) - A @ np.array([c, c])
        out[i] = np.clip(affine_transform(P[lab], A, offset=offset, order=1, mode="constant"), 0, 1).ravel()
    return out


def rotated_digits(classes=range(10), theta=(-60.0, 60.0), scale=(0.8, 1.2), n_theta=49, n_scale=9,
                   noise=0.0, size=16, seed=0):
    """Every class of ``classes`` rendered on a regular ``n_theta x n_scale`` grid of angles (degrees)
    and scales, plus optional Gaussian pixel ``noise``. Returns ``(X [M, size²] float32, y [M] int64,
    params [M, 2] float32 with columns (θ in degrees, s))``."""
    classes = list(classes)
    if not classes or any(not 0 <= c <= 9 for c in classes):
        raise ValueError(f"classes must be digits 0..9; got {classes}")
    P = digit_prototypes(size)
    T, S = np.meshgrid(np.linspace(*theta, n_theta), np.linspace(*scale, n_scale), indexing="ij")
    labels = np.repeat(classes, T.size)
    th = np.tile(T.ravel(), len(classes))
    sc = np.tile(S.ravel(), len(classes))
    X = render_digits(P, labels, th, sc)
    if noise:
        X = X + noise * np.random.default_rng(seed).standard_normal(X.shape).astype(np.float32)
    return (torch.from_numpy(X), torch.from_numpy(labels.astype(np.int64)),
            torch.from_numpy(np.c_[th, sc].astype(np.float32)))
