"""A chart autoencoder (Schonsheck et al. 2019) in the form used by Jin et al. (2024), chapter 15.

A manifold with holes cannot be the continuous image of one Euclidean latent space without being
filled in or torn; an atlas of several charts can cover it. The model has ``k`` charts, each a
Gaussian encoder ``q_i(z_i | x)`` and a decoder ``Dec_i(z_i)`` on its own latent space ``Z_i = R^d``,
and a chart selector ``P`` that scores the charts. Following Jin et al., ``P`` reads the direct sum of
the latent codes ``z_1 ⊕ ... ⊕ z_k`` (not ``x``), so that a sample can be generated from latents alone:

    train:     x̂_i = Dec_i(z_i), z_i ~ q_i(z_i | x),  w = softmax(P(z_1 ⊕ ... ⊕ z_k))
    evaluate:  x̂ = Dec_{i*}(z_{i*}),  i* = argmax_i w_i
    generate:  z_i ~ N(0, I) for every i,  x = Dec_{i*}(z_{i*}),  i* = argmax_i P(z_1 ⊕ ... ⊕ z_k)

The training loss is not given in the paper's text (it is in its supplement); this module uses

    L(x) = Σ_i w_i ||x − x̂_i||² / (2σ²)  +  β Σ_i KL(q_i(z_i | x) || N(0, I))  +  γ CE(w, i_best),

a mixture of experts (each chart is charged its own reconstruction error in proportion to the weight
the selector gives it, so charts specialise to pieces of the data), the charts' KL terms, and a
cross-entropy that teaches the selector which chart reconstructs ``x`` best
(``i_best = argmin_i ||x − x̂_i||``), as Schonsheck et al.'s chart-prediction loss does.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ..rng import draw
from .vae import _mlp

__all__ = ["ChartAutoencoder"]


class ChartAutoencoder(nn.Module):
    """``n_charts`` Gaussian encoder/decoder pairs on ``[B, data_dim]`` with ``latent_dim``-dimensional
    charts and a selector MLP on the concatenated latent codes."""

    def __init__(self, data_dim, latent_dim, n_charts=4, hidden=(128, 128), selector_hidden=64, sigma=1.0):
        super().__init__()
        if n_charts < 1 or latent_dim < 1 or data_dim < 1:
            raise ValueError(f"data_dim, latent_dim and n_charts must be positive; got {data_dim}, {latent_dim}, {n_charts}")
        if sigma <= 0:
            raise ValueError(f"sigma must be positive; got {sigma}")
        self.data_dim, self.latent_dim, self.n_charts, self.sigma = data_dim, latent_dim, n_charts, sigma
        self.encoders = nn.ModuleList(_mlp([data_dim, *hidden, 2 * latent_dim]) for _ in range(n_charts))
        self.decoders = nn.ModuleList(_mlp([latent_dim, *reversed(hidden), data_dim]) for _ in range(n_charts))
        self.selector = _mlp([n_charts * latent_dim, selector_hidden, n_charts])

    def _check(self, x, dim, what):
        if x.dim() != 2 or x.shape[1] != dim:
            raise ValueError(f"{what} must have shape [B, {dim}]; got {tuple(x.shape)}")

    def encode(self, x):
        """``(μ, logvar)``, each ``[B, n_charts, latent_dim]``: every chart's Gaussian code for ``x``."""
        self._check(x, self.data_dim, "x")
        out = torch.stack([enc(x) for enc in self.encoders], dim=1)
        mu, logvar = out.chunk(2, dim=2)
        return mu, logvar

    def decode_all(self, z):
        """Every chart's decoding ``[B, n_charts, data_dim]`` of codes ``z`` ``[B, n_charts, latent_dim]``."""
        if z.dim() != 3 or z.shape[1:] != (self.n_charts, self.latent_dim):
            raise ValueError(f"z must have shape [B, {self.n_charts}, {self.latent_dim}]; got {tuple(z.shape)}")
        return torch.stack([dec(z[:, i]) for i, dec in enumerate(self.decoders)], dim=1)

    def chart_logits(self, z):
        """The selector's scores ``[B, n_charts]`` of the direct sum ``z_1 ⊕ ... ⊕ z_k``."""
        return self.selector(z.reshape(z.shape[0], -1))

    def _pick(self, z):
        xs = self.decode_all(z)
        best = self.chart_logits(z).argmax(1)
        return xs[torch.arange(z.shape[0], device=z.device), best], best

    def loss(self, x, beta=1.0, gamma=1.0, generator=None):
        """The mean over the batch of the loss in the module docstring (a scalar)."""
        mu, logvar = self.encode(x)
        z = mu + (0.5 * logvar).exp() * draw(torch.randn, mu.shape, generator, mu.device, mu.dtype)
        err = ((self.decode_all(z) - x[:, None]) ** 2).sum(2) / (2 * self.sigma**2)  # [B, k]
        logits = self.chart_logits(z)
        w = logits.softmax(1)
        kl = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum((1, 2))
        ce = F.cross_entropy(logits, err.detach().argmin(1))
        return (w * err).sum(1).mean() + beta * kl.mean() + gamma * ce

    @torch.no_grad()
    def reconstruct(self, x):
        """``(x̂, chart)``: the likeliest chart's decoding of its mean code, and that chart's index."""
        mu, _ = self.encode(x)
        return self._pick(mu)

    @torch.no_grad()
    def sample(self, n, generator=None, return_chart=False):
        """``n`` samples ``[n, data_dim]``: independent ``z_i ~ N(0, I)`` for every chart, decoded by the
        chart the selector scores highest (and the chart indices with ``return_chart``)."""
        p = next(self.parameters())
        z = draw(torch.randn, (n, self.n_charts, self.latent_dim), generator, p.device, p.dtype)
        x, chart = self._pick(z)
        return (x, chart) if return_chart else x
