"""scikit-learn's digits, shipped with the package (MNIST-family and CIFAR-10 are read by :mod:`dyngeo.reproduce`)."""

import numpy as np

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
