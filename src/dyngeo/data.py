"""Data for the chapters: small generators and datasets that ship with installed packages.

Nothing here needs the network. Every generator takes a ``seed`` and returns float32 inputs and
int64 labels (or float targets) as tensors on the CPU; move them with ``.to(dyngeo.device())``.
"""

import math

import numpy as np
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


def digits(test_fraction=0.25, seed=0):
    """scikit-learn's 8x8 handwritten digits (1,797 images, shipped with the package).

    Returns ``(X_train, y_train, X_test, y_test)`` with pixels scaled to [0, 1] and images flattened
    to 64 features; reshape to ``[-1, 1, 8, 8]`` for convolutions.
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    X, y = data.data / 16.0, data.target
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    return (*_tensors(X[train], y[train]), *_tensors(X[test], y[test]))


def image_dataset(name, root="~/.cache/dyngeo", test_fraction=0.25, seed=0):
    """MNIST, Fashion-MNIST or CIFAR-10 when torchvision can load them (present or downloadable),
    else scikit-learn's digits, saying so. Returns ``(X_train, y_train, X_test, y_test, name_used)``
    with images as ``[N, C, H, W]`` floats in [0, 1]."""
    loaders = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}
    if name not in (*loaders, "digits"):
        raise ValueError(f"unknown dataset {name!r}; choose one of {('digits', *loaders)}")
    if name != "digits":
        try:
            import os

            from torchvision import datasets

            cls = getattr(datasets, loaders[name])
            path = os.path.expanduser(root)
            parts = [cls(path, train=train, download=True) for train in (True, False)]
            out = []
            for part in parts:
                X = torch.as_tensor(np.asarray(part.data), dtype=torch.float32) / 255.0
                X = X.permute(0, 3, 1, 2) if X.dim() == 4 else X.unsqueeze(1)
                out += [X, torch.as_tensor(np.asarray(part.targets), dtype=torch.long)]
            return (*out, name)
        except Exception as error:  # no torchvision, no network, no files: fall back, loudly
            print(f"{name} is not available here ({type(error).__name__}); falling back to scikit-learn's 8x8 digits")
    Xtr, ytr, Xte, yte = digits(test_fraction, seed)
    return Xtr.view(-1, 1, 8, 8), ytr, Xte.view(-1, 1, 8, 8), yte, "digits"
