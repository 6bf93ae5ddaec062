"""Lift, Map, Detect (LMD): out-of-distribution detection with a diffusion model trained on in-domain images
only (Liu, Zhou & Weinberger 2024, Algorithms 1 and 2).

For a test image ``x``: **lift** it off the data manifold by hiding part of it with a mask, **map** it back
with the diffusion model by inpainting the hidden part (:func:`dyngeo.models.diffusion.inpaint`, the paper's
Algorithm 2: at every reverse step the known pixels are replaced by the forward-noised original, eq. 1's
closed form), and **detect** by the distance between ``x`` and its reconstruction. With ``r`` masks the score
is the median of the ``r`` distances (Algorithm 1). An in-domain image comes back close to itself; an
out-of-domain one is pulled towards the in-domain manifold and changes more.

Here: masks (:func:`checkerboard_mask`, :func:`make_masks`), the reconstructions (:func:`reconstruct` by
inpainting, :func:`noise_denoise` for the paper's "diffuse to t and denoise" alternative of Table 4),
distances (:func:`mse`, :func:`ssim_distance`, :func:`feature_distance`, the offline stand-in for LPIPS),
the aggregate (:func:`lmd_score`), ROC-AUC with out-of-distribution as the positive class (:func:`roc_auc`)
and the compression length of the input-complexity baseline (:func:`png_bits`, :func:`zlib_bits`).
Images are ``[B, C, H, W]``; everything follows the input's device and dtype.
"""

import io
import zlib

import numpy as np
import torch
from torch.nn import functional as F

from ..rng import draw
from .diffusion import ddpm_sample, inpaint, q_sample

__all__ = ["checkerboard_mask", "make_masks", "reconstruct", "noise_denoise", "mse", "ssim_distance",
           "feature_distance", "lmd_score", "roc_auc", "png_bits", "zlib_bits", "MASK_KINDS"]

MASK_KINDS = ("alternating", "fixed", "centre", "random")


def _check_images(x, name="x"):
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.dtype.is_floating_point:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a floating-point tensor [B, C, H, W]; got {shape}")


def checkerboard_mask(size, n, flip=False, device=None):
    """The ``size × size`` boolean checkerboard of ``n × n`` square patches (``size/n`` pixels a side):
    ``True`` (pixel kept, the paper's M = 1) on patches ``(i, j)`` with ``i + j`` even, the opposite
    when ``flip``. Each mask keeps half the patches, and a mask and its flip partition the image."""
    if not isinstance(n, int) or not isinstance(size, int) or n < 1 or size < 1 or size % n:
        raise ValueError(f"n must be a positive integer dividing size; got size={size!r}, n={n!r}")
    k = size // n
    patch = torch.arange(size, device=device) // k
    keep = (patch[:, None] + patch[None, :]) % 2 == 0
    return ~keep if flip else keep


