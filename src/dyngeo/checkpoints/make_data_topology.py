"""Train the generators of chapter 15 (data topology and generative models) and store their samples.

For each data set and each seed this trains, on the CPU with one thread:

- ``circle`` (S¹ in R², 1,000 points): a VAE with a 1-D latent, a chart autoencoder with three 1-D
  charts and a DDPM (ε-MLP) in data space;
- ``torus`` (ring torus in R³, 2,000 points): VAE (2-D latent), chart autoencoder (four 2-D charts), DDPM;
- ``klein_sphere`` (Klein bottle ∪ sphere in R⁴, 2,000 points): the same three models;
- ``images`` (torus-ellipse images, 16×16, 3,000 images): VAE (2-D latent, Bernoulli pixels) and DDPM,
  the pair of the paper's Table 1.

It stores, per data set, model and seed, ``n_keep`` samples (point clouds in float16, images as uint8),
the last training losses, and the seed-0 weights (float16) of the three circle models (the chapter samples them
live). Run ``python -m dyngeo.checkpoints.make_data_topology [names...]`` (20–40 minutes on one busy
CPU core, most of it the image DDPM); the file is ``data_topology.pt`` next to this script (< 1 MB), or
``$DYNGEO_CKPT_OUT``; runs for some names add to an existing file.
"""

import os
import sys
import time

import torch

from dyngeo.data import manifolds
from dyngeo.models import diffusion as D
from dyngeo.models.chart_autoencoder import ChartAutoencoder
from dyngeo.models.vae import VAE

SEEDS = (0, 1, 2)
PATH = os.environ.get("DYNGEO_CKPT_OUT") or os.path.join(os.path.dirname(__file__), "data_topology.pt")

# name: (data generator, model settings). ``steps``: optimiser steps, batch 256, Adam.
CONFIG = {
    "circle": dict(n=1000, latent=1, charts=3, hidden=64, sigma=0.05, steps=2000, ddpm_steps=3000, keep=1000),
    "torus": dict(n=2000, latent=2, charts=4, hidden=128, sigma=0.05, steps=3000, ddpm_steps=4000, keep=1000),
    "klein_sphere": dict(n=2000, latent=2, charts=4, hidden=128, sigma=0.05, steps=3000, ddpm_steps=4000, keep=1000),
    "images": dict(n=3000, latent=2, hidden=256, ddpm_hidden=512, steps=3000, ddpm_steps=6000, keep=400),
}
T_STEPS, BETA_END = 200, 0.05


def schedule():
    """The DDPM noise schedule of the chapter: linear β from 1e-4 to 0.05 over T = 200 steps."""
    return D.Schedule.linear(T_STEPS, 1e-4, BETA_END)


def dataset(name, seed=0):
    """The training data ``[n, D]`` of a data set (images flattened, in [0, 1])."""
    c = CONFIG[name]
    if name == "circle":
        return manifolds.circle(c["n"], seed=seed)[0]
    if name == "torus":
        return manifolds.torus(c["n"], seed=seed)[0]
    if name == "klein_sphere":
        return manifolds.klein_union_sphere(c["n"], seed=seed)[0]
    if name == "images":
        return manifolds.torus_ellipse_images(c["n"], seed=seed)[0].reshape(c["n"], -1)
    raise ValueError(f"unknown data set {name!r}")


