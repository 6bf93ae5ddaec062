"""Manifold representation meta-learning, MRML (Gong et al. 2025): an autoencoder trained by MLDG-style
episodic meta-learning (Li et al. 2018), so that it reconstructs sparsely sampled regions of a manifold.

Each episode draws two disjoint batches from the training set S, an episodic-train batch and an
episodic-test batch, takes a *virtual* gradient step on the first and scores the moved parameters on
the second (Algorithm 1):

    θ* = θ − α ∇_θ L(S_train; θ)                                    (line 5)
    θ ← θ − γ ∂/∂θ [ L(S_train; θ) + β L(S_test; θ*) ]               (line 7)

The virtual step is a functional update: the parameters ``θ*`` live in a dictionary and the model is
called on them with :func:`torch.func.functional_call`; ``create_graph=True`` keeps the second-order
term (``∂θ*/∂θ = I − α ∇²L``) in the meta-gradient. ``γ`` is the learning rate of the optimiser (Adam,
as in the paper).

The three episode samplers of the paper (Sec. 3.1, Fig. 1) differ in how the test batch relates to
the train batch: ``"nearest"`` (setting A) takes the nearest neighbour outside the train batch of each
train sample; ``"random"`` (B) a disjoint uniform batch; ``"hole"`` (C) a whole neighbourhood (a random
anchor and its nearest points), the train batch drawn from the rest. The plain autoencoder is trained
by the same loop with no sampler (its loss is ``L(S_train; θ)`` alone).

The task loss, eq. (1), is the binary cross-entropy of the reconstruction. As printed, eq. (1) has the
roles of ``x`` and ``f_θ(x)`` swapped (it takes ``log x`` of the data, infinite at a black pixel); the
code uses the standard ``−[x log f_θ(x) + (1 − x) log(1 − f_θ(x))]``, averaged over pixels and samples.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ..train import progress

__all__ = ["Autoencoder", "reconstruction_loss", "mldg_objective", "meta_gradient", "mldg_step",
           "EpisodeSampler", "SAMPLERS", "fit_mrml", "reconstruct", "manifold_report"]

SAMPLERS = ("nearest", "random", "hole")


class Autoencoder(nn.Module):
    """An MLP autoencoder ``dim → hidden → latent → hidden → dim`` with ReLUs and a sigmoid output
    (pixels in [0, 1]); the paper's is convolutional, with a 10-D latent space."""

    def __init__(self, dim, latent=10, hidden=(128,)):
        super().__init__()
        if dim < 1 or latent < 1:
            raise ValueError(f"dim and latent must be positive; got {dim} and {latent}")
        sizes = [dim, *hidden, latent]
        enc, dec = [], []
        for a, b in zip(sizes[:-1], sizes[1:]):
            enc += [nn.Linear(a, b), nn.ReLU()]
        for a, b in zip(sizes[::-1][:-1], sizes[::-1][1:]):
            dec += [nn.Linear(a, b), nn.ReLU()]
        self.encoder, self.decoder = nn.Sequential(*enc[:-1]), nn.Sequential(*dec[:-1])

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return torch.sigmoid(self.decoder(z))

    def forward(self, x):
        return self.decode(self.encode(x))


def _batch(x, name):
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty tensor [B, dim] of flattened images")
    return x


def reconstruction_loss(model, params, x):
    """Eq. (1) (with the roles of data and reconstruction put right): the binary cross-entropy of
    ``model`` called with the parameters ``params`` (a name → tensor dict) on ``x``, averaged."""
    x = _batch(x, "x")
    return F.binary_cross_entropy(functional_call(model, params, (x,)), x)


