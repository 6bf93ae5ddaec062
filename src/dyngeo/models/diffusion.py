"""Denoising diffusion models: noise schedules, ε-prediction networks, the L_simple loss and four
samplers (DDPM ancestral, DDIM, the probability-flow ODE, inpainting by known-region replacement).

Notation (Ho et al. 2020, "Denoising diffusion probabilistic models", DDPM): timesteps are the integers
``t = 0 .. T-1`` (the paper's 1..T shifted by one), ``β_t`` the noise schedule, ``α_t = 1 - β_t`` and
``ᾱ_t = ∏_{i≤t} α_i``; ``t = -1`` stands for clean data (``ᾱ_{-1} = 1``).

- forward process (DDPM eq. 4): ``q(x_t | x_0) = N(√ᾱ_t x_0, (1 - ᾱ_t) I)``;
- L_simple (DDPM eq. 14): ``E_{t, x_0, ε} ||ε - ε_θ(√ᾱ_t x_0 + √(1-ᾱ_t) ε, t)||²``;
- the posterior between any two levels ``s < t`` (DDPM eqs. 6–7, with ``α_{t|s} = ᾱ_t / ᾱ_s`` in place of
  ``α_t``), which gives ancestral sampling with any stride ``h = t - s``;
- DDIM (Song, Meng & Ermon 2021, eq. 12) with its ``η``;
- the probability-flow ODE in DDIM's variables (Song et al. 2021, eq. 14):
  ``d x̄ / dσ = ε_θ(x, t(σ))`` with ``x̄ = x / √ᾱ`` and ``σ = √((1 - ᾱ)/ᾱ)``, solved by
  :func:`dyngeo.ode.odeint`; Euler's method on the σ-grid of the timesteps is exactly DDIM with ``η = 0``, and
  RK4 is the large-step sampler of Tu et al. (Part II, "Densities on image manifolds").

Every ε-network has the call signature ``eps_model(x, t)`` with ``t`` a float or integer tensor ``[B]``. The
samplers follow the device and dtype of their starting point and run without gradients.
"""

import math

import torch
from torch import nn

from ..ode import odeint
from ..rng import draw

__all__ = ["Schedule", "q_sample", "timestep_embedding", "EpsMLP", "simple_loss", "posterior",
           "ddpm_sample", "ddim_sample", "flow_sample", "inpaint"]


class Schedule:
    """A variance schedule ``β_0..β_{T-1}`` with ``α`` and ``ᾱ`` precomputed (float64, on ``device``)."""

    def __init__(self, betas):
        betas = torch.as_tensor(betas, dtype=torch.float64)
        if betas.dim() != 1 or betas.numel() < 1:
            raise ValueError(f"betas must be a non-empty 1-D sequence; got shape {tuple(betas.shape)}")
        if not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError("every beta must lie in (0, 1)")
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alpha_bar = torch.cumprod(self.alphas, 0)

    @classmethod
    def linear(cls, T=1000, beta_start=1e-4, beta_end=0.02):
        """DDPM's schedule: ``β`` linear from ``beta_start`` to ``beta_end`` over ``T`` steps."""
        return cls(torch.linspace(beta_start, beta_end, T, dtype=torch.float64))

    @classmethod
    def cosine(cls, T=1000, s=0.008, max_beta=0.999):
        """Nichol & Dhariwal (2021, eq. 17): ``ᾱ(t) = f(t)/f(0)``, ``f(t) = cos²((t/T + s)/(1 + s) · π/2)``,
        with ``β_t = 1 - ᾱ_t/ᾱ_{t-1}`` capped at ``max_beta``."""
        steps = torch.arange(T + 1, dtype=torch.float64)
        f = torch.cos((steps / T + s) / (1 + s) * math.pi / 2) ** 2
        return cls((1 - f[1:] / f[:-1]).clamp(max=max_beta))

    @property
    def T(self):
        return self.betas.numel()

    def to(self, device):
        """A copy whose tensors live on ``device`` (the samplers also accept a CPU schedule)."""
        out = Schedule.__new__(Schedule)
        out.betas, out.alphas, out.alpha_bar = (v.to(device) for v in (self.betas, self.alphas, self.alpha_bar))
        return out

    def abar(self, t):
        """``ᾱ_t`` for integer ``t`` (tensor or int) in ``-1 .. T-1``; ``ᾱ_{-1} = 1``."""
        t = torch.as_tensor(t, device=self.alpha_bar.device)
        if t.dtype.is_floating_point or bool(((t < -1) | (t >= self.T)).any()):
            raise ValueError(f"timesteps must be integers in [-1, {self.T - 1}]")
        padded = torch.cat([self.alpha_bar.new_ones(1), self.alpha_bar])
        return padded[t + 1]

    def sigma(self, t):
        """DDIM's noise-to-signal ratio ``σ_t = √((1 - ᾱ_t)/ᾱ_t)`` (``σ_{-1} = 0``)."""
        a = self.abar(t)
        return ((1 - a) / a).sqrt()


