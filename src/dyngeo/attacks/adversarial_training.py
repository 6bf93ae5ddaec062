"""Madry adversarial training (Madry et al. 2018): minimise the cross-entropy at the PGD adversary of
each training batch, the inner maximisation run by :func:`dyngeo.attacks.gradient.pgd`.

The inner attack can be restricted to a subspace per training point, e.g. the normal space of a data
manifold (Zhang et al. 2024, Sec. 2: training against normal perturbations only). One function
serves every chapter.
"""

import torch
import torch.nn.functional as F

from ..train import fit
from .gradient import pgd

__all__ = ["adversarial_training"]


def adversarial_training(model, X, y, eps, steps, attack_steps=10, alpha=None, norm="2", lr=1e-2, batch_size=None,
                         direction=None, clamp=None, generator=None, desc="adversarial training",
                         **fit_kwargs):
    """Train ``model`` (logits ``[B, K]``) for ``steps`` optimiser steps on the adversaries of ``(X, y)``.

    Each step draws a batch (``batch_size`` rows with ``generator``, or all of them), attacks it with
    ``attack_steps`` steps of PGD of radius ``eps`` in ``norm`` (step ``alpha``, default
    ``2.5 eps / attack_steps``) and takes an Adam step on the cross-entropy at the adversaries.
    ``direction`` restricts the attack: ``None``; a basis ``[D, d]`` shared by all points; a basis per
    training point ``[N, D, d]`` (sliced with the batch); or a callable ``direction(idx)`` returning a
    :func:`~dyngeo.attacks.gradient.pgd` direction for the rows ``idx`` of the batch.
    Returns the list of losses (see :func:`dyngeo.train.fit`).
    """
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X and y must have the same number of rows; got {X.shape[0]} and {y.shape[0]}")
    pick = direction  # the attack's direction for the batch rows idx: pick(idx)
    if direction is None or not callable(direction):
        basis = None if direction is None else torch.as_tensor(direction, dtype=X.dtype, device=X.device)
        if basis is not None and basis.dim() == 3 and basis.shape[0] != X.shape[0]:
            raise ValueError(f"a per-point basis must have one [D, d] block per row of X ({X.shape[0]}); got "
                             f"{tuple(basis.shape)}")
        pick = (lambda idx: basis[idx]) if basis is not None and basis.dim() == 3 else (lambda idx: basis)
    alpha = 2.5 * eps / attack_steps if alpha is None else alpha
    n = X.shape[0]

    def loss_fn(m):
        if batch_size is None or batch_size >= n:
            idx = torch.arange(n, device=X.device)
        else:
            idx = torch.randperm(n, generator=generator)[:batch_size].to(X.device)
        xb, yb = X[idx], y[idx]
        adv = pgd(m, xb, yb, eps, alpha=alpha, steps=attack_steps, clamp=clamp, norm=norm, direction=pick(idx))
        return F.cross_entropy(m(adv), yb)

    return fit(model, loss_fn, steps, lr=lr, desc=desc, **fit_kwargs)
