"""ReLU networks as polyhedra on MNIST (Geometries of learning, article 3, Table 3): how often the
nearest other training image by the Hamming distance between activation patterns has the same label,
against the nearest by Euclidean distance between images.

Protocol (paper): network S1, three hidden layers of 200 ReLUs, cross-entropy, Adam, at most 50
epochs, on the 60,000 MNIST training images (pixels in [0, 1], flattened). Not stated, ours: learning
rate 1e-3, batch 128, 20 epochs (the paper's S1 reaches 99.08 % train / 97.57 % test).
"""

import torch
import torch.nn.functional as F

from dyngeo.geometry import relu

from .runner import Experiment

PAPER_EXTRA = {"hamming_train": 99.50, "hamming_test": 98.26, "euclidean_train": 97.37, "euclidean_test": 95.58,
               "train_accuracy": 99.08, "test_accuracy": 97.57}


def experiment(smoke=False, dtype=torch.float32, epochs=None, batch=None, lr=None, widths=(200, 200, 200)):
    """The ``relu-mnist-hamming`` experiment (network S1)."""
    sizes = [784, *widths, 10]

    def build():
        return relu.mlp(sizes)

    def prepare(X):
        return X.flatten(1)

    def loss(m, x, y):
        return F.cross_entropy(m(x), y)

    @torch.no_grad()
    def evaluate(m, Xte, yte, Xtr, ytr):
        S_tr, S_te = relu.activation_patterns(m, Xtr), relu.activation_patterns(m, Xte)
        out = {
            "hamming_train": 100 * relu.nearest_same_label(S_tr, S_tr, ytr, ytr, "hamming", exclude_self=True),
            "hamming_test": 100 * relu.nearest_same_label(S_te, S_tr, yte, ytr, "hamming"),
            "euclidean_train": 100 * relu.nearest_same_label(Xtr, Xtr, ytr, ytr, "euclidean", exclude_self=True),
            "euclidean_test": 100 * relu.nearest_same_label(Xte, Xtr, yte, ytr, "euclidean"),
            "train_accuracy": 100 * (m(Xtr).argmax(1) == ytr).double().mean().item(),
            "test_accuracy": 100 * (m(Xte).argmax(1) == yte).double().mean().item(),
            "bits": int(S_tr.shape[1]),
        }
        out["value"] = out["hamming_train"]
        return out

    return Experiment(
        name="relu-mnist-hamming", target="ReLU polyhedra, Table 3 (1-NN same class, network S1 3x200, train)",
        metric="Hamming 1-NN same-class rate, training set (%)", paper_value=99.50, dataset="mnist", build=build,
        loss=loss, evaluate=evaluate, prepare=prepare, epochs=epochs or (1 if smoke else 20),
        batch=batch or (8 if smoke else 128), lr=lr or 1e-3, dtype=dtype, paper_extra=PAPER_EXTRA,
        protocol="MLP 784-200-200-200-10, cross-entropy, Adam 1e-3, batch 128, 20 epochs (paper: at most 50)")
