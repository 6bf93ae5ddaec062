"""Train the digits classifiers of the AKOrN chapter (robustness and calibration, Table 4 at toy
scale) and save their weights as ``akorn.pt``: AKOrN with N = 2, its N = 4 and no-projection
ablations, and a small CNN, all on scikit-learn's digits with the same optimiser and steps.

Run: ``python -m dyngeo.checkpoints.make_akorn`` (about 10 minutes on two CPU cores).
"""

import time

import torch
from torch.nn import functional as F

from dyngeo.checkpoints import save
from dyngeo.data import digits
from dyngeo.models.akorn import AKOrNClassifier, SmallCNN
from dyngeo.train import progress

STEPS, BATCH, LR, SEED = 500, 64, 3e-3, 0


def digits_models():
    """The four models of the chapter's robustness experiment, freshly initialised (seeded)."""
    torch.manual_seed(SEED)
    return {
        "AKOrN N=2": AKOrNClassifier(n=2),
        "AKOrN N=4": AKOrNClassifier(n=4),
        "AKOrN N=2, no Proj": AKOrNClassifier(n=2, project=False),
        "CNN": SmallCNN(),
    }


def train_classifier(model, X, y, steps, batch=BATCH, lr=LR, seed=SEED, desc="training"):
    """Adam on cross-entropy with random mini-batches; returns the per-step losses."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in progress(range(steps), desc=desc):
        idx = torch.randint(len(X), (batch,), generator=g)
        loss = F.cross_entropy(model(X[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses


def main():
    torch.set_num_threads(1)
    Xtr, ytr, _, _ = digits()
    Xtr = Xtr.view(-1, 1, 8, 8)
    out = {"steps": STEPS, "batch": BATCH, "lr": LR, "seed": SEED}
    for name, model in digits_models().items():
        start = time.time()
        train_classifier(model, Xtr, ytr, STEPS, desc=name)
        out[name] = {k: v.clone() for k, v in model.state_dict().items()}
        print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, {time.time() - start:.0f} s")
    print("saved", save(out, "akorn"))


if __name__ == "__main__":
    main()
