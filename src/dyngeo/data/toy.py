"""Low-dimensional toy problems: moons, annuli, spirals, the 1-D reflection."""

import math

import torch


def _tensors(X, y, target_dtype=torch.long):
    return torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=target_dtype)


def two_moons(n=512, noise=0.1, seed=0):
    """Two interleaving half circles in 2-D, labels 0 and 1 (scikit-learn's ``make_moons``)."""
    from sklearn.datasets import make_moons

    return _tensors(*make_moons(n_samples=n, noise=noise, random_state=seed))


def annuli(n=512, r_inner=0.5, r_ring=(1.0, 1.5), dim=2, seed=0):
    """Concentric annuli (Dupont et al. 2019): label 0 inside the ball of radius ``r_inner``, label 1
    on the shell ``r_ring[0] <= |x| <= r_ring[1]``. Points are uniform in radius, in ``dim`` dimensions."""
    if not 0 < r_inner < r_ring[0] < r_ring[1]:
        raise ValueError(f"need 0 < r_inner < r_ring[0] < r_ring[1]; got {r_inner}, {r_ring}")
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    u = torch.rand(n, generator=g)
    radius = torch.where(labels == 0, u * r_inner, r_ring[0] + u * (r_ring[1] - r_ring[0]))
    direction = torch.randn(n, dim, generator=g)
    direction = direction / direction.norm(dim=1, keepdim=True)
    return direction * radius[:, None], labels


def spirals(n=512, classes=2, turns=1.0, noise=0.05, seed=0):
    """``classes`` interleaved spiral arms in 2-D, radius growing from 0 to 1 along each arm."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    r = torch.rand(n, generator=g)
    angle = 2 * math.pi * (turns * r + labels / classes)
    X = torch.stack([r * torch.cos(angle), r * torch.sin(angle)], dim=1)
    return X + noise * torch.randn(n, 2, generator=g), labels


def reflection_1d(n=64):
    """The 1-D reflection task: inputs evenly spaced in [-1, 1], targets ``-x`` (shapes ``[n, 1]``)."""
    x = torch.linspace(-1, 1, n).unsqueeze(1)
    return x, -x
