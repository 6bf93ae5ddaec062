"""Train the three digit classifiers of Chapter 4 (N-CODE, Fig. 5 at book scale) and save them.

``python -m dyngeo.checkpoints.make_ncode_digits`` writes ``ncode_digits.pt``: the weights of NODE,
ANODE and open-loop N-CODE classifiers with equal parameter counts (``image_classifiers`` with
``CONFIG``), trained on scikit-learn's digits with Adam, plus their test accuracy after each epoch.
The three models train in parallel processes (about two CPU-minutes each).
"""

from concurrent.futures import ProcessPoolExecutor

import torch
import torch.nn.functional as F

from dyngeo.checkpoints import save
from dyngeo.data import digits
from dyngeo.models.ncode import image_classifiers
from dyngeo.train import accuracy, progress

CONFIG = {"in_shape": (1, 8, 8), "augment": 4, "width": 8, "gamma_hidden": 10, "step_size": 0.5}
EPOCHS, BATCH, LR, SEED = 15, 64, 3e-3, 0


def data():
    Xtr, ytr, Xte, yte = digits()
    return Xtr.view(-1, 1, 8, 8), ytr, Xte.view(-1, 1, 8, 8), yte


@torch.no_grad()
def test_accuracy(model, X, y, chunk=500):
    """Accuracy of ``model`` on ``(X, y)``, evaluated ``chunk`` images at a time."""
    return accuracy(torch.cat([model(b) for b in X.split(chunk)]), y)


def train_epochs(model, Xtr, ytr, Xte, yte, epochs, batch=BATCH, lr=LR, generator=None, desc="training"):
    """Adam over the shuffled training set in mini-batches of ``batch``, for ``epochs`` epochs;
    returns the test accuracy after each epoch."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    curve = []
    for _ in progress(range(epochs), desc=desc):
        for idx in torch.randperm(len(Xtr), generator=generator).to(Xtr.device).split(batch):
            opt.zero_grad()
            F.cross_entropy(model(Xtr[idx]), ytr[idx]).backward()
            opt.step()
        curve.append(test_accuracy(model, Xte, yte))
    return curve


def train(name):
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    model = image_classifiers(**CONFIG)[name]
    curve = train_epochs(model, *data(), EPOCHS, generator=torch.Generator().manual_seed(SEED), desc=name)
    print(f"{name}: test accuracy by epoch {[round(a, 4) for a in curve]}", flush=True)
    return name, model.state_dict(), curve


def main():
    names = ["NODE", "ANODE", "N-CODE"]
    with ProcessPoolExecutor(len(names)) as pool:
        results = list(pool.map(train, names))
    out = {"config": {**CONFIG, "epochs": EPOCHS, "batch": BATCH, "lr": LR, "seed": SEED},
           "state_dicts": {n: s for n, s, _ in results}, "test_accuracy": {n: c for n, _, c in results}}
    print(f"wrote {save(out, 'ncode_digits')}")


if __name__ == "__main__":
    main()
