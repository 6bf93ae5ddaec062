"""Train the three digit classifiers of chapter 10 (linear maps between embeddings):
``python -m dyngeo.checkpoints.make_linear_maps``.

Three architectures on scikit-learn's 8x8 digits, the first half of ``digits(test_fraction=0.5, seed=0)``
for training: an MLP with a 64-dimensional penultimate layer, a small CNN with a 32-dimensional one and a
wide MLP with a 512-dimensional one (the chapter's stand-in for VGG-19's wide embedding). Each is trained
with seeds 0, 1 and 2: full-batch Adam, ``STEPS`` steps at learning rate 1e-2, cross-entropy, one torch
thread. Saves ``linear_maps.pt``: ``{"steps", "nets": {"<kind>/<seed>": state_dict}, "test_accuracy"}``.
About 10 s of CPU on an idle core.
"""

import torch
import torch.nn.functional as F

from dyngeo.checkpoints import save
from dyngeo.data import digits
from dyngeo.train import accuracy, fit

KINDS, SEEDS, STEPS, LR = ("MLP", "CNN", "wide"), (0, 1, 2), 150, 1e-2
nn = torch.nn


def make_net(kind):
    """A fresh network of one of the three architectures (``"MLP"``, ``"CNN"``, ``"wide"``)."""
    if kind == "MLP":
        return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    if kind == "CNN":
        return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 32), nn.ReLU(),
                             nn.Linear(32, 10))
    if kind == "wide":
        return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 512), nn.ReLU(), nn.Linear(512, 10))
    raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")


def train_net(kind, seed, steps=STEPS, data=None):
    """The network ``kind`` trained from ``torch.manual_seed(seed)`` on the training half of the digits."""
    Xtr, ytr = (data or digits(test_fraction=0.5, seed=0))[:2]
    torch.manual_seed(seed)
    net = make_net(kind)
    fit(net, lambda m: F.cross_entropy(m(Xtr), ytr), steps, lr=LR, desc=f"{kind}, seed {seed}")
    return net.eval()


def load_nets(state):
    """``{(kind, seed): network}`` from the saved checkpoint ``state``, in eval mode, without gradients."""
    nets = {}
    for key, sd in state["nets"].items():
        kind, seed = key.split("/")
        net = make_net(kind)
        net.load_state_dict(sd)
        nets[kind, int(seed)] = net.eval().requires_grad_(False)
    return nets


def main():
    torch.set_num_threads(1)
    data = digits(test_fraction=0.5, seed=0)
    nets, acc = {}, {}
    for seed in SEEDS:
        for kind in KINDS:
            net = train_net(kind, seed, data=data)
            nets[f"{kind}/{seed}"] = {k: v.detach().clone() for k, v in net.state_dict().items()}
            with torch.no_grad():
                acc[f"{kind}/{seed}"] = accuracy(net(data[2]), data[3])
    path = save({"steps": STEPS, "nets": nets, "test_accuracy": acc}, "linear_maps")
    print(f"wrote {path}: test accuracy {acc}")


if __name__ == "__main__":
    main()
