"""GridVAE, the rounding KL and the VAE-classifier with test-time purification (Tu et al. 2023, Secs. 3-4).

- **GridVAE** (eq. 25): a VAE whose prior is the equal-weight mixture of ``N(μ_k, σ² I)`` over the
  Cartesian grid of integer centres ``μ_k ∈ values^d``. Because the grid is a Cartesian product and
  the weights are equal, the mixture factorises over coordinates,
  ``p(z) = Π_i (1/n) Σ_v N(z_i; v, σ²)``, so :func:`grid_log_prior` costs ``d·n`` Gaussians instead
  of ``n^d``; the KL of eq. (26) is the one-sample estimate ``log q(z|x) - log p(z)`` (the paper
  prints it with the opposite sign).
- **Rounding KL** (eqs. 27-28): only the nearest centre ``R(μ)`` (rounding) counts, a Gaussian
  ``N(R(μ), σ₀² I)``, so the KL is closed form in any dimension; the *guided* variant puts the given
  attribute values ``μ^gt`` in place of ``R(μ)``, coordinate by coordinate where the target is
  finite (NaN leaves a coordinate unguided, the paper's "partially guided").
- **VAE-classifier** (eq. 29): a VAE with a classification head on the latent, trained on
  ``ELBO + λ log h(z)_y``; **purification** (eq. 30) moves a test input by signed gradient ascent on
  its ELBO, kept in the ``[0, 1]`` box and, optionally, in an ℓ∞ ball of radius ``eps`` around it.

The VAE itself is :class:`dyngeo.models.vae.VAE` (MLP encoder and decoder on flat inputs); these
classes override its prior. :func:`two_digit_images` builds the paper's two-digit data set (Sec.
3.1.2) from scikit-learn's 8×8 digits.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..rng import draw
from .vae import VAE

__all__ = ["grid_log_prior", "rounding_kl", "GridVAE", "VAEClassifier", "purify", "two_digit_images"]


def grid_log_prior(z, values, sigma):
    """Eq. (25): ``log p(z)`` ``[B]`` of the equal-weight Gaussian mixture with standard deviation ``sigma``
    centred on every point of the grid ``values × … × values`` (``d`` times for ``z`` ``[B, d]``),
    computed with log-sum-exp one coordinate at a time (the mixture factorises over coordinates)."""
    if z.dim() != 2:
        raise ValueError(f"z must be [B, d]; got {tuple(z.shape)}")
    if sigma <= 0:
        raise ValueError(f"sigma must be positive; got {sigma}")
    v = torch.as_tensor(values, dtype=z.dtype, device=z.device).reshape(-1)
    if v.numel() < 1:
        raise ValueError("values must hold at least one grid coordinate")
    comp = -0.5 * ((z.unsqueeze(-1) - v) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)  # [B, d, n]
    return (torch.logsumexp(comp, dim=-1) - math.log(v.numel())).sum(-1)


def rounding_kl(mu, logvar, sigma0, target=None):
    """Eq. (28): ``KL(N(μ, diag e^logvar) || N(c, σ₀² I))`` ``[B]`` with ``c = round(μ)`` (the nearest
    integer centre, no gradient through it), or ``c = target`` where ``target`` (``[B, d]``) is finite
    (guided; NaN entries fall back to rounding).

    ``½ Σ_i [log σ₀² - logvar_i - 1 + (e^{logvar_i} + (μ_i - c_i)²) / σ₀²]``."""
    if mu.shape != logvar.shape or mu.dim() != 2:
        raise ValueError(f"mu and logvar must both be [B, d]; got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    if sigma0 <= 0:
        raise ValueError(f"sigma0 must be positive; got {sigma0}")
    centre = torch.round(mu).detach()
    if target is not None:
        target = torch.as_tensor(target, dtype=mu.dtype, device=mu.device)
        if target.shape != mu.shape:
            raise ValueError(f"target must have the shape of mu {tuple(mu.shape)}; got {tuple(target.shape)}")
        centre = torch.where(torch.isnan(target), centre, target)
    s2 = sigma0 ** 2
    return 0.5 * (math.log(s2) - logvar - 1 + (logvar.exp() + (mu - centre) ** 2) / s2).sum(-1)


class GridVAE(VAE):
    """A VAE with the grid prior: ``prior="mixture"`` (eq. 25, the KL of eq. 26 by one sample) or
    ``prior="round"`` (the nearest-centre KL of eq. 28 with ``sigma0``, optionally guided).

    ``values`` are the grid coordinates on each axis (default the paper's ``-2..3``), ``sigma`` the
    mixture's standard deviation (the paper's 1/3). :meth:`elbo` takes an optional ``target``
    ``[B, d]`` (guided rounding KL; NaN = unguided coordinate)."""

    def __init__(self, data_dim, latent_dim, values=(-2, -1, 0, 1, 2, 3), sigma=1 / 3, prior="mixture",
                 sigma0=None, **vae_kwargs):
        super().__init__(data_dim, latent_dim, **vae_kwargs)
        if prior not in ("mixture", "round"):
            raise ValueError(f"prior must be 'mixture' or 'round'; got {prior!r}")
        if sigma <= 0 or (sigma0 is not None and sigma0 <= 0):
            raise ValueError(f"sigma and sigma0 must be positive; got {sigma}, {sigma0}")
        self.register_buffer("values", torch.as_tensor(values, dtype=torch.float32))
        self.grid_sigma, self.prior = sigma, prior
        self.sigma0 = sigma if sigma0 is None else sigma0

    def log_prior(self, z):
        """``log p(z)`` of the grid mixture (eq. 25)."""
        return grid_log_prior(z, self.values.to(z.dtype), self.grid_sigma)

    def kl(self, mu, logvar, z, target=None):
        if self.prior == "round" or target is not None:
            return rounding_kl(mu, logvar, self.sigma0, target)
        log_q = (-0.5 * ((z - mu) ** 2 / logvar.exp() + logvar + math.log(2 * math.pi))).sum(-1)
        return log_q - self.log_prior(z)

    def prior_sample(self, n, generator=None):
        """A uniform grid centre per draw plus ``N(0, σ² I)`` noise (``σ = sigma0`` for the rounding prior)."""
        v = self.values
        idx = draw(lambda shape, **kw: torch.randint(v.numel(), shape, **kw), (n, self.latent_dim), generator, v.device)
        s = self.grid_sigma if self.prior == "mixture" else self.sigma0
        return v[idx] + s * draw(torch.randn, (n, self.latent_dim), generator, v.device, v.dtype)

    @torch.no_grad()
    def cells(self, x):
        """The grid cell of each input: its posterior mean rounded to the nearest centre, clipped to the grid."""
        mu, _ = self.encode(x)
        return torch.round(mu).clamp(self.values.min(), self.values.max())


class VAEClassifier(VAE):
    """A VAE with a linear classification head ``h_ψ`` on the latent (Yang et al. 2022; Tu et al. eq. 29).

    ``forward(x)`` returns the logits of the posterior mean, so the model is a classifier for the
    attacks; :meth:`loss` is the negative of eq. (29), averaged over the batch."""

    def __init__(self, data_dim, latent_dim, n_classes, **vae_kwargs):
        super().__init__(data_dim, latent_dim, **vae_kwargs)
        self.head = nn.Linear(latent_dim, n_classes)

    def forward(self, x):
        return self.head(self.encode(x.flatten(1))[0])

    def loss(self, x, y, lam=1.0, beta=1.0, generator=None):
        """``-mean[ELBO(x) + λ log h_ψ(z)_y]`` with one reparameterised ``z`` shared by both terms (eq. 29)."""
        x = x.flatten(1)
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator)
        elbo = self.log_likelihood(x, z) - beta * self.kl(mu, logvar, z)
        return -(elbo - lam * F.cross_entropy(self.head(z), y, reduction="none")).mean()


def purify(model, x, steps=64, alpha=1 / 255, eps=None, samples=8, generator=None, trace=None):
    """Eq. (30): ``x + δ`` with ``δ`` found by ``steps`` signed gradient-ascent steps of size ``alpha`` on
    the ELBO (averaged over ``samples`` reparameterised draws per step), projected onto the box
    ``x + δ ∈ [0, 1]`` and, when ``eps`` is given, the ℓ∞ ball ``||δ||∞ ≤ eps``. ``x`` keeps its
    shape (flattened for ``model.elbo``); ``trace`` receives each iterate."""
    if steps < 0 or alpha <= 0 or samples < 1:
        raise ValueError(f"need steps >= 0, alpha > 0, samples >= 1; got {steps}, {alpha}, {samples}")
    x0 = x.detach()
    cur = x0.clone()
    for _ in range(steps):
        cur.requires_grad_(True)
        flat = cur.flatten(1).repeat(samples, 1)
        objective = model.elbo(flat, generator=generator).sum() / samples
        (grad,) = torch.autograd.grad(objective, cur)
        with torch.no_grad():
            cur = cur + alpha * grad.sign()
            if eps is not None:
                cur = torch.max(torch.min(cur, x0 + eps), x0 - eps)
            cur = cur.clamp(0.0, 1.0)
        if trace is not None:
            trace.append(cur.clone())
    return cur.detach()


def two_digit_images(images, labels, n, classes=6, seed=0):
    """The two-digit data set of Sec. 3.1.2: ``n`` images made of two ``h × w`` digits side by side,
    each drawn from the classes ``0 .. classes-1`` of ``(images [N, h, w], labels [N])``.
    Returns ``(x [n, h, 2w], pairs [n, 2], label [n] = classes · first + second)``."""
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise ValueError(f"images must be [N, h, w] with labels [N]; got {images.shape} and {labels.shape}")
    pool = np.flatnonzero(labels < classes)
    if pool.size == 0:
        raise ValueError(f"no image has a label below {classes}")
    rng = np.random.default_rng(seed)
    pick = rng.choice(pool, size=(n, 2))
    x = np.concatenate([images[pick[:, 0]], images[pick[:, 1]]], axis=2)
    pairs = labels[pick]
    return (torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(pairs, dtype=torch.long),
            torch.as_tensor(classes * pairs[:, 0] + pairs[:, 1], dtype=torch.long))
