"""Adversarial examples for classifiers: FGSM (Goodfellow, Shlens & Szegedy 2015) and L∞ PGD
(Madry et al. 2018), batched and device-agnostic. Used in Part II to probe where adversarial points
land in a network's geometry.

Both take a model returning logits ``[B, K]``, inputs ``x`` of any shape ``[B, ...]`` and labels
``y`` ``[B]``; the loss is cross-entropy and pixels are kept in ``clamp`` (``None`` to skip).
"""

import torch
import torch.nn.functional as F

from .rng import draw

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


def pgd(model, x, y, eps, alpha=None, steps=10, clamp=(0.0, 1.0), random_start=False, generator=None):
    """Projected gradient ascent of the cross-entropy in the L∞ ball of radius ``eps`` around ``x``:
    ``steps`` signed steps of size ``alpha`` (default ``eps / 4``), each followed by projection onto
    the ball and ``clamp``. ``random_start`` begins at a uniform point of the ball."""
    _check(x, y, eps)
    alpha = eps / 4 if alpha is None else alpha
    x = x.detach()
    adv = x.clone()
    if random_start:
        noise = draw(torch.rand, x.shape, generator, x.device, x.dtype)
        adv = _clamp(x + eps * (2 * noise - 1), clamp)
    for _ in range(steps):
        adv = adv + alpha * _input_grad(model, adv, y).sign()
        adv = _clamp(torch.max(torch.min(adv, x + eps), x - eps), clamp).detach()
    return adv
