"""Normalizing flows with affine coupling layers (RealNVP, Dinh, Sohl-Dickstein & Bengio 2017), the
exact-likelihood model of Tu et al. (2023), Sec. 2.1.

A flow ``g`` maps data ``y`` to a latent ``z = g(y)`` with a standard normal law, and the change of
variables gives the density of the data (eq. 5 of the paper)::

    log p_Y(y) = log p_Z(g(y)) + log |det ∇_y g(y)|,     log p_Z(z) = -(d/2) log 2π - ½ ||z||².

The paper's eq. (6) prints the right-hand side of ``log p_Z`` with the wrong sign (it is the negative
log-likelihood per dimension); :func:`gaussian_log_prob` is the log-density itself. The paper's
hierarchical autoencoder + flow (eqs. 1-3, 7, 8) needs the log-determinant of a dimension-reducing
encoder, which is not defined; the book keeps the flow (eq. 5) and drops the encoder term.

Each :class:`AffineCoupling` keeps the coordinates where ``mask == 1`` and moves the others by
``y = x · exp(s(x_kept)) + t(x_kept)``, so its Jacobian is triangular and ``log |det| = Σ s`` over the
moved coordinates. Everything is batched ``[B, d]`` and follows the input's device and dtype.
"""

import math

import torch
from torch import nn

from ..rng import draw

__all__ = ["gaussian_log_prob", "AffineCoupling", "RealNVP"]


def gaussian_log_prob(z):
    """log N(z; 0, I) summed over the last dimension (eq. 6 with its sign corrected): ``[B, d] -> [B]``."""
    if z.dim() < 1:
        raise ValueError(f"z must have a feature dimension; got shape {tuple(z.shape)}")
    d = z.shape[-1]
    return -0.5 * d * math.log(2 * math.pi) - 0.5 * (z ** 2).sum(-1)


class AffineCoupling(nn.Module):
    """One affine coupling layer on ``[B, dim]``: ``mask`` (0/1, ``[dim]``) marks the coordinates kept.

    ``forward(x) -> (y, logdet)`` with ``y = m x + (1 - m)(x exp(s) + t)``, ``s, t`` computed from
    ``m x`` by an MLP (``s`` through ``scale · tanh`` so that it stays bounded), and
    ``logdet = Σ (1 - m) s`` ``[B]``; ``inverse(y)`` undoes it exactly.
    """

    def __init__(self, dim, mask, hidden=64, depth=2, scale=2.0):
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.float32).reshape(-1)
        if mask.numel() != dim or not torch.all((mask == 0) | (mask == 1)):
            raise ValueError(f"mask must hold {dim} zeros and ones; got {mask.tolist()}")
        if mask.sum() in (0, dim):
            raise ValueError("mask must keep some coordinates and move the others")
        self.register_buffer("mask", mask)
        layers, width = [], dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, 2 * dim))
        self.net = nn.Sequential(*layers)
        nn.init.zeros_(self.net[-1].weight)  # start at the identity map
        nn.init.zeros_(self.net[-1].bias)
        self.scale = scale

    def _st(self, kept):
        s, t = self.net(kept).chunk(2, dim=-1)
        free = 1 - self.mask.to(kept.dtype)
        return self.scale * torch.tanh(s / self.scale) * free, t * free

    def forward(self, x):
        if x.dim() != 2 or x.shape[1] != self.mask.numel():
            raise ValueError(f"x must be [B, {self.mask.numel()}]; got {tuple(x.shape)}")
        m = self.mask.to(x.dtype)
        s, t = self._st(x * m)
        return x * m + (1 - m) * (x * torch.exp(s) + t), s.sum(-1)

    def inverse(self, y):
        if y.dim() != 2 or y.shape[1] != self.mask.numel():
            raise ValueError(f"y must be [B, {self.mask.numel()}]; got {tuple(y.shape)}")
        m = self.mask.to(y.dtype)
        s, t = self._st(y * m)
        return y * m + (1 - m) * (y - t) * torch.exp(-s)


class RealNVP(nn.Module):
    """A stack of ``n_layers`` affine couplings with alternating masks, then a learned per-coordinate
    affine map (``z = (u - shift) exp(-log_scale)``), on ``[B, dim]``, dim ≥ 2.

    ``forward(x) -> (z, logdet)``; ``inverse(z) -> x``; ``log_prob(x) -> [B]`` (eq. 5, nats);
    ``sample(n, generator=None) -> [n, dim]`` by pushing standard normal draws through the inverse.
    """

    def __init__(self, dim, n_layers=6, hidden=64, depth=2):
        super().__init__()
        if dim < 2:
            raise ValueError(f"a coupling flow needs dim >= 2; got {dim}")
        if n_layers < 1:
            raise ValueError(f"n_layers must be positive; got {n_layers}")
        base = (torch.arange(dim) % 2).float()
        self.layers = nn.ModuleList(AffineCoupling(dim, base if k % 2 == 0 else 1 - base, hidden, depth)
                                    for k in range(n_layers))
        self.shift = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.dim = dim

    def forward(self, x):
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must be [B, {self.dim}]; got {tuple(x.shape)}")
        logdet = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for layer in self.layers:
            x, ld = layer(x)
            logdet = logdet + ld
        z = (x - self.shift) * torch.exp(-self.log_scale)
        return z, logdet - self.log_scale.sum()

    def inverse(self, z):
        if z.dim() != 2 or z.shape[1] != self.dim:
            raise ValueError(f"z must be [B, {self.dim}]; got {tuple(z.shape)}")
        x = z * torch.exp(self.log_scale) + self.shift
        for layer in reversed(self.layers):
            x = layer.inverse(x)
        return x

    def log_prob(self, x):
        """log p(x) in nats, ``[B]`` (eq. 5: the base log-density plus the log-determinant)."""
        z, logdet = self(x)
        return gaussian_log_prob(z) + logdet

    @torch.no_grad()
    def sample(self, n, generator=None):
        """``n`` samples: standard normal draws through the inverse flow."""
        p = self.shift
        return self.inverse(draw(torch.randn, (n, self.dim), generator, p.device, p.dtype))