def make_masks(kind, size, r, n=4, generator=None, device=None):
    """``r`` masks ``[r, 1, size, size]`` (``True`` = kept) of one ``kind`` (the paper's Table 2):

    - ``"alternating"``: the ``n × n`` checkerboard, flipped at every attempt (the paper's default);
    - ``"fixed"``: the same checkerboard at every attempt;
    - ``"centre"``: the central square of half the side hidden (a quarter of the image) at every attempt;
    - ``"random"``: half of the ``n × n`` patches, drawn at random for each attempt (SimMIM-style).
    """
    if kind not in MASK_KINDS:
        raise ValueError(f"unknown mask kind {kind!r}; choose one of {MASK_KINDS}")
    if not isinstance(r, int) or r < 1:
        raise ValueError(f"r must be a positive integer; got {r!r}")
    if kind in ("alternating", "fixed"):
        base = checkerboard_mask(size, n, device=device)
        out = torch.stack([base ^ (kind == "alternating" and i % 2 == 1) for i in range(r)])
    elif kind == "centre":
        if size < 2:
            raise ValueError(f"size must be at least 2 for a centre mask; got {size}")
        lo, hi = size // 4, size // 4 + size // 2
        hole = torch.zeros(size, size, dtype=torch.bool, device=device)
        hole[lo:hi, lo:hi] = True
        out = (~hole).expand(r, size, size)
    else:
        checkerboard_mask(size, n)  # validates n
        scores = draw(torch.rand, (r, n * n), generator, device)
        keep = torch.zeros(r, n * n, dtype=torch.bool, device=device)
        keep.scatter_(1, scores.argsort(dim=1)[:, : (n * n) // 2], True)
        k = size // n
        out = keep.view(r, n, n).repeat_interleave(k, 1).repeat_interleave(k, 2)
    return out.unsqueeze(1).clone()


def reconstruct(eps_model, schedule, x, masks, h=1, generator=None, clip_x0=None):
    """Algorithm 2 for every image and mask at once: ``[r, B, C, H, W]`` inpaintings of ``x`` ``[B, C, H, W]``
    (pixels in the model's range) with the ``r`` masks ``[r, 1 or C, H, W]`` (``True`` = kept), by
    :func:`dyngeo.models.diffusion.inpaint` with stride ``h`` (``h = 1``: every step of the chain)."""
    _check_images(x)
    if not isinstance(masks, torch.Tensor) or masks.dtype != torch.bool or masks.dim() != 4 \
            or masks.shape[2:] != x.shape[2:] or masks.shape[1] not in (1, x.shape[1]):
        raise ValueError(f"masks must be a boolean tensor [r, 1 or {x.shape[1]}, {x.shape[2]}, {x.shape[3]}]; "
                         f"got {tuple(masks.shape) if isinstance(masks, torch.Tensor) else type(masks).__name__}")
    r, B = masks.shape[0], x.shape[0]
    x_rep = x.unsqueeze(0).expand(r, *x.shape).reshape(r * B, *x.shape[1:])
    known = masks.to(x.device).unsqueeze(1).expand(r, B, *x.shape[1:]).reshape(r * B, *x.shape[1:])
    out = inpaint(eps_model, schedule, x_rep, known, h=h, generator=generator, clip_x0=clip_x0)
    return out.view(r, B, *x.shape[1:])


@torch.no_grad()
def noise_denoise(eps_model, schedule, x, t, r=1, h=1, generator=None, clip_x0=None):
    """The paper's alternative lift and map (Table 4): diffuse ``x`` to level ``t`` with DDPM's closed form
    (eq. 1 composed, ``x_t = √ᾱ_t x + √(1-ᾱ_t) ε``) and run ancestral sampling back from ``t`` on the grid
    ``t, t-h, ..., -1``. Returns ``[r, B, C, H, W]`` (``r`` independent draws of the noise)."""
    _check_images(x)
    if not isinstance(t, int) or not 0 <= t < schedule.T:
        raise ValueError(f"t must be an integer in [0, {schedule.T - 1}]; got {t!r}")
    if not isinstance(r, int) or r < 1:
        raise ValueError(f"r must be a positive integer; got {r!r}")
    xr = x.unsqueeze(0).expand(r, *x.shape).reshape(r * x.shape[0], *x.shape[1:])
    noise = lambda: draw(torch.randn, xr.shape, generator, xr.device, xr.dtype)
    z = q_sample(xr, t, schedule, noise())
    return ddpm_sample(eps_model, schedule, z, h=h, generator=generator, clip_x0=clip_x0, start=t).view(r, *x.shape)


def _pair(x, y):
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor) or x.dim() < 3 \
            or x.shape[-3:] != y.shape[-3:]:
        raise ValueError("x and y must be image tensors [..., C, H, W] with the same last three dimensions; "
                         f"got {getattr(x, 'shape', type(x).__name__)} and {getattr(y, 'shape', type(y).__name__)}")
    return torch.broadcast_tensors(x, y)


def mse(x, y):
    """Mean squared error over the last three dimensions (``[..., C, H, W]`` → ``[...]``), broadcasting."""
    x, y = _pair(x, y)
    return ((x - y) ** 2).mean(dim=(-3, -2, -1))


def ssim_distance(x, y, win=3, data_range=1.0, k1=0.01, k2=0.03):
    """``1 - SSIM`` (Wang et al. 2004) over the last three dimensions, with a uniform ``win × win`` window,
    sample covariances and the mean taken over the windows that fit inside the image, averaged over
    channels: the definition of ``skimage.metrics.structural_similarity(..., win_size=win)``, vectorised.
    ``data_range`` is the spread of the pixel values (2 for images in [-1, 1])."""
    x, y = _pair(x, y)
    if not isinstance(win, int) or win < 2 or win > min(x.shape[-2:]):
        raise ValueError(f"win must be an integer in [2, {min(x.shape[-2:])}]; got {win!r}")
    lead, channels = x.shape[:-3], x.shape[-3]
    x = x.reshape(-1, 1, *x.shape[-2:])
    y = y.reshape(-1, 1, *y.shape[-2:])
    mean = lambda z: F.avg_pool2d(z, win, stride=1)
    ux, uy = mean(x), mean(y)
    norm = win * win / (win * win - 1)
    vx, vy = norm * (mean(x * x) - ux * ux), norm * (mean(y * y) - uy * uy)
    vxy = norm * (mean(x * y) - ux * uy)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return 1 - s.mean(dim=(-3, -2, -1)).view(*lead, channels).mean(-1)


def feature_distance(features, x, y, eps=1e-10):
    """An LPIPS-style distance with uniform layer weights (Zhang et al. 2018, eq. 1 without the learned
    linear heads): for each activation map of ``features(images)`` (a list of ``[N, C, H, W]`` or
    ``[N, C]``), unit-normalise over channels at every position, and add the squared differences averaged
    over positions. ``x`` and ``y`` are ``[..., C, H, W]`` (broadcast); returns ``[...]``."""
    x, y = _pair(x, y)
    lead = x.shape[:-3]
    fx = features(x.reshape(-1, *x.shape[-3:]))
    fy = features(y.reshape(-1, *y.shape[-3:]))
    total = 0
    for a, b in zip(fx, fy):
        a = a / (a.norm(dim=1, keepdim=True) + eps)
        b = b / (b.norm(dim=1, keepdim=True) + eps)
        d = ((a - b) ** 2).sum(dim=1)
        total = total + (d.flatten(1).mean(1) if d.dim() > 1 else d)
    return total.view(lead)


def lmd_score(x, recon, distance=mse, aggregate="median"):
    """Algorithm 1's detect step: ``distance(x, recon_i)`` for each of the ``r`` reconstructions
    ``[r, B, C, H, W]`` of ``x`` ``[B, C, H, W]``, aggregated over ``r`` by the ``"median"`` (the paper's
    choice; for even ``r`` the mean of the two middle values) or the ``"mean"``. Returns ``[B]``."""
    _check_images(x)
    if not isinstance(recon, torch.Tensor) or recon.dim() != 5 or recon.shape[1:] != x.shape:
        raise ValueError(f"recon must be [r, {', '.join(map(str, x.shape))}]; "
                         f"got {tuple(recon.shape) if isinstance(recon, torch.Tensor) else type(recon).__name__}")
    d = distance(x.unsqueeze(0), recon)
    if aggregate == "median":
        return d.quantile(0.5, dim=0)
    if aggregate == "mean":
        return d.mean(0)
    raise ValueError(f"aggregate must be 'median' or 'mean'; got {aggregate!r}")


def roc_auc(s_in, s_out):
    """ROC-AUC of a score that should be higher out of distribution (out-of-distribution = positive class),
    by scikit-learn; equals the Mann–Whitney probability ``P(s_out > s_in) + ½ P(s_out = s_in)``."""
    from sklearn.metrics import roc_auc_score

    s_in = np.asarray(torch.as_tensor(s_in).detach().cpu(), dtype=np.float64).ravel()
    s_out = np.asarray(torch.as_tensor(s_out).detach().cpu(), dtype=np.float64).ravel()
    if len(s_in) == 0 or len(s_out) == 0:
        raise ValueError("both score sets must be non-empty")
    if not (np.isfinite(s_in).all() and np.isfinite(s_out).all()):
        raise ValueError("scores must be finite")
    labels = np.r_[np.zeros(len(s_in)), np.ones(len(s_out))]
    return float(roc_auc_score(labels, np.r_[s_in, s_out]))


def _bytes(x):
    """8-bit grey levels ``[N, H, W]`` (uint8) of images ``[N, 1, H, W]`` in [0, 1]."""
    _check_images(x)
    if x.shape[1] != 1:
        raise ValueError(f"expects single-channel images [N, 1, H, W]; got {tuple(x.shape)}")
    return (x[:, 0].detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def png_bits(x):
    """Input complexity L(x) of Serrà et al. (2020): the length in bits of each image ``[N, 1, H, W]`` (pixels in
    [0, 1], quantised to 8 bits) saved as a grey-level PNG by Pillow at the highest compression level,
    divided by the number of pixels (bits per dimension). Includes the PNG container's fixed overhead."""
    from PIL import Image

    out = []
    for img in _bytes(x):  # one small file each: Pillow has no batched encoder
        buf = io.BytesIO()
        Image.fromarray(img, mode="L").save(buf, format="PNG", compress_level=9)
        out.append(8 * buf.tell() / img.size)
    return torch.tensor(out, dtype=torch.float64)


def zlib_bits(x):
    """Like :func:`png_bits` but the raw 8-bit pixels compressed by zlib (level 9), without a container."""
    return torch.tensor([8 * len(zlib.compress(img.tobytes(), 9)) / img.size for img in _bytes(x)],
                        dtype=torch.float64)
