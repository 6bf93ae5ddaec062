"""The variational autoencoder (Kingma & Welling 2014) on flat data, with a prior that subclasses replace.

For data ``x`` ``[B, D]``, an encoder gives ``q(z|x) = N(μ(x), diag exp(logvar(x)))`` and a decoder gives
``p(x|z)`` (independent Bernoulli pixels, or a Gaussian with fixed ``sigma``). The evidence lower bound
(Kingma & Welling, eq. 3, with one reparameterised sample ``z = μ + exp(logvar/2) ⊙ ε``) is

    ELBO(x) = log p(x|z) - β KL(q(z|x) || p(z)),

with ``β = 1`` the bound itself and other ``β`` the β-VAE weighting (Higgins et al. 2017). The base class
uses the standard normal prior and its analytic KL (eq. 10 of Kingma & Welling's Appendix B); a model with
another prior overrides :meth:`VAE.kl` (it receives the sample ``z`` for a one-sample estimate
``log q(z|x) - log p(z)``) and :meth:`VAE.prior_sample`.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..rng import draw

__all__ = ["VAE"]


def _mlp(sizes):
    layers = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b), nn.SiLU()]
    return nn.Sequential(*layers, nn.Linear(sizes[-2], sizes[-1]))


class VAE(nn.Module):
    """A VAE with MLP encoder and decoder on ``[B, data_dim]``; ``likelihood`` is ``"bernoulli"`` (data in
    [0, 1]) or ``"gaussian"`` (standard deviation ``sigma``)."""

    def __init__(self, data_dim, latent_dim, hidden=(128, 128), likelihood="bernoulli", sigma=1.0):
        super().__init__()
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian'; got {likelihood!r}")
        if sigma <= 0:
            raise ValueError(f"sigma must be positive; got {sigma}")
        self.data_dim, self.latent_dim = data_dim, latent_dim
        self.likelihood, self.sigma = likelihood, sigma
        self.encoder = _mlp([data_dim, *hidden, 2 * latent_dim])
        self.decoder = _mlp([latent_dim, *reversed(hidden), data_dim])

    def _check(self, x, dim, what):
        if x.dim() != 2 or x.shape[1] != dim:
            raise ValueError(f"{what} must have shape [B, {dim}]; got {tuple(x.shape)}")

    def encode(self, x):
        """``(μ, logvar)``, each ``[B, latent_dim]``."""
        self._check(x, self.data_dim, "x")
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def _decoder_output(self, z):
        self._check(z, self.latent_dim, "z")
        return self.decoder(z)

    def decode(self, z):
        """The mean of ``p(x|z)``: pixel probabilities (Bernoulli) or the Gaussian mean."""
        out = self._decoder_output(z)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def log_likelihood(self, x, z):
        """``log p(x|z)`` ``[B]`` in nats, summed over the data dimensions."""
        self._check(x, self.data_dim, "x")
        out = self._decoder_output(z)
        if self.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(1)
        return (-0.5 * ((x - out) / self.sigma) ** 2 - math.log(self.sigma) - 0.5 * math.log(2 * math.pi)).sum(1)

    def kl(self, mu, logvar, z):
        """``KL(N(μ, diag e^logvar) || N(0, I))`` ``[B]``, in closed form (``z`` is unused here)."""
        return 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(1)

    def reparameterize(self, mu, logvar, generator=None):
        """``z = μ + exp(logvar/2) ⊙ ε`` with ``ε ~ N(0, I)``."""
        return mu + (0.5 * logvar).exp() * draw(torch.randn, mu.shape, generator, mu.device, mu.dtype)

    def elbo(self, x, beta=1.0, generator=None, **kl_options):
        """One-sample ``log p(x|z) - β KL(q(z|x) || p(z))`` per sample ``[B]`` (nats); ``kl_options`` go to
        :meth:`kl` (a subclass's prior may take some, such as GridVAE's ``target``)."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator)
        return self.log_likelihood(x, z) - beta * self.kl(mu, logvar, z, **kl_options)

    def prior_sample(self, n, generator=None):
        """``n`` draws ``[n, latent_dim]`` from the prior ``N(0, I)``."""
        p = next(self.parameters())
        return draw(torch.randn, (n, self.latent_dim), generator, p.device, p.dtype)

    @torch.no_grad()
    def sample(self, n, generator=None):
        """Decoded means ``[n, data_dim]`` of ``n`` prior draws."""
        return self.decode(self.prior_sample(n, generator))
