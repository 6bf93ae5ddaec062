"""Each checker of Chapter 2 accepts the reference answer and rejects plausible wrong ones."""

import math

import torch

from dyngeo.data.letters import corrupt_pixels
from dyngeo.grading import run_check
from dyngeo.grading.ch02 import (
    check_accuracy95,
    check_corrupt_pixels,
    check_coupling_matrix,
    check_double_well_drift,
    check_max_growth_rate,
    check_stability_bound,
)
from dyngeo.models.sanode import accuracy95, double_well_drift

from checking import rejects


def coupling(Phi, lam):
    return torch.linalg.solve(Phi.T, lam[:, None] * Phi.T).T


def growth(model, lam):
    with torch.no_grad():
        A = coupling(model.eigenvectors(), lam)
        target = model.attractors[0]
        J = torch.diag(4 * model.gamma * (model.a**2 - 3 * target**2)) + model.beta * A
        return torch.linalg.eigvals(J).real.max().item()


# ------------------------------------------------------------------------------- double_well_drift


def test_drift_reference_passes():
    assert run_check(check_double_well_drift, double_well_drift) == (True, "passed")


def test_drift_rejects_plus_gradient():
    rejects(check_double_well_drift, lambda x, a, g: 4 * g * x * (x**2 - a**2), "-1", "sign")


def test_drift_rejects_missing_factor_four():
    rejects(check_double_well_drift, lambda x, a, g: g * x * (a**2 - x**2), "0.25", "factor")


def test_drift_rejects_wrong_power():
    rejects(check_double_well_drift, lambda x, a, g: 4 * g * (a**2 - x**2), "off by")


# --------------------------------------------------------------------------------- coupling_matrix


def test_coupling_reference_passes():
    assert run_check(check_coupling_matrix, coupling) == (True, "passed")


def test_coupling_rejects_transpose_for_inverse():
    rejects(check_coupling_matrix, lambda P, l: P @ torch.diag(l) @ P.T, "orthogonal")


def test_coupling_rejects_swapped_order():
    rejects(check_coupling_matrix, lambda P, l: torch.linalg.solve(P, torch.diag(l) @ P), "columns")


def test_coupling_rejects_lambda_on_the_wrong_side():
    rejects(check_coupling_matrix, lambda P, l: torch.linalg.solve(P.T, P.T * l).T, "kernel")


# --------------------------------------------------------------------------------- stability_bound


def test_bound_reference_passes():
    assert run_check(check_stability_bound, lambda a, g, n: 8 * a * a * g * math.sqrt(n)) == (True, "passed")


def test_bound_rejects_missing_beta():
    rejects(check_stability_bound, lambda a, g, n: 8 * a * a * g, "β")


def test_bound_rejects_half():
    rejects(check_stability_bound, lambda a, g, n: 4 * a * a * g * math.sqrt(n), "−8γa²")


def test_bound_rejects_a_not_squared():
    rejects(check_stability_bound, lambda a, g, n: 8 * a * g * math.sqrt(n), "expected")


# --------------------------------------------------------------------------------- max_growth_rate


def test_growth_reference_passes():
    assert run_check(check_max_growth_rate, growth) == (True, "passed")


def test_growth_closed_form_passes():
    def closed_form(model, lam):
        return (-8 * model.a**2 * model.gamma + model.beta * lam).max().item()

    assert run_check(check_max_growth_rate, closed_form) == (True, "passed")


def test_growth_rejects_missing_beta():
    def no_beta(model, lam):
        return (-8 * model.a**2 * model.gamma + lam).max().item()

    rejects(check_max_growth_rate, no_beta, "largest real part")


def test_growth_rejects_drift_derivative_at_zero():
    def at_zero(model, lam):  # f'(0) = 4γa² instead of f'(±a)
        with torch.no_grad():
            J = 4 * model.gamma * model.a**2 * torch.eye(model.num_nodes, dtype=lam.dtype)
            J = J + model.beta * coupling(model.eigenvectors(), lam)
            return torch.linalg.eigvals(J).real.max().item()

    rejects(check_max_growth_rate, at_zero, "f'(x)")


# -------------------------------------------------------------------------------------- accuracy95


def test_accuracy_reference_passes():
    assert run_check(check_accuracy95, accuracy95) == (True, "passed")


def test_accuracy_rejects_strict_inequality():
    def strict(x, att, y):
        return ((torch.sign(x) * torch.sign(att[y])).mean(dim=1) > 0.95).double().mean().item()

    rejects(check_accuracy95, strict, ">= 0.95")


def test_accuracy_rejects_fraction_of_agreeing_pixels():
    def agreeing(x, att, y):
        return ((torch.sign(x) == torch.sign(att[y])).double().mean(dim=1) >= 0.95).double().mean().item()

    rejects(check_accuracy95, agreeing, "2 wrong pixels")


def test_accuracy_rejects_nearest_attractor():
    def nearest(x, att, y):
        return (torch.cdist(x, att).argmin(dim=1) == y).double().mean().item()

    rejects(check_accuracy95, nearest, "4 of 7")


# ---------------------------------------------------------------------------------- corrupt_pixels


def test_corrupt_reference_passes():
    assert run_check(check_corrupt_pixels, corrupt_pixels) == (True, "passed")


def test_corrupt_rejects_bernoulli_mask():
    def bernoulli(x, eps, g):
        mask = torch.rand(x.shape, generator=g) < eps
        return torch.where(mask, torch.rand(x.shape, generator=g), x)

    rejects(check_corrupt_pixels, bernoulli, "varies from row to row")


def test_corrupt_rejects_positions_with_replacement():
    def with_replacement(x, eps, g):
        B, N = x.shape
        where = torch.randint(0, N, (B, int(eps * N)), generator=g)
        return x.scatter(1, where, torch.rand(B, int(eps * N), generator=g))

    rejects(check_corrupt_pixels, with_replacement, "distinct")


def test_corrupt_rejects_additive_noise():
    def additive(x, eps, g):
        B, N = x.shape
        where = torch.rand(B, N, generator=g).argsort(dim=1)[:, : int(eps * N)]
        return x.scatter_add(1, where, 0.5 * torch.randn(B, int(eps * N), generator=g))

    rejects(check_corrupt_pixels, additive, "[0, 1]")


def test_corrupt_rejects_global_random_state():
    def unseeded(x, eps, g):
        return corrupt_pixels(x, eps, None)

    rejects(check_corrupt_pixels, unseeded, "reproducible")