def mldg_objective(model, params, x_train, x_test, alpha, beta, first_order=False):
    """The meta-objective of Algorithm 1, line 7: ``L(S_train; θ) + β L(S_test; θ − α ∇_θ L(S_train; θ))``.

    ``params`` maps names to tensors that require grad. The virtual step (line 5) is taken with
    ``create_graph=True``, so differentiating the result gives the full second-order meta-gradient;
    ``first_order=True`` treats ``∇_θ L(S_train)`` as a constant (first-order MAML/MLDG).
    Returns ``(objective, L_train, L_test)``.
    """
    _batch(x_train, "x_train"), _batch(x_test, "x_test")
    names = list(params)
    values = [params[n] for n in names]
    l_train = reconstruction_loss(model, params, x_train)
    grads = torch.autograd.grad(l_train, values, create_graph=not first_order, retain_graph=True)
    moved = {n: v - alpha * g for n, v, g in zip(names, values, grads)}  # θ*, line 5
    l_test = reconstruction_loss(model, moved, x_test)  # line 6
    return l_train + beta * l_test, l_train, l_test


def meta_gradient(model, x_train, x_test, alpha, beta, first_order=False):
    """``∂/∂θ`` of :func:`mldg_objective` at the model's current parameters, as a name → tensor dict."""
    params = dict(model.named_parameters())
    objective = mldg_objective(model, params, x_train, x_test, alpha, beta, first_order)[0]
    return dict(zip(params, torch.autograd.grad(objective, list(params.values()))))


def mldg_step(model, optimizer, x_train, x_test, alpha, beta, first_order=False):
    """One meta-optimisation step (Algorithm 1, lines 5–7) with ``optimizer`` (its learning rate is γ).
    Returns ``(L_train, L_test)`` before the step, as floats."""
    optimizer.zero_grad(set_to_none=True)
    objective, l_train, l_test = mldg_objective(model, dict(model.named_parameters()), x_train, x_test, alpha,
                                                beta, first_order)
    objective.backward()
    optimizer.step()
    return l_train.item(), l_test.item()


class EpisodeSampler:
    """Draws disjoint ``(train, test)`` index batches of size ``batch`` from the points ``X`` ``[N, d]``
    of the meta-training set (Sec. 3.1, Fig. 1). ``kind``:

    - ``"nearest"`` (setting A): ``train`` uniform; ``test[i]`` is the nearest point to ``train[i]``
      outside ``train`` (two train points may share one);
    - ``"random"`` (setting B): ``train`` and ``test`` two disjoint uniform batches;
    - ``"hole"`` (setting C): ``test`` a random anchor and its ``batch − 1`` nearest points (a whole
      neighbourhood, anchor first), ``train`` uniform from the rest.

    Distances are Euclidean, computed once; ties go to the lower index. Call with a ``torch.Generator``.
    """

    def __init__(self, X, kind, batch):
        if kind not in SAMPLERS:
            raise ValueError(f"kind must be one of {SAMPLERS}; got {kind!r}")
        X = torch.as_tensor(X)
        if X.dim() != 2:
            raise ValueError(f"X must be [N, d]; got shape {tuple(X.shape)}")
        self.N, self.kind, self.batch = X.shape[0], kind, int(batch)
        if not 1 <= self.batch or 2 * self.batch > self.N:
            raise ValueError(f"batch must be in [1, N/2] = [1, {self.N // 2}] for two disjoint batches; got {batch}")
        D = torch.cdist(X.double().cpu(), X.double().cpu())
        D.fill_diagonal_(-1.0)  # each point first in its own list, even next to an exact duplicate
        self.order = torch.argsort(D, dim=1, stable=True)  # row i: i, then the others by distance

    def __call__(self, generator=None):
        N, B = self.N, self.batch
        if self.kind == "random":
            perm = torch.randperm(N, generator=generator)
            return perm[:B], perm[B:2 * B]
        if self.kind == "nearest":
            train = torch.randperm(N, generator=generator)[:B]
            inside = torch.zeros(N, dtype=torch.bool)
            inside[train] = True
            candidates = self.order[train, 1:]  # [B, N - 1], nearest first
            first_outside = (~inside[candidates]).to(torch.uint8).argmax(dim=1)
            return train, candidates[torch.arange(B), first_outside]
        anchor = torch.randint(N, (1,), generator=generator).item()
        test = self.order[anchor, :B]
        rest = torch.ones(N, dtype=torch.bool)
        rest[test] = False
        others = torch.nonzero(rest).flatten()
        return others[torch.randperm(len(others), generator=generator)[:B]], test