def _train(model, loss_fn, X, steps, seed, lr=2e-3, batch=256):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    losses = []
    for _ in range(steps):
        x = X[torch.randint(len(X), (batch,), generator=g)]
        loss = loss_fn(model, x, g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return model, sum(losses[-100:]) / 100


def train_vae(name, X, seed):
    c = CONFIG[name]
    torch.manual_seed(seed)
    if name == "images":
        model = VAE(X.shape[1], c["latent"], hidden=(c["hidden"], c["hidden"]), likelihood="bernoulli")
    else:
        model = VAE(X.shape[1], c["latent"], hidden=(c["hidden"], c["hidden"]), likelihood="gaussian", sigma=c["sigma"])
    return _train(model, lambda m, x, g: -m.elbo(x, generator=g).mean(), X, c["steps"], seed)


def train_cae(name, X, seed):
    c = CONFIG[name]
    torch.manual_seed(seed)
    model = ChartAutoencoder(X.shape[1], c["latent"], n_charts=c["charts"], hidden=(c["hidden"], c["hidden"]), sigma=c["sigma"])
    return _train(model, lambda m, x, g: m.loss(x, generator=g), X, c["steps"], seed)


class GaussianSkipEps(torch.nn.Module):
    """An ε-network ``ε(x, t) = ε_G(x, t) + MLP(x, t)`` whose skip term ``ε_G`` is the exact ε-predictor
    for Gaussian data ``N(μ, s² I)`` with the training data's pixel means ``μ`` and mean variance ``s²``:
    ``ε_G = √(1-ᾱ_t) (x − √ᾱ_t μ) / (ᾱ_t s² + 1 − ᾱ_t)``. The plain ε-MLP on 256 pixels fails to learn
    the near-identity ``ε ≈ x_t`` of the noisiest steps (its samples blow up); with the skip it learns only
    the residual. Same call signature ``eps_model(x, t)`` as :class:`dyngeo.models.diffusion.EpsMLP`."""

    def __init__(self, X, schedule, hidden=256, depth=3):
        super().__init__()
        self.dim = X.shape[1]
        self.net = D.EpsMLP(self.dim, hidden=hidden, depth=depth)
        self.register_buffer("mu", X.mean(0))
        self.register_buffer("s2", X.var(0).mean())
        self.register_buffer("abar", schedule.alpha_bar.float())

    def forward(self, x, t):
        a = self.abar[torch.as_tensor(t, device=x.device).long().reshape(-1)][:, None]
        skip = (1 - a).sqrt() * (x - a.sqrt() * self.mu) / (a * self.s2 + 1 - a)
        return skip + self.net(x, t)


def train_ddpm(name, X, seed):
    c = CONFIG[name]
    torch.manual_seed(seed)
    sch = schedule()
    if name == "images":  # the DDPM works on pixels scaled to [-1, 1]
        model = GaussianSkipEps(2 * X - 1, sch, hidden=c["ddpm_hidden"], depth=3)
        return _train(model, lambda m, x, g: D.simple_loss(m, 2 * x - 1, sch, generator=g), X, c["ddpm_steps"], seed, lr=1e-3)
    model = D.EpsMLP(X.shape[1], hidden=c["hidden"], depth=3)
    return _train(model, lambda m, x, g: D.simple_loss(m, x, sch, generator=g), X, c["ddpm_steps"], seed)


def sample(kind, name, model, n, seed):
    """``n`` samples of a trained model, seeded (images in [0, 1])."""
    g = torch.Generator().manual_seed(1000 + seed)
    if kind == "ddpm":
        xT = torch.randn(n, model.dim, generator=g)
        if name == "images":
            return ((D.ddpm_sample(model, schedule(), xT, generator=g, clip_x0=(-1.0, 1.0)) + 1) / 2).clamp(0, 1)
        return D.ddpm_sample(model, schedule(), xT, generator=g)
    return model.sample(n, generator=g)


def _store(name, x):
    return (x.clamp(0, 1) * 255).round().to(torch.uint8) if name == "images" else x.to(torch.float16)


def main(names=tuple(CONFIG)):
    torch.set_num_threads(1)
    out = torch.load(PATH) if os.path.exists(PATH) else {"samples": {}, "loss": {}, "weights": {}}
    trainers = {"vae": train_vae, "cae": train_cae, "ddpm": train_ddpm}
    for name in names:
        c = CONFIG[name]
        kinds = ("vae", "ddpm") if name == "images" else ("vae", "cae", "ddpm")
        for seed in SEEDS:
            X = dataset(name, seed)
            for kind in kinds:
                t0 = time.time()
                model, loss = trainers[kind](name, X, seed)
                with torch.no_grad():
                    out["samples"][(name, kind, seed)] = _store(name, sample(kind, name, model, c["keep"], seed))
                out["loss"][(name, kind, seed)] = loss
                if name == "circle" and seed == 0:
                    out["weights"][kind] = {k: v.half() for k, v in model.state_dict().items()}  # float16: < 1 MB in all
                print(f"{name:12s} {kind:4s} seed {seed}: loss {loss:.4f}, {time.time() - t0:.0f} s", flush=True)
            torch.save(out, PATH)
    out["config"] = CONFIG
    out["schedule"] = (T_STEPS, BETA_END)
    torch.save(out, PATH)
    print(f"wrote {PATH} ({os.path.getsize(PATH) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main(tuple(sys.argv[1:]) or tuple(CONFIG))
