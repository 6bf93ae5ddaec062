"""The per-step Markov-chain likelihood of a diffusion model (Tu et al. 2023, Sec. 2.2.2, eqs. 21-23).

The forward chain ``x_{τ_0} = x_0 → x_{τ_1} → … → x_{τ_K}`` is a Markov chain with known Gaussian
steps (eq. 11); the model's reverse chain uses the Gaussian ``p_θ(x_s | x_t)`` of eqs. (18)-(20).
Writing the joint law both ways (eq. 21) and dividing gives, for one forward trajectory,

    -log q(x_0) ≈ -log p(x_{τ_K}) + Σ_k [ log q(x_{τ_{k+1}} | x_{τ_k}) - log p_θ(x_{τ_k} | x_{τ_{k+1}}) ]   (eq. 23)

with ``p(x_{τ_K}) = N(0, I)``. The trajectory is drawn by running the forward process from ``x_0``,
so the estimate is random; the paper averages it over rounds (100 in its Fig. 5).

Conventions follow :mod:`dyngeo.models.diffusion`: timesteps are integers ``0..T-1`` with
``alpha_bar[t]``, and "t = -1" is clean data (``ᾱ = 1``). With step ``h`` the grid is that of the
samplers, ``τ = -1, …, T-1-2h, T-1-h, T-1``. Two corrections to the paper's
text: the forward step ``q(x_t | x_s)`` has mean ``√(ᾱ_t/ᾱ_s) x_s`` (the text drops the square root
and shifts the index) and variance ``1 - ᾱ_t/ᾱ_s``; and the posterior-variance choice of eq. (19)
is zero on the last step (``β̄_s = 0`` at clean data), so its estimate is infinite there — the
default is the other choice, ``σ² = β̄_st``.
"""

import math

import torch

from ..rng import draw
from .diffusion import _grid as _sampler_grid

__all__ = ["markov_nll", "reverse_mean", "gaussian_eps", "gaussian_nll"]


def _log_normal(x, mean, var):
    """log N(x; mean, var I) summed over the last dimension, ``var`` a Python float (may be 0 -> -inf/nan)."""
    d = x.shape[-1]
    if var <= 0:
        return torch.full(x.shape[:-1], -math.inf, dtype=x.dtype, device=x.device)
    return -0.5 * d * math.log(2 * math.pi * var) - ((x - mean) ** 2).sum(-1) / (2 * var)


def reverse_mean(x_t, eps, abar_s, abar_t):
    """Eq. (18): the mean of ``p_θ(x_s | x_t)``, ``(x_t - β̄_st / √β̄_t · ε) / √ᾱ_st`` with
    ``ᾱ_st = ᾱ_t / ᾱ_s``, ``β̄_st = 1 - ᾱ_st``, ``β̄_t = 1 - ᾱ_t``. With ``s = t - 1`` it is DDPM's eq. (17)."""
    a_st = float(abar_t) / float(abar_s)
    return (x_t - (1 - a_st) / math.sqrt(1 - float(abar_t)) * eps) / math.sqrt(a_st)


def _grid(schedule, h):
    """The levels ``-1, …, T-1-h, T-1`` (the samplers' grid of :mod:`dyngeo.models.diffusion`, read forward)
    and their ``ᾱ`` as Python floats."""
    times = _sampler_grid(schedule, h)[::-1]
    return times, schedule.abar(torch.tensor(times)).tolist()


def markov_nll(eps_model, x0, schedule, h=1, rounds=1, variance="forward", generator=None, reduce="mean"):
    """Eq. (23): the Markov-chain estimate of ``-log q(x_0)`` in nats for each row of ``x0`` ``[B, d]``.

    ``eps_model(x, t)`` predicts the noise at integer timesteps ``t`` ``[B]``; ``schedule`` has
    ``alpha_bar`` ``[T]`` (a :class:`dyngeo.models.diffusion.Schedule`); ``h`` is the step (grid
    ``-1, …, T-1-h, T-1``); ``rounds`` independent forward trajectories per point; ``variance`` is
    eq. (19)'s ``"forward"`` (``σ² = β̄_st``, default) or ``"posterior"`` (``β̄_s β̄_st / β̄_t``, infinite on
    the last step). Returns ``[B]`` (the mean over rounds) or ``[rounds, B]`` with ``reduce=None``.
    """
    if x0.dim() != 2:
        raise ValueError(f"x0 must be [B, d]; got {tuple(x0.shape)}")
    if rounds < 1:
        raise ValueError(f"rounds must be positive; got {rounds}")
    if variance not in ("forward", "posterior"):
        raise ValueError(f"variance must be 'forward' or 'posterior'; got {variance!r}")
    if reduce not in ("mean", None):
        raise ValueError(f"reduce must be 'mean' or None; got {reduce!r}")
    times, abar = _grid(schedule, h)
    B = x0.shape[0]
    x = x0.detach().repeat(rounds, 1)
    total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    with torch.no_grad():
        for k in range(len(times) - 1):
            a_st = abar[k + 1] / abar[k]
            noise = draw(torch.randn, x.shape, generator, x.device, x.dtype)
            x_next = math.sqrt(a_st) * x + math.sqrt(1 - a_st) * noise
            total = total + _log_normal(x_next, math.sqrt(a_st) * x, 1 - a_st)
            t = torch.full((x.shape[0],), times[k + 1], dtype=torch.long, device=x.device)
            mean = reverse_mean(x_next, eps_model(x_next, t), abar[k], abar[k + 1])
            var = 1 - a_st if variance == "forward" else (1 - abar[k]) * (1 - a_st) / (1 - abar[k + 1])
            total = total - _log_normal(x, mean, var)
            x = x_next
        total = total - _log_normal(x, torch.zeros_like(x), 1.0)
    total = total.reshape(rounds, B)
    return total.mean(0) if reduce == "mean" else total


def gaussian_eps(schedule, var, mean=0.0):
    """The exact noise predictor ``ε*(x_t, t) = E[ε | x_t]`` for data ``N(mean, var I)``:
    ``√β̄_t (x_t - √ᾱ_t mean) / (ᾱ_t var + β̄_t)``. A reference ``eps_model`` with no training (fractional
    ``t``, as the probability-flow ODE's RK4 midpoints use, interpolates ``ᾱ`` linearly)."""
    abar = torch.as_tensor(schedule.alpha_bar, dtype=torch.float64)

    def eps(x, t):
        t = torch.as_tensor(t, device=x.device).double().clamp(0, len(abar) - 1)
        lo = t.floor().long()
        hi = (lo + 1).clamp(max=len(abar) - 1)
        table = abar.to(x.device)
        a = (table[lo] + (t - lo) * (table[hi] - table[lo])).to(x.dtype).unsqueeze(-1)  # linear between levels
        m = torch.as_tensor(mean, dtype=x.dtype, device=x.device)
        return torch.sqrt(1 - a) * (x - torch.sqrt(a) * m) / (a * var + 1 - a)

    return eps


def gaussian_nll(x0, var, mean=0.0):
    """The exact ``-log N(x0; mean, var I)`` ``[B]`` (nats), the target of :func:`markov_nll` on Gaussian data."""
    return -_log_normal(x0, torch.as_tensor(mean, dtype=x0.dtype, device=x0.device), float(var))