def fit_mrml(model, X, sampler=None, steps=1000, lr=1e-3, alpha=1e-7, beta=1e-3, batch=64, seed=0,
             first_order=False, desc=None):
    """Train ``model`` on the rows of ``X`` by Algorithm 1 with Adam (learning rate ``lr`` = γ).

    ``sampler``: one of :data:`SAMPLERS` (or an :class:`EpisodeSampler`); ``None`` trains the plain
    autoencoder by the same loop, minimising ``L(S_train; θ)`` on a uniform batch of size ``batch``.
    The defaults are the paper's (1,000 iterations, lr 1e-3, α = 1e-7, β = 1e-3, batch 64).
    Returns a dict of per-step ``"train"`` and ``"test"`` losses (``test`` empty without a sampler).
    """
    X = _batch(X, "X")
    if steps < 0:
        raise ValueError(f"steps must be non-negative; got {steps}")
    if isinstance(sampler, str):
        sampler = EpisodeSampler(X, sampler, batch)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = {"train": [], "test": []}
    name = desc or ("autoencoder" if sampler is None else f"MRML ({sampler.kind})")
    for _ in progress(range(steps), desc=name, leave=False):
        if sampler is None:
            train = torch.randperm(X.shape[0], generator=g)[:batch].to(X.device)
            opt.zero_grad(set_to_none=True)
            loss = reconstruction_loss(model, dict(model.named_parameters()), X[train])
            loss.backward()
            opt.step()
            history["train"].append(loss.item())
        else:
            train, test = (i.to(X.device) for i in sampler(g))
            l_train, l_test = mldg_step(model, opt, X[train], X[test], alpha, beta, first_order)
            history["train"].append(l_train)
            history["test"].append(l_test)
    return history


@torch.no_grad()
def reconstruct(model, X):
    """``(latents, reconstructions)`` of the rows of ``X``."""
    z = model.encode(X)
    return z, model.decode(z)


def manifold_report(X, X_rec, ks=(5, 20), ps=(1, 2)):
    """The paper's scores of a reconstruction ``X_rec`` of the cloud ``X`` (Tables 1–2): the mean squared
    error per pixel; for each ``p`` in ``ps`` the ``p``-Wasserstein distances (eq. 2, ground metric L∞)
    between the H0 and between the H1 Vietoris–Rips diagrams of ``X`` and of ``X_rec``, and their sum
    (the paper's "Dim 1", "Dim 2" and "Total"; the never-dying H0 point is left out); and for each ``k``
    in ``ks`` the kNN adjacency-spectral distance (eq. 3). Returns a dict of floats."""
    from ..geometry import knn_graph, topology

    X, X_rec = torch.as_tensor(X), torch.as_tensor(X_rec)
    if X.shape != X_rec.shape or X.dim() != 2:
        raise ValueError(f"X and X_rec must be clouds [n, d] of the same shape; got {tuple(X.shape)} and "
                         f"{tuple(X_rec.shape)}")
    out = {"MSE": float(((X.double() - X_rec.double()) ** 2).mean())}
    d_data, d_rec = topology.diagrams(X, maxdim=1), topology.diagrams(X_rec, maxdim=1)
    for p in ps:
        w = [topology.wasserstein(a, b, p=p) for a, b in zip(d_data, d_rec)]
        out.update({f"W{p} H0": w[0], f"W{p} H1": w[1], f"W{p} total": float(np.sum(w))})
    for k in ks:
        out[f"spectral k={k}"] = knn_graph.spectral_distance(X, X_rec, k)
    return out
