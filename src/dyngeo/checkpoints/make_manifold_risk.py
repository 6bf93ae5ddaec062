"""Classifiers and autoencoders of Chapter 11 (adversarial risk on and off the manifold).

``python -m dyngeo.checkpoints.make_manifold_risk`` writes ``manifold_risk.pt`` with, for seeds 0, 1, 2:

- on the unit circle (1,000 training points, labels "single" = 1(x1 > 0), "double" = 1(x1 x2 > 0),
  Sec. 3.1 of Zhang et al. 2024): a two-layer ReLU network trained plainly (``f``), by Madry
  adversarial training in L2 (``adv``) and by adversarial training restricted to the circle's normal
  (radial) direction (``nor``), all at radius ``CIRCLE_EPS``;
- on scikit-learn's digits: an MLP classifier (``f``), an autoencoder 64-32-8-32-64 (the manifold),
  and the classifier trained adversarially in L2, in the whole space (``adv``) and in the normal
  spaces of the autoencoder's decoder at the training points (``nor``), at radius ``DIGITS_EPS``.

The chapter and ``tests/test_manifold_risk.py`` import the functions below to recompute pieces of it.
"""

import math

import torch
import torch.nn.functional as F

from dyngeo.attacks.adversarial_training import adversarial_training
from dyngeo.checkpoints import save
from dyngeo.data import digits
from dyngeo.geometry import manifold_risk as mr
from dyngeo.train import fit

SEEDS, CIRCLE_EPS, DIGITS_EPS, LATENT = (0, 1, 2), 0.1, 1.0, 8


def mlp(i=2, h=32, depth=2, o=2):
    layers, d = [], i
    for _ in range(depth):
        layers += [torch.nn.Linear(d, h), torch.nn.ReLU()]
        d = h
    return torch.nn.Sequential(*layers, torch.nn.Linear(d, o))


def circle_labels(X, kind):
    return (X[:, 0] > 0 if kind == "single" else X[:, 0] * X[:, 1] > 0).long()


def circle_data(seed, kind, n=1000):
    """``n`` points uniform on the unit circle and their 0/1 labels."""
    th = torch.rand(n, generator=torch.Generator().manual_seed(seed)) * 2 * math.pi
    X = mr.Circle.point(th).float()
    return X, circle_labels(X, kind)


def train_circle(seed, kind, how, steps=300):
    X, y = circle_data(seed, kind)
    torch.manual_seed(seed)
    net = mlp()
    if how == "f":
        fit(net, lambda m: F.cross_entropy(m(X), y), steps, lr=1e-2, desc=None)
    else:
        adversarial_training(net, X, y, CIRCLE_EPS, steps, attack_steps=5, lr=1e-2, desc=None,
                             direction=X[:, :, None] if how == "nor" else None)
    return net.eval()


class AutoEncoder(torch.nn.Module):
    def __init__(self, d=LATENT):
        super().__init__()
        self.enc = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ELU(), torch.nn.Linear(32, d))
        self.dec = torch.nn.Sequential(torch.nn.Linear(d, 32), torch.nn.ELU(), torch.nn.Linear(32, 64),
                                       torch.nn.Sigmoid())

    def forward(self, x):
        return self.dec(self.enc(x))


def train_autoencoder(seed, X, steps=1500):
    torch.manual_seed(seed)
    ae = AutoEncoder()
    fit(ae, lambda m: F.mse_loss(m(X), X), steps, lr=1e-2, desc=None)
    return ae.eval()


def tangent_bases(ae, X):
    """Orthonormal tangent bases [N, 64, d] of the decoder's image at the codes of X."""
    with torch.no_grad():
        z = ae.enc(X)
    return mr.decoder_tangent(ae.dec, z)


def train_digits(seed, how, X, y, ae=None, steps=300):
    torch.manual_seed(seed)
    net = mlp(64, 64, 1, 10)
    if how == "f":
        fit(net, lambda m: F.cross_entropy(m(X), y), steps, lr=1e-2, desc=None)
    else:
        direction = None
        if how == "nor":
            Q = tangent_bases(ae, X)
            direction = lambda idx: mr.normal_direction(Q[idx])  # noqa: E731
        adversarial_training(net, X, y, DIGITS_EPS, steps, attack_steps=7, lr=1e-2, desc=None, direction=direction)
    return net.eval()


def main():
    torch.set_num_threads(1)
    out = {"circle": {}, "digits": {}}
    X, y, _, _ = digits()
    for seed in SEEDS:
        for kind in ("single", "double"):
            for how in ("f", "adv", "nor"):
                out["circle"][f"{kind}/{how}/{seed}"] = train_circle(seed, kind, how).state_dict()
        ae = train_autoencoder(seed, X)
        out["digits"][f"ae/{seed}"] = ae.state_dict()
        for how in ("f", "adv", "nor"):
            out["digits"][f"{how}/{seed}"] = train_digits(seed, how, X, y, ae).state_dict()
        print("seed", seed, "done")
    print(save(out, "manifold_risk"))


if __name__ == "__main__":
    main()