def _per_sample(values, like):
    """Per-sample coefficients ``[B]`` (float64) shaped ``[B, 1, ..., 1]`` to broadcast against ``like``."""
    return values.to(like.device, like.dtype).reshape(-1, *([1] * (like.dim() - 1)))


def _timesteps(t, x):
    t = torch.as_tensor(t, device=x.device)
    if t.dim() == 0:
        t = t.expand(x.shape[0])
    if t.shape != (x.shape[0],):
        raise ValueError(f"t must be a scalar or [B] with B = {x.shape[0]}; got shape {tuple(t.shape)}")
    return t


def q_sample(x0, t, schedule, noise):
    """``x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε`` (DDPM eq. 4) for integer ``t`` (scalar or ``[B]``)."""
    if noise.shape != x0.shape:
        raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}; got {tuple(noise.shape)}")
    a = _per_sample(schedule.abar(_timesteps(t, x0)), x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def timestep_embedding(t, dim, max_period=10000.0):
    """Sinusoidal features ``[B, dim]`` of (float) timesteps ``t`` ``[B]`` (Vaswani et al. 2017, as in DDPM)."""
    if dim < 2 or dim % 2:
        raise ValueError(f"dim must be an even integer >= 2; got {dim}")
    t = torch.as_tensor(t).reshape(-1).float()
    freqs = torch.exp(-math.log(max_period) * torch.arange(dim // 2, device=t.device) / (dim // 2))
    angles = t[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class EpsMLP(nn.Module):
    """An ε-prediction MLP for flat data ``[B, dim]``: the time embedding is added to every hidden layer."""

    def __init__(self, dim, hidden=128, depth=3, time_dim=32):
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be at least 1; got {depth}")
        self.dim, self.time_dim = dim, time_dim
        self.inp = nn.Linear(dim, hidden)
        self.time = nn.ModuleList(nn.Linear(time_dim, hidden) for _ in range(depth))
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth - 1))
        self.out = nn.Linear(hidden, dim)
        self.act = nn.SiLU()

    def forward(self, x, t):
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"EpsMLP expects x of shape [B, {self.dim}]; got {tuple(x.shape)}")
        emb = timestep_embedding(_timesteps(t, x), self.time_dim).to(x)
        h = self.act(self.inp(x) + self.time[0](emb))
        for layer, time in zip(self.hidden, self.time[1:]):
            h = self.act(layer(h) + time(emb))
        return self.out(h)


def simple_loss(eps_model, x0, schedule, generator=None):
    """L_simple (DDPM eq. 14): ``t`` uniform on ``0..T-1``, ``ε ~ N(0, I)``, mean squared error of ``ε_θ``."""
    t = draw(lambda shape, **kw: torch.randint(schedule.T, shape, **kw), (x0.shape[0],), generator, x0.device)
    noise = draw(torch.randn, x0.shape, generator, x0.device, x0.dtype)
    return ((eps_model(q_sample(x0, t, schedule, noise), t) - noise) ** 2).mean()


def _grid(schedule, h, start=None):
    """The strided timesteps ``start, start-h, ..., ≥ 0`` followed by ``-1`` (``start`` defaults to ``T-1``)."""
    if not isinstance(h, int) or isinstance(h, bool) or h < 1:
        raise ValueError(f"the step h must be a positive integer; got {h!r}")
    return list(range(schedule.T - 1 if start is None else start, -1, -h)) + [-1]


def _predict(eps_model, x, t, schedule, clip_x0):
    """``ε_θ(x_t, t)`` and ``x̂_0 = (x_t - √(1-ᾱ_t) ε_θ)/√ᾱ_t``, optionally clamped to ``clip_x0``."""
    eps = eps_model(x, torch.full((x.shape[0],), t, device=x.device))
    a = float(schedule.abar(t))
    x0 = (x - math.sqrt(1 - a) * eps) / math.sqrt(a)
    if clip_x0 is not None:
        x0 = x0.clamp(*clip_x0)
        eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
    return eps, x0


def posterior(schedule, x_t, x0, t, s):
    """Mean and variance of ``q(x_s | x_t, x_0)`` for integer levels ``-1 ≤ s < t`` (DDPM eqs. 6–7 with
    ``α_{t|s} = ᾱ_t/ᾱ_s``): mean ``√ᾱ_s β_{t|s}/(1-ᾱ_t) x_0 + √α_{t|s} (1-ᾱ_s)/(1-ᾱ_t) x_t``, variance
    ``β_{t|s} (1-ᾱ_s)/(1-ᾱ_t)``. With ``s = t - 1`` the mean at ``x̂_0(ε)`` is DDPM's eq. 11."""
    if not -1 <= s < t < schedule.T:
        raise ValueError(f"need -1 <= s < t <= T-1 = {schedule.T - 1}; got s={s}, t={t}")
    a_t, a_s = float(schedule.abar(t)), float(schedule.abar(s))
    alpha = a_t / a_s
    mean = (math.sqrt(a_s) * (1 - alpha) * x0 + math.sqrt(alpha) * (1 - a_s) * x_t) / (1 - a_t)
    return mean, (1 - alpha) * (1 - a_s) / (1 - a_t)


def _start(x_T):
    if not isinstance(x_T, torch.Tensor) or not x_T.dtype.is_floating_point:
        raise ValueError("x_T must be a floating-point tensor [B, ...] (e.g. torch.randn)")
    return x_T


@torch.no_grad()
def ddpm_sample(eps_model, schedule, x_T, h=1, generator=None, clip_x0=None, start=None):
    """Ancestral sampling from ``x_T`` on the grid ``T-1, T-1-h, ..., 0, -1``: each step draws
    ``x_s ~ q(x_s | x_t, x̂_0)`` (:func:`posterior`), the last one returns ``x̂_0``. ``h = 1`` is DDPM's
    Algorithm 2. ``start`` (default ``T-1``) begins the chain at a lower level, ``x_T`` then being ``x_start``."""
    x = _start(x_T)
    grid = _grid(schedule, h, start)
    for t, s in zip(grid[:-1], grid[1:]):
        _, x0 = _predict(eps_model, x, t, schedule, clip_x0)
        mean, var = posterior(schedule, x, x0, t, s)
        x = mean if s < 0 else mean + math.sqrt(var) * draw(torch.randn, x.shape, generator, x.device, x.dtype)
    return x


@torch.no_grad()
def ddim_sample(eps_model, schedule, x_T, h=1, eta=0.0, generator=None, clip_x0=None):
    """DDIM (Song et al. 2021, eq. 12) on the grid ``T-1, T-1-h, ..., -1``:
    ``x_s = √ᾱ_s x̂_0 + √(1 - ᾱ_s - σ²) ε_θ + σ z`` with
    ``σ = η √((1-ᾱ_s)/(1-ᾱ_t)) √(1 - ᾱ_t/ᾱ_s)``; ``η = 0`` is deterministic, ``η = 1`` is DDPM's posterior."""
    if eta < 0:
        raise ValueError(f"eta must be non-negative; got {eta}")
    x = _start(x_T)
    grid = _grid(schedule, h)
    for t, s in zip(grid[:-1], grid[1:]):
        eps, x0 = _predict(eps_model, x, t, schedule, clip_x0)
        a_t, a_s = float(schedule.abar(t)), float(schedule.abar(s))
        sigma = eta * math.sqrt((1 - a_s) / (1 - a_t) * (1 - a_t / a_s))
        x = math.sqrt(a_s) * x0 + math.sqrt(max(1 - a_s - sigma**2, 0.0)) * eps
        if sigma > 0:
            x = x + sigma * draw(torch.randn, x.shape, generator, x.device, x.dtype)
    return x


@torch.no_grad()
def flow_sample(eps_model, schedule, x_T, h=1, method="rk4"):
    """The probability-flow ODE ``d x̄/dσ = ε_θ(x̄ / √(1+σ²), t(σ))`` (``x̄ = x/√ᾱ``) from ``σ_{T-1}`` to 0,
    solved by :func:`dyngeo.ode.odeint` with ``method`` on the σ-grid of ``T-1, T-1-h, ..., 0, -1``.
    Between timesteps ``t(σ)`` is interpolated linearly in σ (RK4's midpoints fall between them).
    ``method="euler"`` reproduces :func:`ddim_sample` with ``η = 0``."""
    x = _start(x_T)
    levels = torch.arange(-1, schedule.T)
    table = schedule.sigma(levels).cpu()  # increasing, table[0] = 0 at t = -1
    grid = torch.tensor(_grid(schedule, h))
    sigmas = schedule.sigma(grid).to(x.device, x.dtype)

    def t_of(sigma):
        sigma = float(sigma)
        k = int(torch.searchsorted(table, torch.tensor(sigma, dtype=table.dtype)).clamp(1, schedule.T))
        lo, hi = float(table[k - 1]), float(table[k])
        return (k - 2) + (sigma - lo) / (hi - lo)  # table[k] is the level t = k - 1

    def field(sigma, xbar):
        t = max(t_of(sigma), 0.0)
        return eps_model(xbar / torch.sqrt(1 + sigma**2), torch.full((x.shape[0],), t, device=x.device))

    xbar = odeint(field, x * torch.sqrt(1 + sigmas[0] ** 2), sigmas, method=method)[-1]
    return xbar  # at σ = 0, x̄ = x


@torch.no_grad()
def inpaint(eps_model, schedule, x_known, known, h=1, generator=None, x_T=None, clip_x0=None):
    """Fill the unknown region of ``x_known`` (``known``: a boolean mask broadcastable to it) by ancestral
    sampling in which, after every step to level ``s``, the known region is replaced by a fresh draw of
    ``q(x_s | x_known)`` (known-region replacement, as in RePaint with one resampling round; Lugmayr et
    al. 2022). The result equals ``x_known`` on the known region."""
    if not isinstance(known, torch.Tensor) or known.dtype != torch.bool:
        raise ValueError("known must be a boolean tensor (True where the pixel is kept)")
    try:
        known = known.to(x_known.device).expand_as(x_known)
    except RuntimeError as err:
        raise ValueError(f"known {tuple(known.shape)} does not broadcast to x_known {tuple(x_known.shape)}") from err
    noise = lambda: draw(torch.randn, x_known.shape, generator, x_known.device, x_known.dtype)
    x = noise() if x_T is None else x_T
    grid = _grid(schedule, h)
    x = torch.where(known, q_sample(x_known, grid[0], schedule, noise()), x)
    for t, s in zip(grid[:-1], grid[1:]):
        _, x0 = _predict(eps_model, x, t, schedule, clip_x0)
        mean, var = posterior(schedule, x, x0, t, s)
        if s < 0:
            return torch.where(known, x_known, mean)
        x = torch.where(known, q_sample(x_known, s, schedule, noise()), mean + math.sqrt(var) * noise())
