"""Image datasets: scikit-learn's digits (shipped), MNIST-family and CIFAR-10 when available."""

import numpy as np
import torch

from .toy import _tensors


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
