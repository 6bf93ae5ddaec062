"""Checkers for the exercises of Chapter 2, Stable attractors (SA-nODE)."""

import math

import torch

from ..models.sanode import SANODE, line_attractors
from . import GradingError, as_tensor, assert_close, checker

__all__ = [
    "check_double_well_drift",
    "check_coupling_matrix",
    "check_stability_bound",
    "check_max_growth_rate",
    "check_accuracy95",
    "check_corrupt_pixels",
]


def _float(value, what):
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise GradingError(f"{what} should be a single number; got a tensor of shape {tuple(value.shape)}")
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    raise GradingError(f"{what} should be a number; got {type(value).__name__}")


@checker(points=1, target="double_well_drift")
def check_double_well_drift(double_well_drift):
    """f(x) = −V'(x) for V = γ(x² − a²)², elementwise, on batches."""
    g = torch.Generator().manual_seed(0)
    for a, gamma in ((0.5, 0.4), (1.3, 2.0)):
        x = torch.randn(6, 5, generator=g, dtype=torch.float64).requires_grad_(True)
        V = (gamma * (x**2 - a**2) ** 2).sum()
        (grad,) = torch.autograd.grad(V, x)
        expected = -grad
        out = as_tensor(double_well_drift(x.detach(), a, gamma), "double_well_drift(x, a, gamma)").detach()
        if out.shape == x.shape and not torch.allclose(out.to(expected), expected, rtol=1e-9, atol=1e-10):
            factor = (out.to(expected) * expected).sum() / expected.pow(2).sum()
            if torch.allclose(out.to(expected), factor * expected, rtol=1e-6, atol=1e-9):
                raise GradingError(
                    f"your drift is {factor.item():.3g} times −V'(x) (a={a}, γ={gamma}): check the sign "
                    "(the drift is −∇V) and the factor (d/dx (x² − a²)² = 4x(x² − a²))"
                )
        assert_close(out, expected, f"the drift at random x (a={a}, γ={gamma})", rtol=1e-9, atol=1e-10)
    zeros = double_well_drift(torch.tensor([-0.5, 0.0, 0.5], dtype=torch.float64), 0.5, 0.4)
    assert_close(zeros, torch.zeros(3, dtype=torch.float64), "the drift at x = −a, 0, +a", atol=1e-12)


@checker(points=2, target="coupling_matrix")
def check_coupling_matrix(coupling_matrix):
    """A = Φ Λ Φ⁻¹ for a non-orthogonal Φ: A Φ = Φ diag(λ)."""
    g = torch.Generator().manual_seed(1)
    n = 6
    Phi = torch.eye(n, dtype=torch.float64) + 0.4 * torch.randn(n, n, generator=g, dtype=torch.float64)
    lam = torch.tensor([0.0, 0.0, -1.0, -2.5, 0.7, -4.0], dtype=torch.float64)
    A = as_tensor(coupling_matrix(Phi.clone(), lam.clone()), "coupling_matrix(Phi, lam)")
    if A.shape != (n, n):
        raise GradingError(f"A should have shape ({n}, {n}); got {tuple(A.shape)}")
    A = A.detach().to(torch.float64)
    if torch.allclose(A, Phi @ torch.diag(lam) @ Phi.T, atol=1e-8):
        raise GradingError("you computed Φ Λ Φᵀ: that equals Φ Λ Φ⁻¹ only when Φ is orthogonal, and this Φ is not")
    if torch.allclose(A, torch.linalg.solve(Phi, torch.diag(lam) @ Phi), atol=1e-8):
        raise GradingError("you computed Φ⁻¹ Λ Φ: the eigenvectors are the columns of Φ, so A = Φ Λ Φ⁻¹")
    if not torch.allclose(A @ Phi[:, :2], torch.zeros(n, 2, dtype=torch.float64), atol=1e-8):
        raise GradingError("the columns of Φ with eigenvalue 0 are not in the kernel of your A (A φ ≠ 0)")
    assert_close(A @ Phi, Phi * lam, "A Φ (should be Φ diag(λ))", rtol=1e-8, atol=1e-8)


@checker(points=1, target="stability_bound")
def check_stability_bound(stability_bound):
    """λ < 8a²γ/β with β = 1/√N."""
    for a, gamma, n in ((0.5, 0.4, 49), (0.5, 0.4, 784), (1.0, 0.3, 16)):
        got = _float(stability_bound(a, gamma, n), f"stability_bound({a}, {gamma}, {n})")
        expected = 8 * a * a * gamma * math.sqrt(n)
        if abs(got - expected) <= 1e-9 * expected:
            continue
        if abs(got - 8 * a * a * gamma) < 1e-9:
            raise GradingError(f"stability_bound({a}, {gamma}, {n}) = {got:g} leaves out β: the bound is on βλ")
        if abs(got - expected / 2) < 1e-9 * expected:
            raise GradingError(f"stability_bound({a}, {gamma}, {n}) = {got:g} is half the bound: f'(±a) = −8γa², not −4γa²")
        raise GradingError(f"stability_bound({a}, {gamma}, {n}) = {got:g}; expected {expected:g}")


