"""Autoencoders and MRML runs of Chapter 16 (meta-learning the shape of a manifold), several seeds.

``python -m dyngeo.checkpoints.make_mrml`` writes ``mrml.pt``. On the rotating-glyph images of
:func:`dyngeo.data.rotating_glyphs.rotating_glyphs` (one neighbourhood of 36 images held out), for
every seed it trains, by :func:`dyngeo.models.mrml.fit_mrml` (one code path):

- the plain autoencoder (batch 64) and, as a control, the plain autoencoder on batches of 128 (an
  MLDG episode sees two batches of 64, so half of any gain could come from the larger batch);
- MRML with each episode sampler at the paper's step sizes α = 1e-7, β = 1e-3;
- MRML with each sampler at β = 1 and the α chosen first on a *validation* neighbourhood carved out of
  the training images (never the held-out one), from :data:`ALPHA_GRID`.

It scores each model with :func:`dyngeo.models.mrml.manifold_report` on the held-out neighbourhood
and on the whole manifold, and keeps the seed-0 weights of the plain autoencoder and of MRML (hole
sampler, chosen α). The chapter and a test recompute pieces of it with the functions below.
"""

import numpy as np
import torch

from dyngeo.checkpoints import save
from dyngeo.data.rotating_glyphs import rotating_glyphs
from dyngeo.models import mrml

SEEDS = (0, 1, 2, 3, 4)
STEPS, LR, BATCH, LATENT, HIDDEN = 1000, 1e-3, 64, 10, (128,)
PAPER_ALPHA, PAPER_BETA = 1e-7, 1e-3
ALPHA_GRID, BETA = (0.1, 1.0, 10.0), 1.0
N_HOLD, VAL_SEEDS = 36, (100, 101)
METRICS = ("MSE", "W1 H0", "W1 H1", "W1 total", "W2 H0", "W2 H1", "W2 total", "spectral k=5", "spectral k=20")


def dataset():
    """The images, with the held-out neighbourhood of the paper's protocol (36 of 360 images)."""
    return rotating_glyphs(n_hold=N_HOLD, seed=0)


def methods(alpha):
    """``name -> (sampler, alpha, beta, batch)`` of every run (``alpha`` the one chosen for β = 1)."""
    out = {"AE": (None, 0.0, 0.0, BATCH), "AE, batch 128": (None, 0.0, 0.0, 2 * BATCH)}
    for label, kind in zip("ABC", mrml.SAMPLERS):
        out[f"Meta {label}, paper α, β"] = (kind, PAPER_ALPHA, PAPER_BETA, BATCH)
    for label, kind in zip("ABC", mrml.SAMPLERS):
        out[f"Meta {label}, α = {alpha:g}, β = 1"] = (kind, alpha, BETA, BATCH)
    return out


def train(X, sampler, alpha, beta, batch, seed, steps=STEPS):
    """One model on the rows of ``X``: initialised from ``seed``, episodes drawn from ``seed``."""
    torch.manual_seed(seed)
    model = mrml.Autoencoder(X.shape[1], LATENT, HIDDEN)
    history = mrml.fit_mrml(model, X, sampler, steps=steps, lr=LR, alpha=alpha, beta=beta, batch=batch, seed=seed)
    return model.eval(), history


def score(model, X, idx):
    """``[2, len(METRICS)]``: the report on the rows ``idx`` of ``X`` and on all of ``X``."""
    _, R = mrml.reconstruct(model, X)
    reports = [mrml.manifold_report(X[i], R[i]) for i in (idx, slice(None))]
    return np.array([[r[m] for m in METRICS] for r in reports])


def choose_alpha(G, seeds=VAL_SEEDS, grid=ALPHA_GRID):
    """α for β = 1, chosen by the W2 total on a validation neighbourhood of the training images (the
    hole sampler, mean over ``seeds``). Returns ``(alpha, {alpha: mean score})``."""
    X = G.X[G.train]
    anchor = int(np.random.default_rng(1).integers(len(X)))
    d = (X - X[anchor]).norm(dim=1)
    d[anchor] = -1.0
    val = torch.argsort(d, stable=True)[:N_HOLD]  # a random training image and its 35 nearest
    keep = torch.ones(len(X), dtype=torch.bool)
    keep[val] = False
    scores = {}
    for alpha in grid:
        runs = [score(train(X[keep], "hole", alpha, BETA, BATCH, s)[0], X, val)[0, METRICS.index("W2 total")]
                for s in seeds]
        scores[alpha] = float(np.mean(runs))
        print(f"validation: alpha {alpha:g}: W2 total {scores[alpha]:.4f}", flush=True)
    return min(scores, key=scores.get), scores


def main():
    torch.set_num_threads(1)
    G = dataset()
    X = G.X[G.train]
    alpha, val_scores = choose_alpha(G)
    runs = methods(alpha)
    out = {"seeds": list(SEEDS), "metrics": list(METRICS), "methods": list(runs), "alpha": alpha,
           "val_scores": val_scores, "config": {"steps": STEPS, "lr": LR, "batch": BATCH, "latent": LATENT,
                                                "hidden": list(HIDDEN), "n_hold": N_HOLD},
           "scores": {}, "curves": {}, "models": {}}
    for name, (sampler, a, b, batch) in runs.items():
        table = []
        for seed in SEEDS:
            model, history = train(X, sampler, a, b, batch, seed)
            table.append(score(model, G.X, G.hold))
            if seed == 0:
                out["curves"][name] = {k: torch.tensor(v[::10]) for k, v in history.items()}
                if name == "AE" or (sampler == "hole" and b == BETA):
                    out["models"][name] = {k: v.clone() for k, v in model.state_dict().items()}
            print(f"{name}, seed {seed}: hole W2 total {table[-1][0, 6]:.4f}, MSE {table[-1][0, 0]:.5f}", flush=True)
        out["scores"][name] = torch.tensor(np.array(table))  # [seeds, (hole, all), metrics]
    print("saved", save(out, "mrml"))


if __name__ == "__main__":
    main()
