"""Image quality: peak signal-to-noise ratio."""

import torch

__all__ = ["psnr"]


def psnr(x, y, data_range=1.0, reduction="mean"):
    """``10 log10(data_range² / MSE)`` per image for batches ``x``, ``y`` of the same shape ``[B, ...]``.

    ``reduction="mean"`` averages the per-image values (what image papers usually report, and larger than
    the PSNR of the average MSE); ``"none"`` returns them ([B]). A perfect reconstruction gives ``inf``."""
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
        raise ValueError("x and y must be torch tensors")
    if x.shape != y.shape or x.ndim < 2:
        raise ValueError(f"x and y must be batches [B, ...] of the same shape; got {tuple(x.shape)} and {tuple(y.shape)}")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none'; got {reduction!r}")
    mse = ((x.double() - y.double()) ** 2).flatten(1).mean(1)
    values = 10.0 * torch.log10(data_range**2 / mse)
    return values.mean() if reduction == "mean" else values
