"""Train the digits classifiers of the AKOrN chapter (robustness and calibration, Table 4 at toy
scale) and save their weights as ``akorn.pt``: AKOrN with N = 2, its N = 4 and no-projection
ablations, and a small CNN, all on scikit-learn's digits with the same optimiser and steps.

The script also evaluates every model (clean accuracy and ECE, Gaussian noise, PGD with EoT) and
stores the results beside the weights. Its PGD is weak (10 steps, 2 EoT draws) and has not
converged for the stochastic AKOrN models; ``make_akorn_attacks.py`` measures accuracy against
attack strength, and the chapter quotes those curves instead.
Run: ``python -m dyngeo.checkpoints.make_akorn`` (about 20 minutes on two CPU cores);
``--only NAME ...`` retrains only those models and keeps the others from the existing file.
"""

import sys
import time

import torch
from torch.nn import functional as F

from dyngeo.attacks import pgd
from dyngeo.checkpoints import HERE, load, save
from dyngeo.data import digits
from dyngeo.metrics import calibration_bins, ece
from dyngeo.models.akorn import AKOrNClassifier, AverageLogProbs, SmallCNN
from dyngeo.train import fit

STEPS, BATCH, LR, SEED = 500, 64, 3e-3, 0
NOISE = (0.1, 0.2, 0.3, 0.4, 0.5)  # standard deviations of the Gaussian pixel noise
EPS, PGD_STEPS, EOT, ATTACKED = (0.05, 0.1), 10, 2, 200  # PGD radii, steps, EoT samples, test images


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

    def loss_fn(m):
        idx = torch.randint(len(X), (batch,), generator=g)
        return F.cross_entropy(m(X[idx]), y[idx])

    model.train()
    losses = fit(model, loss_fn, steps, lr=lr, desc=desc)
    model.eval()
    return losses


@torch.no_grad()
def _probs(model, X):
    return model(X).softmax(-1)


def evaluate(model, X, y, noise=NOISE, eps=EPS, steps=PGD_STEPS, eot=EOT, attacked=ATTACKED, seed=SEED):
    """Accuracy and ECE on clean and noisy inputs, and accuracy under PGD (with EoT for stochastic
    models, i.e. those holding Kuramoto oscillators) on the first ``attacked`` images."""
    g = torch.Generator().manual_seed(seed)
    model.eval()
    p = _probs(model, X)
    out = {"clean": ((p.argmax(1) == y).float().mean().item(), ece(p, y)),
           "bins": [t.tolist() for t in calibration_bins(p, y, bins=10)]}
    for s in noise:
        pn = _probs(model, (X + s * torch.randn(X.shape, generator=g)).clamp(0, 1))
        out[f"noise {s}"] = ((pn.argmax(1) == y).float().mean().item(), ece(pn, y))
    target = AverageLogProbs(model, eot) if isinstance(model, AKOrNClassifier) else model
    Xa, ya = X[:attacked], y[:attacked]
    for e in eps:
        adv = pgd(target, Xa, ya, e, alpha=2.5 * e / steps, steps=steps, random_start=True, generator=g)
        out[f"pgd {e}"] = ((_probs(model, adv).argmax(1) == ya).float().mean().item(),)
    return out


def main(only=None):
    torch.set_num_threads(2)
    Xtr, ytr, Xte, yte = digits()
    Xtr, Xte = Xtr.view(-1, 1, 8, 8), Xte.view(-1, 1, 8, 8)
    old = load("akorn") if only and (HERE / "akorn.pt").exists() else {}
    out = {"steps": STEPS, "batch": BATCH, "lr": LR, "seed": SEED, "eval": dict(old.get("eval", {}))}
    for name, model in digits_models().items():
        if only and name not in only:
            out[name] = old[name]
            continue
        start = time.time()
        train_classifier(model, Xtr, ytr, STEPS, desc=name)
        out[name] = {k: v.clone() for k, v in model.state_dict().items()}
        print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, {time.time() - start:.0f} s")
    for name, model in digits_models().items():
        if only and name not in only and name in out["eval"]:
            continue
        model.load_state_dict(out[name])
        out["eval"][name] = evaluate(model, Xte, yte)
        print(name, {k: v for k, v in out["eval"][name].items() if k != "bins"})
    print("saved", save(out, "akorn"))


if __name__ == "__main__":
    args = sys.argv[1:]
    main(only=args[args.index("--only") + 1:] if "--only" in args else None)
