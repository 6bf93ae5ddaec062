"""The checkers of the set "SA-nODE": plausible mistakes lose points, right answers written differently do not."""

import math

import numpy as np
import torch

from dyngeo.data.letters import corrupt_pixels
from dyngeo.grading.sa_node import (check_accuracy95, check_corrupt_pixels, check_coupling_matrix,
                                    check_double_well_drift, check_max_growth_rate, check_stability_bound)
from dyngeo.models.sanode import accuracy95, double_well_drift

import dyngeo.grading.sa_node as sa_node

from checking import accepts, rejects

# ------------------------------------------------------------------------------- double_well_drift


def drift(x, a, gamma):
    return 4 * gamma * x * (a**2 - x**2)


def test_drift_right_answers_pass():
    accepts(check_double_well_drift, drift)

    def by_autograd(x, a, gamma):
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad((gamma * (x**2 - a**2) ** 2).sum(), x)
        return -g

    accepts(check_double_well_drift, by_autograd)
    accepts(check_double_well_drift, lambda x, a, g: torch.tensor(4 * g) * x * (a * a - x * x))  # float32 constant


def test_drift_rejects_the_plus_gradient():
    rejects(check_double_well_drift, lambda x, a, g: 4 * g * x * (x**2 - a**2), "sign")


def test_drift_rejects_a_missing_factor_four():
    rejects(check_double_well_drift, lambda x, a, g: g * x * (a**2 - x**2), "factor 4")


def test_drift_rejects_the_potential_and_a_wrong_power():
    rejects(check_double_well_drift, lambda x, a, g: g * (x**2 - a**2) ** 2, "potential")
    rejects(check_double_well_drift, lambda x, a, g: 4 * g * (a**2 - x**2), "factor x")


def test_drift_rejects_the_library_nan_and_non_tensors():
    rejects(check_double_well_drift, double_well_drift, "switched off")
    rejects(check_double_well_drift, lambda x, a, g: torch.full_like(x, float("nan")), "NaN")
    rejects(check_double_well_drift, lambda x, a, g: drift(x, a, g).tolist(), "torch.Tensor")


def test_feedback_names_the_case():
    message = rejects(check_double_well_drift, lambda x, a, g: 4 * g * x * (x**2 - a**2), seeds=(0,))
    assert "x of shape" in message and "expected" in message and "got" in message


# --------------------------------------------------------------------------------- coupling_matrix


def coupling(Phi, lam):
    return torch.linalg.solve(Phi.T, lam[:, None] * Phi.T).T


def test_coupling_right_answers_pass():
    accepts(check_coupling_matrix, coupling)
    accepts(check_coupling_matrix, lambda P, l: P @ torch.diag(l) @ torch.linalg.inv(P))
    accepts(check_coupling_matrix, lambda P, l: np.linalg.solve(P.numpy().T, np.diag(l.numpy()) @ P.numpy().T).T)


def test_coupling_rejects_the_transpose_for_the_inverse():
    rejects(check_coupling_matrix, lambda P, l: P @ torch.diag(l) @ P.T, "orthogonal")


def test_coupling_rejects_the_swapped_order():
    rejects(check_coupling_matrix, lambda P, l: torch.linalg.solve(P, torch.diag(l) @ P), "columns")


def test_coupling_rejects_lambda_on_the_wrong_side():
    rejects(check_coupling_matrix, lambda P, l: torch.linalg.solve(P.T, P.T * l).T, "wrong side")


def test_coupling_rejects_a_missing_final_transpose():
    rejects(check_coupling_matrix, lambda P, l: torch.linalg.solve(P.T, l[:, None] * P.T), "transpose")


def test_coupling_rejects_nan():
    rejects(check_coupling_matrix, lambda P, l: coupling(P, l) * float("nan"), "NaN")


# --------------------------------------------------------------------------------- stability_bound


def test_bound_right_answers_pass():
    accepts(check_stability_bound, lambda a, g, n: 8 * a * a * g * math.sqrt(n))
    accepts(check_stability_bound, lambda a, g, n: 8 * a**2 * g / (1 / math.sqrt(n)))
    accepts(check_stability_bound, lambda a, g, n: torch.tensor(8 * a * a * g) * n**0.5)  # a float32 0-d tensor


def test_bound_rejects_a_missing_beta():
    rejects(check_stability_bound, lambda a, g, n: 8 * a * a * g, "β is left out")


def test_bound_rejects_beta_multiplied():
    rejects(check_stability_bound, lambda a, g, n: 8 * a * a * g / math.sqrt(n), "divide")


