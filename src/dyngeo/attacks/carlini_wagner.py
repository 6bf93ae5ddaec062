"""Carlini–Wagner L2 attack in its simple form (Carlini & Wagner 2017, Sec. V.A), batched.

The adversary is written through the change of variables ``x' = (tanh(w) + 1) / 2`` so that it stays
in the box [0, 1] without clipping, and ``w`` minimises

    ‖x' − x‖²  +  c · max(Z(x')_y − max_{i≠y} Z(x')_i, −κ)

with Adam, ``Z`` the logits. The constant ``c`` is fixed or found per input by binary search (the
paper's outer loop). The returned adversary of each input is the closest misclassified iterate met
(the input itself when none was). ``tests/test_attacks_cw_training.py`` checks the fixed-``c`` form
against ``torchattacks.CW`` on the same model, inputs and budget.
"""

import torch

from .gradient import _check

__all__ = ["cw_l2", "cw_objective"]


def _margin(logits, y, kappa):
    """``max(Z_y − max_{i≠y} Z_i, −κ)`` per row."""
    real = logits.gather(1, y[:, None])[:, 0]
    other = logits.masked_fill(torch.nn.functional.one_hot(y, logits.shape[1]).bool(), float("-inf")).amax(1)
    return (real - other).clamp_min(-kappa)


def cw_objective(logits, y, adv, x, c, kappa=0.0):
    """The per-input C&W L2 objective ``‖adv − x‖² + c · max(Z_y − max_{i≠y} Z_i, −κ)`` ([B])."""
    return (adv - x).flatten(1).pow(2).sum(1) + c * _margin(logits, y, kappa)


def _to_w(x):
    return torch.atanh((2 * x - 1).clamp(-1 + 1e-6, 1 - 1e-6))


def _run(model, x, y, c, kappa, steps, lr):
    """One Adam descent at per-input constants ``c`` [B]: (best adversary, its squared L2, success)."""
    w = _to_w(x).requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)
    best = x.clone()
    best_l2 = torch.full((x.shape[0],), float("inf"), dtype=x.dtype, device=x.device)
    shape = (-1,) + (1,) * (x.dim() - 1)
    for _ in range(steps):
        adv = (torch.tanh(w) + 1) / 2
        logits = model(adv)
        cost = cw_objective(logits, y, adv, x, c, kappa)
        opt.zero_grad()
        cost.sum().backward()
        opt.step()
        with torch.no_grad():  # the iterate scored above, before the step
            l2 = (adv - x).flatten(1).pow(2).sum(1)
            better = (logits.argmax(1) != y) & (l2 < best_l2)
            best_l2 = torch.where(better, l2, best_l2)
            best = torch.where(better.reshape(shape), adv.detach(), best)
    return best, best_l2, torch.isfinite(best_l2)


def cw_l2(model, x, y, c=1.0, kappa=0.0, steps=100, lr=0.01, search_steps=0, c_max=1e10):
    """Carlini–Wagner L2 adversaries of ``x`` [B, ...] in [0, 1] with labels ``y`` [B].

    ``search_steps=0`` runs Adam once at the constant ``c``. With ``search_steps=k`` the constant of
    each input is binary-searched ``k`` times starting from ``c``: halved towards the largest failing
    value after a success, multiplied by 10 until the first success otherwise; the closest adversary
    over all runs is kept. Returns ``(adv, success [B] bool)``.
    """
    _check(x, y, 0.0)
    if c <= 0 or steps < 1 or search_steps < 0:
        raise ValueError(f"need c > 0, steps >= 1, search_steps >= 0; got c={c}, steps={steps}, "
                         f"search_steps={search_steps}")
    if x.min() < 0 or x.max() > 1:
        raise ValueError("cw_l2 works in the box [0, 1]: x has values outside it")
    x = x.detach()
    cs = torch.full((x.shape[0],), float(c), dtype=x.dtype, device=x.device)
    lo, hi = torch.zeros_like(cs), torch.full_like(cs, float(c_max))
    best, best_l2 = x.clone(), torch.full_like(cs, float("inf"))
    shape = (-1,) + (1,) * (x.dim() - 1)
    for _ in range(max(search_steps, 1)):
        adv, l2, ok = _run(model, x, y, cs, kappa, steps, lr)
        better = l2 < best_l2
        best_l2 = torch.where(better, l2, best_l2)
        best = torch.where(better.reshape(shape), adv, best)
        hi = torch.where(ok, torch.minimum(hi, cs), hi)
        lo = torch.where(ok, lo, torch.maximum(lo, cs))
        cs = torch.where(hi < c_max, (lo + hi) / 2, cs * 10)
    return best.detach(), torch.isfinite(best_l2)
