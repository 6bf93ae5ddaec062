"""Distances between two samples of a distribution.

``frechet_distance`` is the Fréchet (2-Wasserstein) distance between the Gaussians fitted to two sets
of feature vectors, the quantity behind FID (Heusel et al. 2017). The book computes it on the features
of small networks trained in the chapters, an offline stand-in for Inception features: its values are
comparable within a chapter, not with published FIDs.
"""

import numpy as np
import scipy.linalg
import torch

__all__ = ["frechet_distance"]


def _features(a, name):
    a = a.detach().cpu().double().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2:
        raise ValueError(f"{name} must be [N, d] features with N >= 2; got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    return a


def frechet_distance(a, b):
    """``||μ_a − μ_b||² + tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^{1/2})`` for features ``a`` [N, d] and ``b`` [M, d]
    (tensors or arrays), in float64; the squared W2 distance between the two fitted Gaussians."""
    a, b = _features(a, "a"), _features(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same feature dimension; got {a.shape[1]} and {b.shape[1]}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root = scipy.linalg.sqrtm(cov_a @ cov_b)
    root = root.real if np.iscomplexobj(root) else root  # round-off can leave a tiny imaginary part
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2.0 * root))
