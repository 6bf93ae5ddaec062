"""Classifiers and attack sweeps of Chapter 7 (on-manifold PGD on rotated and scaled digits).

``python -m dyngeo.checkpoints.make_on_manifold`` writes ``on_manifold.pt``: three small MLPs
(seeds 0, 1, 2) trained on the digits of :func:`dyngeo.data.rotated_digits` with angles in
[-30°, 30°], and, for each seed, 20 rendered 3s attacked twice: with on-manifold PGD (the paper's
Algorithm 1 on a CIDM of the 3s at angles in [-60°, 60°]) and with ``dyngeo.attacks.pgd`` (L∞) at
growing radii. The chapter and the tests import the functions below to recompute pieces of it.
"""

import numpy as np
import torch

from dyngeo.attacks import pgd
from dyngeo.checkpoints import save
from dyngeo.data import digit_prototypes, render_digits, rotated_digits
from dyngeo.geometry import diffusion as dg

SEEDS, DIGIT, N_START, STEP, STEPS = (0, 1, 2), 3, 20, 0.25, 60
PGD_RADII = np.linspace(0.01, 0.2, 20)


def dataset():
    """Images, labels and (θ, s) on the 49 x 9 grid of [-60°, 60°] x [0.8, 1.2], and the
    training mask |θ| <= 30°."""
    X, y, params = rotated_digits(theta=(-60, 60), scale=(0.8, 1.2), n_theta=49, n_scale=9)
    return X, y, params, params[:, 0].abs() <= 30


def classifier():
    return torch.nn.Sequential(torch.nn.Linear(256, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))


def train_classifier(seed, X, y, steps=600):
    from dyngeo.train import fit

    torch.manual_seed(seed)
    net = classifier()
    g = torch.Generator().manual_seed(seed)

    def loss(m):
        i = torch.randint(len(X), (256,), generator=g)
        return torch.nn.functional.cross_entropy(m(X[i] + 0.05 * torch.randn(256, 256, generator=g)), y[i])

    fit(net, loss, steps, lr=3e-3, desc=f"classifier, seed {seed}")
    return net.eval()


def class_manifold(X, y, params, digit=DIGIT):
    """The CIDM of one class's images (all angles), with their (θ, s)."""
    Xc, pc = X[y == digit].double(), params[y == digit].double()
    return dg.DiffusionMap(30, k=10, method="cidm").fit(Xc), pc


def starts(seed, n=N_START, digit=DIGIT):
    """Rendered start images at random angles in [-25°, 25°] and scales in [0.85, 1.15]."""
    r = np.random.default_rng(100 + seed)
    th0, s0 = r.uniform(-25, 25, n), r.uniform(0.85, 1.15, n)
    return torch.tensor(render_digits(digit_prototypes(), np.full(n, digit), th0, s0)), th0, s0


def attack(net, cidm, x0, y0, seed):
    """Both attacks from ``x0``: ``(adv_on, flipped_on, steps_on, adv_off, flipped_off, radius_off)``."""
    Q = dg.DiffusionMap.tangents(cidm, x0.double(), 2, n_probe=10, seed=seed)
    net64 = classifier().double()
    net64.load_state_dict(net.state_dict())
    adv_on, flip_on, steps_on, _ = dg.on_manifold_pgd(net64, cidm, x0.double(), y0, STEP, Q, steps=STEPS)
    adv_off, flip_off = x0.clone(), torch.zeros(len(x0), dtype=torch.bool)
    radius = torch.full((len(x0),), float("nan"))
    for eps in PGD_RADII:
        a = pgd(net, x0, y0, float(eps), steps=20)
        with torch.no_grad():
            f = (net(a).argmax(1) != y0) & ~flip_off
        adv_off[f], radius[f], flip_off = a[f], float(eps), flip_off | f
    return adv_on.float(), flip_on, steps_on, adv_off, flip_off, radius


def main():
    torch.set_num_threads(2)
    X, y, params, inside = dataset()
    cidm, _ = class_manifold(X, y, params)
    out = {"seeds": list(SEEDS), "digit": DIGIT, "nets": [], "runs": []}
    for seed in SEEDS:
        net = train_classifier(seed, X[inside], y[inside])
        x0, th0, s0 = starts(seed)
        y0 = torch.full((len(x0),), DIGIT)
        adv_on, flip_on, steps_on, adv_off, flip_off, radius = attack(net, cidm, x0, y0, seed)
        out["nets"].append({k: v.clone() for k, v in net.state_dict().items()})
        out["runs"].append({"theta0": torch.tensor(th0), "scale0": torch.tensor(s0), "adv_on": adv_on,
                            "flip_on": flip_on, "steps_on": steps_on, "adv_off": adv_off,
                            "flip_off": flip_off, "radius_off": radius})
        print(f"seed {seed}: on-manifold flips {int(flip_on.sum())}/{len(x0)}, off-manifold {int(flip_off.sum())}/{len(x0)}")
    print("saved", save(out, "on_manifold"))


if __name__ == "__main__":
    main()
