"""Patch (ℓ0) attacks: PGD whose perturbation lives in a fixed rectangle of the image (Tu et al. 2023,
Sec. 4.2; Brown et al. 2017).

Inside the patch the pixels may take any value in ``clamp``; outside they never move. This is
:func:`dyngeo.attacks.pgd` with no norm ball (``eps = inf``) and every gradient multiplied by the
patch mask before its sign is taken, so the pixels outside the patch get a zero step.
:func:`patch_nag` is the Nesterov-momentum variant (NI-FGSM, Lin et al. 2020), the paper's Patch-NAG.
"""

import torch

from .gradient import _check, _input_grad, pgd

__all__ = ["patch_mask", "patch_pgd", "patch_nag"]


def patch_mask(shape, top, left, height, width, device=None, dtype=torch.float32):
    """A 0/1 mask of ``shape`` (the image's trailing ``[..., H, W]``) with ones on the rectangle
    ``[top : top + height, left : left + width]``."""
    H, W = shape[-2], shape[-1]
    if not (0 <= top and 0 <= left and height > 0 and width > 0 and top + height <= H and left + width <= W):
        raise ValueError(f"the patch {height}x{width} at ({top}, {left}) does not fit in an image of {H}x{W}")
    mask = torch.zeros(shape, device=device, dtype=dtype)
    mask[..., top:top + height, left:left + width] = 1
    return mask


def _broadcast_mask(mask, x):
    mask = torch.as_tensor(mask, device=x.device, dtype=x.dtype)
    try:
        return torch.broadcast_to(mask, x.shape)
    except RuntimeError:
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to x {tuple(x.shape)}") from None


def patch_pgd(model, x, y, mask, steps=100, alpha=1 / 255, clamp=(0.0, 1.0), trace=None):
    """Patch-PGD: ``steps`` signed gradient-ascent steps of size ``alpha`` on the cross-entropy, moving only
    the pixels where ``mask`` (broadcastable to ``x``) is nonzero, kept in ``clamp``.

    ``trace`` receives ``(iterate, moved)`` after every step, as in :func:`~dyngeo.attacks.pgd`.
    """
    mask = _broadcast_mask(mask, x)
    return pgd(model, x.detach(), y, eps=float("inf"), alpha=alpha, steps=steps, clamp=clamp, direction=lambda g: g * mask,
               trace=trace)


def patch_nag(model, x, y, mask, steps=100, alpha=1 / 255, mu=1.0, clamp=(0.0, 1.0)):
    """Patch-NAG: signed steps of size ``alpha`` inside ``mask`` along a Nesterov-accumulated gradient
    (Lin et al. 2020): look ahead to ``x + alpha mu g``, add its gradient normalised by its mean absolute
    value to ``mu g``, step by ``alpha sign(g)``, clip to ``clamp``. Pixels outside the mask never move."""
    _check(x, y, 0.0)
    mask = _broadcast_mask(mask, x)
    adv, g = x.detach().clone(), torch.zeros_like(x)
    dims = tuple(range(1, x.dim()))
    for _ in range(steps):
        grad = _input_grad(model, adv + alpha * mu * g * mask, y) * mask
        g = mu * g + grad / grad.abs().mean(dim=dims, keepdim=True).clamp_min(1e-12)
        adv = adv + alpha * g.sign() * mask
        if clamp is not None:
            adv = adv.clamp(*clamp)
        adv = adv.detach()
    return adv
