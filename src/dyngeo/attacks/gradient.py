"""Adversarial examples for classifiers: FGSM (Goodfellow, Shlens & Szegedy 2015) and PGD in L∞ or
L2 (Madry et al. 2018), optionally restricted to a subspace and projected onto a manifold after each
step, batched and device-agnostic. Used in Part II to probe where adversarial points
land in a network's geometry.

Both attacks take a model returning logits ``[B, K]``, inputs ``x`` of any shape ``[B, ...]`` and
labels ``y`` ``[B]``; the loss is cross-entropy and pixels are kept in ``clamp`` (``None`` to skip).
``tests/test_attacks.py`` checks ``pgd`` in L∞ and L2 against torchattacks on the same model, inputs
and budget.
"""

import torch
import torch.nn.functional as F

from ..rng import draw

__all__ = ["fgsm", "pgd"]


def _check(x, y, eps):
    if y.dim() != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"y must be [B] labels matching x {tuple(x.shape)}; got {tuple(y.shape)}")
    if eps < 0:
        raise ValueError(f"eps must be non-negative; got {eps}")


def _input_grad(model, x, y):
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def _clamp(x, clamp):
    return x if clamp is None else x.clamp(*clamp)


def fgsm(model, x, y, eps, clamp=(0.0, 1.0)):
    """Fast gradient sign method: ``x + eps * sign(∇_x CE(model(x), y))``, kept in ``clamp``."""
    _check(x, y, eps)
    return _clamp(x + eps * _input_grad(model, x, y).sign(), clamp).detach()


def _restrict(g, direction):
    """The gradient restricted to a subspace: ``Q Qᵀ g`` for a basis ``Q`` ``[D, d]`` or ``[B, D, d]``
    (on flattened inputs), or ``direction(g)`` for a callable."""
    if callable(direction):
        return direction(g)
    Q = torch.as_tensor(direction, dtype=g.dtype, device=g.device)
    flat = g.flatten(1)
    if Q.dim() == 2:
        Q = Q.expand(flat.shape[0], *Q.shape)
    if Q.dim() != 3 or Q.shape[:2] != flat.shape:
        raise ValueError(f"direction must be a basis [D, d] or [B, D, d] with D = {flat.shape[1]} and B = "
                         f"{flat.shape[0]}; got shape {tuple(Q.shape)}")
    return torch.einsum("bdk,bk->bd", Q, torch.einsum("bdk,bd->bk", Q, flat)).reshape(g.shape)


def pgd(model, x, y, eps, alpha=None, steps=10, clamp=(0.0, 1.0), random_start=False, generator=None,
        norm="inf", direction=None, project=None, stop_on_flip=False, trace=None):
    """Projected gradient ascent of the cross-entropy around ``x`` (Madry et al. 2018).

    Each of ``steps`` steps moves by ``alpha`` (default ``eps / 4``) along the gradient's sign
    (``norm="inf"``) or its unit direction (``norm="2"``), then projects onto the ``norm`` ball of
    radius ``eps`` around ``x`` (``eps=float("inf")`` for no ball) and into ``clamp``.
    ``random_start`` begins at a uniform point of the L∞ ball. The options used by the on-manifold
    attack of Part II (``dyngeo.geometry.diffusion.on_manifold_pgd``):

    - ``direction``: restrict each gradient to a subspace before the step, given as an orthonormal
      basis ``[D, d]`` or ``[B, D, d]`` of the flattened input (the tangent space), or a callable;
    - ``project``: a map applied after each step, before ``clamp`` (back onto a manifold);
    - ``stop_on_flip``: a point stops moving once the model no longer predicts ``y`` for it;
    - ``trace``: a list that receives ``(iterate, moved)`` after every step, ``moved`` the [B] mask
      of the points that took it.
    """
    _check(x, y, eps)
    if norm not in ("inf", "2"):
        raise ValueError(f"norm must be 'inf' or '2'; got {norm!r}")
    if alpha is None:
        if eps == float("inf"):
            raise ValueError("with eps = inf give the step size alpha")
        alpha = eps / 4
    x = x.detach()
    adv = x.clone()
    if random_start:
        noise = draw(torch.rand, x.shape, generator, x.device, x.dtype)
        adv = _clamp(x + eps * (2 * noise - 1), clamp)
    active = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
    for _ in range(steps):
        if stop_on_flip:
            with torch.no_grad():
                active &= model(adv).argmax(1) == y
            if not active.any():
                break
        g = _input_grad(model, adv, y)
        if direction is not None:
            g = _restrict(g, direction)
        if norm == "inf":
            new = adv + alpha * g.sign()
            if eps != float("inf"):
                new = torch.max(torch.min(new, x + eps), x - eps)
        else:
            unit = g / g.flatten(1).norm(dim=1).clamp_min(1e-12).reshape(-1, *[1] * (g.dim() - 1))
            new = adv + alpha * unit
            if eps != float("inf"):
                delta = new - x
                scale = (eps / delta.flatten(1).norm(dim=1).clamp_min(1e-12)).clamp(max=1.0)
                new = x + delta * scale.reshape(-1, *[1] * (g.dim() - 1))
        if project is not None:
            new = project(new)
        new = _clamp(new, clamp).detach()
        adv = torch.where(active.reshape(-1, *[1] * (x.dim() - 1)), new.to(x.dtype), adv) if stop_on_flip else new
        if trace is not None:
            trace.append((adv.clone(), active.clone()))
    return adv