def test_bound_rejects_half():
    rejects(check_stability_bound, lambda a, g, n: 4 * a * a * g * math.sqrt(n), "−8γa²")


def test_bound_rejects_a_not_squared():
    rejects(check_stability_bound, lambda a, g, n: 8 * a * g * math.sqrt(n), "not squared")


def test_bound_rejects_nan_and_strings():
    rejects(check_stability_bound, lambda a, g, n: float("nan"), "NaN")
    rejects(check_stability_bound, lambda a, g, n: "8", "should be a number")


# --------------------------------------------------------------------------------- max_growth_rate


def growth(model, lam, beta=None, at=1.0, three=3, own=False, modulus=False):
    with torch.no_grad():
        A = model.coupling() if own else coupling(model.eigenvectors(), lam)
        target = at * model.attractors[0]
        J = torch.diag(4 * model.gamma * (model.a**2 - three * target**2)) + (model.beta if beta is None else beta) * A
        eig = torch.linalg.eigvals(J)
        return (eig.abs() if modulus else eig.real).max().item()


def test_growth_right_answers_pass():
    accepts(check_max_growth_rate, growth)

    def closed_form(model, lam):  # J = −8γa² I + βA at a ±a pattern
        return (-8 * model.a**2 * model.gamma + model.beta * lam).max()

    accepts(check_max_growth_rate, closed_form)


def test_growth_rejects_a_missing_beta():
    rejects(check_max_growth_rate, lambda m, l: growth(m, l, beta=1.0), "β is left out")


def test_growth_rejects_the_derivative_at_zero():
    rejects(check_max_growth_rate, lambda m, l: growth(m, l, at=0.0), "evaluated at 0")


def test_growth_rejects_a_missing_three():
    rejects(check_max_growth_rate, lambda m, l: growth(m, l, three=1), "the 3 is missing")


def test_growth_rejects_the_models_own_eigenvalues():
    rejects(check_max_growth_rate, lambda m, l: growth(m, l, own=True), "own eigenvalues")


def test_growth_rejects_the_modulus():
    rejects(check_max_growth_rate, lambda m, l: growth(m, l, modulus=True), "modulus")


def test_growth_rejects_phi_transpose():
    def transpose(m, lam):
        with torch.no_grad():
            P = m.eigenvectors()
            J = -8 * m.a**2 * m.gamma * torch.eye(m.num_nodes, dtype=lam.dtype) + m.beta * P @ torch.diag(lam) @ P.T
            return torch.linalg.eigvals(J).real.max().item()

    rejects(check_max_growth_rate, transpose, "Φ Λ Φᵀ")


def test_growth_rejects_the_library_and_nan():
    rejects(check_max_growth_rate, lambda m, l: torch.linalg.eigvals(m.jacobian(m.attractors[0])).real.max(),
            "switched off")
    rejects(check_max_growth_rate, lambda m, l: float("nan"), "NaN")


# -------------------------------------------------------------------------------------- accuracy95


def accuracy(x, att, y):
    m = (torch.sign(x) * torch.sign(att[y])).mean(dim=1)
    return (m >= 0.95).double().mean().item()


def test_accuracy_right_answers_pass():
    accepts(check_accuracy95, accuracy)

    def loop(x, att, y):
        hits = 0
        for b in range(len(y)):
            m = sum(np.sign(x[b].numpy()) * np.sign(att[y[b]].numpy())) / x.shape[1]
            hits += m >= 0.95
        return hits / len(y)

    accepts(check_accuracy95, loop)
    accepts(check_accuracy95, lambda x, a, y: (torch.sign(x) * torch.sign(a[y])).mean(1).ge(0.95).float().mean())


def test_accuracy_rejects_a_strict_inequality():
    def strict(x, att, y):
        return ((torch.sign(x) * torch.sign(att[y])).mean(dim=1) > 0.95).double().mean().item()

    rejects(check_accuracy95, strict, ">= 0.95")


def test_accuracy_rejects_the_fraction_of_agreeing_pixels():
    def agreeing(x, att, y):
        return ((torch.sign(x) == torch.sign(att[y])).double().mean(dim=1) >= 0.95).double().mean().item()

    rejects(check_accuracy95, agreeing, "2 wrong pixels")


def test_accuracy_rejects_the_nearest_attractor():
    rejects(check_accuracy95, lambda x, att, y: (torch.cdist(x, att).argmin(dim=1) == y).double().mean().item(),
            "nearest")


