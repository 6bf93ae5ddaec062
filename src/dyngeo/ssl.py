"""Self-supervised contrastive learning (SimCLR, Chen et al. 2020), as AKOrN trains its object
models (Sec. 5.1): two random views of each image, a network mapping each view to a vector, and
the NT-Xent loss pulling the two views of an image together and pushing other images away.
A leaf of the library: it knows nothing of the models."""

import math

import torch
from torch.nn import functional as F

from .rng import draw


def nt_xent(z1, z2, temperature=0.1):
    """The normalised-temperature cross-entropy of SimCLR (Chen et al. 2020, eq. 1), averaged
    over all ``2B`` views: for view ``i`` with partner ``j``,
    ``-log exp(s_ij / t) / sum_{k != i} exp(s_ik / t)`` with ``s`` the cosine similarity.
    ``z1``, ``z2`` are ``[B, D]``: row ``b`` of each is a view of image ``b``."""
    if z1.dim() != 2 or z1.shape != z2.shape:
        raise ValueError(f"expected two [B, D] tensors of one shape; got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if len(z1) < 2:
        raise ValueError("the loss needs at least two images (the other images are the negatives)")
    if temperature <= 0:
        raise ValueError(f"the temperature must be positive; got {temperature}")
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(len(z), dtype=torch.bool, device=z.device), float("-inf"))
    B = len(z1)
    partner = torch.cat([torch.arange(B, 2 * B), torch.arange(B)]).to(z.device)
    return F.cross_entropy(sim, partner)


def random_view(images, generator=None, scale=(0.35, 1.0), jitter=0.4, flip=True):
    """A random view of every image of ``[B, 3, H, W]`` in [0, 1], vectorised over the batch:
    a random resized crop (area fraction in ``scale``, resampled bilinearly to ``H x W``), a
    horizontal flip with probability 1/2, and colour jitter (brightness, contrast, saturation by
    factors in ``[1 - jitter, 1 + jitter]``, hue by a random rotation of up to ``jitter * pi``
    about the grey axis)."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected RGB images [B, 3, H, W]; got shape {tuple(images.shape)}")
    if not 0 < scale[0] <= scale[1] <= 1:
        raise ValueError(f"scale must satisfy 0 < low <= high <= 1; got {scale}")
    B, dev, dt = len(images), images.device, images.dtype

    def uniform(low, high, *shape):
        return low + (high - low) * draw(torch.rand, (B, *shape), generator, dev, dt)

    # crop: the sampling grid of F.affine_grid spans [-1, 1]; a crop of side s sits at a random offset
    side = uniform(*scale).sqrt()
    centre = (1 - side[:, None]) * uniform(-1, 1, 2)
    sign = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0) if flip else torch.ones(B, device=dev, dtype=dt)
    theta = torch.zeros(B, 2, 3, device=dev, dtype=dt)
    theta[:, 0, 0], theta[:, 1, 1] = side * sign, side
    theta[:, :, 2] = centre
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # colour jitter
    out = out * uniform(1 - jitter, 1 + jitter, 1, 1, 1)
    mean = out.mean((1, 2, 3), keepdim=True)
    out = mean + (out - mean) * uniform(1 - jitter, 1 + jitter, 1, 1, 1)
    grey = out.mean(1, keepdim=True)
    out = grey + (out - grey) * uniform(1 - jitter, 1 + jitter, 1, 1, 1)
    angle = uniform(-jitter, jitter) * math.pi
    out = rotate_hue(out, angle)
    return out.clamp(0, 1)


def rotate_hue(images, angle):
    """Rotate the colours of ``[B, 3, H, W]`` images by ``angle`` ``[B]`` (radians) about the grey
    axis (1, 1, 1)/sqrt(3) of RGB space (Rodrigues' formula): grey stays grey, hues turn."""
    u = torch.full((3,), 1 / math.sqrt(3), device=images.device, dtype=images.dtype)
    K = torch.tensor([[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]], device=images.device, dtype=images.dtype)
    s, c = angle.sin()[:, None, None], angle.cos()[:, None, None]
    R = c * torch.eye(3, device=images.device, dtype=images.dtype) + s * K + (1 - c) * torch.outer(u, u)
    return torch.einsum("bij,bjhw->bihw", R, images)