def _reference_growth(model, lam):
    phi = model.eigenvectors().detach()
    A = torch.linalg.solve(phi.T, lam[:, None] * phi.T).T
    target = model.attractors[0]
    J = torch.diag(4 * model.gamma.detach() * (model.a**2 - 3 * target**2)) + model.beta * A
    return torch.linalg.eigvals(J).real.max().item()


@checker(points=2, target="max_growth_rate")
def check_max_growth_rate(max_growth_rate):
    """Largest real part of the Jacobian's eigenvalues at attractor 0, for a given spectrum λ."""
    model = SANODE(line_attractors(3, 12), seed=4)
    lam = model.eigenvalues().detach().clone()
    bound = model.stability_bound().item()
    for above, label in ((False, "the model's own spectrum"), (True, "one eigenvalue above the bound")):
        trial = lam.clone()
        if above:
            trial[-1] = bound + 2.0
        got = _float(max_growth_rate(model, trial.clone()), f"max_growth_rate with {label}")
        expected = _reference_growth(model, trial)
        if abs(got - expected) > 1e-6:
            if abs(got + expected) < 1e-6:
                raise GradingError(f"with {label} your growth rate has the wrong sign ({got:.4g} vs {expected:.4g})")
            raise GradingError(
                f"with {label} the largest real part is {expected:.4g}; got {got:.4g} "
                "(J = diag(f'(φ)) + βA, with f'(x) = 4γ(a² − 3x²) and β = 1/√N)"
            )


@checker(points=2, target="accuracy95")
def check_accuracy95(accuracy95):
    """Eqs. (7)-(8): the share of samples whose sign overlap with the target is >= 0.95."""
    att = line_attractors(2, 40)
    x = torch.cat([att, att, att, att[:1]])
    x[2, 0] *= -1  # one flip of 40: exactly 0.95, counts
    x[3, :2] *= -1  # two flips: 0.9, does not count
    x[4] = 0.3 * x[4]  # small magnitude, right signs: counts
    x[5] = att[0]  # the other class's attractor
    x[6, :4] *= -1  # four flips: still nearest to its own attractor, but m = 0.8
    labels = torch.tensor([0, 1, 0, 1, 0, 1, 0])
    got = _float(accuracy95(x, att, labels), "accuracy95(x, attractors, labels)")
    if abs(got - 4 / 7) < 1e-9:
        return
    if abs(got - 3 / 7) < 1e-9:
        raise GradingError("a sample with exactly 95 % of the signs right must count (the rule is >= 0.95, not >)")
    if abs(got - 5 / 7) < 1e-9:
        raise GradingError("you count 2 wrong pixels of 40 as correct: m = (1/N) Σ sign·sign is 1 − 2·(wrong)/N = 0.9")
    raise GradingError(f"accuracy95 returned {got:.4g} on a crafted batch where 4 of 7 samples pass")


@checker(points=2, target="corrupt_pixels")
def check_corrupt_pixels(corrupt_pixels):
    """floor(εN) distinct pixels per row replaced by U(0, 1) noise; the rest unchanged."""
    x = torch.full((300, 49), -1.0)  # any replaced pixel is visible: noise lies in [0, 1]
    for eps in (0.0, 0.3, 0.5):
        out = as_tensor(corrupt_pixels(x.clone(), eps, torch.Generator().manual_seed(5)), f"corrupt_pixels(x, {eps}, g)")
        if out.shape != x.shape:
            raise GradingError(f"the output has shape {tuple(out.shape)}; expected {tuple(x.shape)}")
        changed = out != x
        counts = changed.sum(dim=1)
        expected = int(eps * 49 + 1e-9)
        if not (counts == expected).all():
            lo, hi = int(counts.min()), int(counts.max())
            if lo != hi:
                raise GradingError(
                    f"with eps={eps} the number of changed pixels varies from row to row ({lo} to {hi}): "
                    f"each image must have exactly floor(eps·N) = {expected} distinct pixels replaced"
                )
            raise GradingError(f"with eps={eps} each row has {lo} changed pixels; expected floor(eps·N) = {expected}")
        new = out[changed]
        if new.numel() and (new.min() < 0 or new.max() > 1):
            raise GradingError("replaced pixels must take uniform values in [0, 1] (replace, do not add noise)")
    first, again = (corrupt_pixels(x.clone(), 0.3, torch.Generator().manual_seed(6)) for _ in range(2))
    if not torch.equal(first, again):
        raise GradingError("the result is not reproducible: draw every random number from the generator passed in")