def test_accuracy_rejects_a_count_the_library_and_nan():
    rejects(check_accuracy95, lambda x, att, y: accuracy(x, att, y) * len(y), "number of samples")
    rejects(check_accuracy95, accuracy95, "switched off")
    rejects(check_accuracy95, lambda x, att, y: float("nan"), "NaN")


# ---------------------------------------------------------------------------------- corrupt_pixels


def corrupt(x, eps, g):
    B, N = x.shape
    count = int(eps * N + 1e-9)
    where = torch.rand(B, N, generator=g).argsort(dim=1)[:, :count]
    return x.scatter(1, where, torch.rand(B, count, generator=g, dtype=x.dtype))


def test_corrupt_right_answers_pass():
    accepts(check_corrupt_pixels, corrupt)

    def rowwise(x, eps, g):
        out, count = x.clone(), math.floor(eps * x.shape[1] + 1e-9)
        for row in out:
            where = torch.randperm(x.shape[1], generator=g)[:count]
            row[where] = torch.rand(count, generator=g, dtype=x.dtype)
        return out

    accepts(check_corrupt_pixels, rowwise)


def test_corrupt_rejects_the_same_positions_in_every_row():
    def same_positions(x, eps, g):
        B, N = x.shape
        count = int(eps * N + 1e-9)
        where = torch.randperm(N, generator=g)[:count].expand(B, count)
        return x.scatter(1, where, torch.rand(B, count, generator=g, dtype=x.dtype))

    rejects(check_corrupt_pixels, same_positions, "same pixel positions are replaced in every row")


def test_corrupt_rejects_the_first_pixels():
    def first(x, eps, g):
        count = int(eps * x.shape[1] + 1e-9)
        out = x.clone()
        out[:, :count] = torch.rand(x.shape[0], count, generator=g, dtype=x.dtype)
        return out

    rejects(check_corrupt_pixels, first, "same pixel positions")


def test_corrupt_rejects_a_biased_choice():
    def biased(x, eps, g):  # rows alternate between two fixed sets of positions
        B, N = x.shape
        count = int(eps * N + 1e-9)
        where = torch.stack([torch.arange(count), torch.arange(N - count, N)])[torch.arange(B) % 2]
        return x.scatter(1, where, torch.rand(B, count, generator=g, dtype=x.dtype))

    rejects(check_corrupt_pixels, biased, "probability")


def test_corrupt_rejects_the_same_noise_in_every_row():
    def same_noise(x, eps, g):
        B, N = x.shape
        count = int(eps * N + 1e-9)
        where = torch.rand(B, N, generator=g).argsort(dim=1)[:, :count]
        return x.scatter(1, where, torch.rand(count, generator=g, dtype=x.dtype).expand(B, count))

    rejects(check_corrupt_pixels, same_noise, "same noise")


def test_corrupt_rejects_a_bernoulli_mask():
    def bernoulli(x, eps, g):
        mask = torch.rand(x.shape, generator=g) < eps
        return torch.where(mask, torch.rand(x.shape, generator=g, dtype=x.dtype), x)

    rejects(check_corrupt_pixels, bernoulli, "varies from row to row")


def test_corrupt_rejects_positions_with_replacement():
    def with_replacement(x, eps, g):
        B, N = x.shape
        where = torch.randint(0, N, (B, int(eps * N)), generator=g)
        return x.scatter(1, where, torch.rand(B, int(eps * N), generator=g, dtype=x.dtype))

    rejects(check_corrupt_pixels, with_replacement, "distinct")


def test_corrupt_rejects_rounding_up():
    rejects(check_corrupt_pixels, lambda x, eps, g: corrupt(x, round(eps * x.shape[1]) / x.shape[1], g), "floor")


def test_corrupt_rejects_additive_noise():
    def additive(x, eps, g):
        B, N = x.shape
        count = int(eps * N + 1e-9)
        where = torch.rand(B, N, generator=g).argsort(dim=1)[:, :count]
        return x.scatter_add(1, where, 0.5 * torch.randn(B, count, generator=g, dtype=x.dtype))

    rejects(check_corrupt_pixels, additive, "[0, 1]")


def test_corrupt_rejects_the_global_random_state():
    rejects(check_corrupt_pixels, lambda x, eps, g: corrupt(x, eps, None), "generator")


def test_corrupt_rejects_the_library():
    rejects(check_corrupt_pixels, corrupt_pixels, "switched off")


# ------------------------------------------------------------------------------------------ module


def test_no_reference_is_exported():
    assert all(name.startswith("check_") for name in sa_node.__all__)
    assert not hasattr(sa_node, "_reference_growth")
