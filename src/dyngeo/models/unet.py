"""A tiny U-Net ε-network for small images ``[B, C, H, W]`` (the DDPM backbone of Ho et al. 2020, shrunk).

The network has the call signature of every ε-network in the book, ``eps_model(x, t)`` with ``t`` a float or
integer tensor ``[B]`` (or a scalar). Its shape follows DDPM's U-Net at toy size: residual blocks with group
normalisation and SiLU, the sinusoidal time embedding of :func:`dyngeo.models.diffusion.timestep_embedding`
passed through an MLP and added inside every residual block, one strided-convolution downsampling per level,
nearest-neighbour upsampling on the way back and skip connections concatenated across the U. No attention
(the images are 8×8 to 32×32).
"""

import torch
from torch import nn
from torch.nn import functional as F

from .diffusion import _timesteps, timestep_embedding

__all__ = ["TinyUNet"]


def _groups(channels):
    """The largest group count ≤ 8 dividing ``channels`` (GroupNorm needs a divisor)."""
    return max(g for g in range(1, 9) if channels % g == 0)


class _ResBlock(nn.Module):
    """``x + conv(SiLU(GN(conv(SiLU(GN(x))) + W e_t))))``, with a 1×1 convolution on the skip when the width changes."""

    def __init__(self, c_in, c_out, emb_dim):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(_groups(c_in), c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(emb_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(_groups(c_out), c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class TinyUNet(nn.Module):
    """ε_θ(x, t) for images ``[B, channels, H, W]``; ``H`` and ``W`` must be divisible by ``2**(len(mults)-1)``.

    ``base`` is the width of the first level and ``mults`` the width multipliers of the levels (one
    downsampling between consecutive levels); ``time_dim`` is the size of the sinusoidal embedding.
    """

    def __init__(self, channels=1, base=16, mults=(1, 2), time_dim=32):
        super().__init__()
        if channels < 1 or base < 1 or not mults or any(m < 1 for m in mults):
            raise ValueError(f"need channels >= 1, base >= 1 and positive mults; got {channels}, {base}, {mults}")
        self.channels, self.time_dim, self.levels = channels, time_dim, len(mults)
        widths = [base * m for m in mults]
        emb = 4 * base
        self.embed = nn.Sequential(nn.Linear(time_dim, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.inp = nn.Conv2d(channels, widths[0], 3, padding=1)
        self.down_blocks = nn.ModuleList()
        self.downsample = nn.ModuleList()
        for i, w in enumerate(widths):
            self.down_blocks.append(_ResBlock(widths[max(i - 1, 0)] if i else widths[0], w, emb))
            if i < len(widths) - 1:
                self.downsample.append(nn.Conv2d(w, w, 3, stride=2, padding=1))
        self.mid = _ResBlock(widths[-1], widths[-1], emb)
        self.up_blocks = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i in reversed(range(len(widths))):
            c_in = widths[-1] if i == len(widths) - 1 else widths[i + 1]
            self.up_blocks.append(_ResBlock(c_in + widths[i], widths[i], emb))
            if i > 0:
                self.upsample.append(nn.Conv2d(widths[i], widths[i], 3, padding=1))
        self.out_norm = nn.GroupNorm(_groups(widths[0]), widths[0])
        self.out = nn.Conv2d(widths[0], channels, 3, padding=1)

    def forward(self, x, t):
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"TinyUNet expects x of shape [B, {self.channels}, H, W]; got {tuple(x.shape)}")
        factor = 2 ** (self.levels - 1)
        if x.shape[2] % factor or x.shape[3] % factor:
            raise ValueError(f"H and W must be divisible by {factor}; got {tuple(x.shape[2:])}")
        emb = self.embed(timestep_embedding(_timesteps(t, x), self.time_dim).to(x))
        h = self.inp(x)
        skips = []
        for i, block in enumerate(self.down_blocks):
            h = block(h, emb)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        h = self.mid(h, emb)
        for j, block in enumerate(self.up_blocks):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if j < len(self.upsample):
                h = self.upsample[j](F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.out(F.silu(self.out_norm(h)))
