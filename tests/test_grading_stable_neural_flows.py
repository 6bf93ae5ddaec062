"""The checkers of the set "Stable Neural Flows": plausible mistakes lose points, right answers written differently do not."""

import math

import numpy as np
import torch

import dyngeo.grading.stable_neural_flows as snf_grading
from dyngeo.grading.stable_neural_flows import (check_gradient_field, check_horizon_gradient, check_langevin_step,
                                                check_max_energy_increase, check_port_hamiltonian_matrix,
                                                check_stationarity_penalty)
from dyngeo.models.snf import NegativeDefinite, StableNeuralFlow, horizon_gradient, stationarity_penalty
from dyngeo.ode import odeint

from checking import accepts, rejects

# ----------------------------------------------------------------------------------- gradient_field


def gradient_field(energy, x, u=None, create_graph=True, reduce="sum", sign=-1.0, enable=True, detach=False):
    with torch.enable_grad() if enable else torch.no_grad():
        if detach or not x.requires_grad:
            x = x.detach().requires_grad_(True)
        e = energy(x, u)
        e = e.sum() if reduce == "sum" else e.mean()
        (g,) = torch.autograd.grad(e, x, create_graph=create_graph)
    return sign * g


def test_gradient_field_right_answers_pass():
    accepts(check_gradient_field, gradient_field)

    def cloned(energy, x, u=None):  # clone keeps the history of an x that requires grad
        with torch.enable_grad():
            x = x.clone().requires_grad_(True)
            return -torch.autograd.grad(energy(x, u), x, torch.ones(len(x), dtype=x.dtype), create_graph=True)[0]

    accepts(check_gradient_field, cloned)


def test_gradient_field_rejects_ascent():
    rejects(check_gradient_field, lambda e, x, u=None: gradient_field(e, x, u, sign=1.0), "sign")


def test_gradient_field_rejects_a_mean_over_the_batch():
    rejects(check_gradient_field, lambda e, x, u=None: gradient_field(e, x, u, reduce="mean"), "sum of the energies")


def test_gradient_field_rejects_a_detached_gradient():
    rejects(check_gradient_field, lambda e, x, u=None: gradient_field(e, x, u, create_graph=False), "create_graph")


def test_gradient_field_rejects_an_always_detached_input():
    rejects(check_gradient_field, lambda e, x, u=None: gradient_field(e, x, u, detach=True), "detach x", "input x")


def test_gradient_field_rejects_failing_under_no_grad():
    rejects(check_gradient_field, lambda e, x, u=None: gradient_field(e, x, u, enable=torch.is_grad_enabled()),
            "no_grad", "enable_grad")


def test_gradient_field_rejects_the_library_nan_and_a_stub():
    rejects(check_gradient_field, lambda e, x, u=None: StableNeuralFlow(e).vector_field(x, u), "switched off")
    rejects(check_gradient_field, lambda e, x, u=None: torch.full_like(x, float("nan")), "NaN", "case")

    def stub(energy, x, u=None):
        raise NotImplementedError()

    rejects(check_gradient_field, stub, "not attempted")


# ------------------------------------------------------------------------------ max_energy_increase


def energies_along(flow, x0, S, steps, method="rk4", points=None):
    points = steps + 1 if points is None else points
    with torch.no_grad():
        t = torch.linspace(0, S, points, dtype=x0.dtype)
        traj = odeint(flow.field(), x0, t, method, step_size=S / steps)
        return flow.energy(traj.reshape(-1, x0.shape[1])).reshape(points, -1)


def max_energy_increase(flow, x0, S, steps):
    e = energies_along(flow, x0, S, steps)
    return (e[1:] - e[:-1]).max().item()


def test_max_energy_increase_right_answers_pass():
    accepts(check_max_energy_increase, max_energy_increase)

    def by_trajectory(flow, x0, S, steps):  # the flow's own solver, a loop over samples, numpy at the end
        with torch.no_grad():
            traj = flow.trajectory(x0, None, torch.linspace(0, S, steps + 1, dtype=x0.dtype), "rk4", S / steps)
            e = np.stack([flow.energy(state).numpy() for state in traj])
        return float(np.diff(e, axis=0).max())

    accepts(check_max_energy_increase, by_trajectory)


def test_max_energy_increase_rejects_the_two_ends_only():
    def ends(flow, x0, S, steps):
        e = energies_along(flow, x0, S, steps)
        return (e[-1] - e[0]).max().item()

    rejects(check_max_energy_increase, ends, "two ends")


def test_max_energy_increase_rejects_the_wrong_axis():
    def across_batch(flow, x0, S, steps):
        e = energies_along(flow, x0, S, steps)
        return (e[:, 1:] - e[:, :-1]).max().item()

    rejects(check_max_energy_increase, across_batch, "across the batch")


def test_max_energy_increase_rejects_a_batch_mean():
    def mean(flow, x0, S, steps):
        e = energies_along(flow, x0, S, steps)
        return (e[1:] - e[:-1]).mean(1).max().item()

    rejects(check_max_energy_increase, mean, "averaged")


def test_max_energy_increase_rejects_euler_and_an_off_by_one_grid():
    rejects(check_max_energy_increase, lambda f, x0, S, n: (lambda e: (e[1:] - e[:-1]).max().item())(
        energies_along(f, x0, S, n, "euler")), "rk4")
    rejects(check_max_energy_increase, lambda f, x0, S, n: (lambda e: (e[1:] - e[:-1]).max().item())(
        energies_along(f, x0, S, n - 1)), "off-by-one")


def test_max_energy_increase_rejects_nan():
    rejects(check_max_energy_increase, lambda f, x0, S, n: float("nan"), "NaN", "case")


# -------------------------------------------------------------------------- port_hamiltonian_matrix


def port_hamiltonian_matrix(L, M, delta):
    return -(L @ L.T + delta * torch.eye(L.shape[0], dtype=L.dtype)) + (M - M.T) / 2


def test_port_hamiltonian_right_answers_pass():
    accepts(check_port_hamiltonian_matrix, port_hamiltonian_matrix)
    accepts(check_port_hamiltonian_matrix, lambda L, M, d: (0.5 * (M - M.T) - L @ L.T).numpy() - d * np.eye(len(L)))
    accepts(check_port_hamiltonian_matrix,  # a float32 δ
            lambda L, M, d: -(L @ L.T) - torch.tensor(d) * torch.eye(len(L), dtype=L.dtype) + (M - M.T) / 2)


def test_port_hamiltonian_rejects_skew_only():
    rejects(check_port_hamiltonian_matrix, lambda L, M, d: (M - M.T) / 2, "only the skew part")


def test_port_hamiltonian_rejects_a_missing_delta():
    rejects(check_port_hamiltonian_matrix, lambda L, M, d: -(L @ L.T) + (M - M.T) / 2, "δI is missing")


def test_port_hamiltonian_rejects_a_missing_skew_part():
    rejects(check_port_hamiltonian_matrix, lambda L, M, d: -(L @ L.T + d * torch.eye(len(L), dtype=L.dtype)), "skew")


def test_port_hamiltonian_rejects_a_transposed_gram_and_a_missing_half():
    rejects(check_port_hamiltonian_matrix,
            lambda L, M, d: -(L.T @ L + d * torch.eye(len(L), dtype=L.dtype)) + (M - M.T) / 2, "LᵀL")
    rejects(check_port_hamiltonian_matrix,
            lambda L, M, d: -(L @ L.T + d * torch.eye(len(L), dtype=L.dtype)) + (M - M.T), "½")


def test_port_hamiltonian_names_the_case():
    message = rejects(check_port_hamiltonian_matrix, lambda L, M, d: -(L @ L.T) + (M - M.T) / 2, seeds=(0,))
    assert "rank-1" in message and "expected" in message and "got" in message


def test_port_hamiltonian_rejects_the_library():
    def library(L, M, d):
        A = NegativeDefinite(len(L), "full", d).to(L.dtype)
        with torch.no_grad():
            A.L.copy_(L), A.M.copy_(M)
        return A().detach()

    rejects(check_port_hamiltonian_matrix, library, "switched off")


# ----------------------------------------------------------------------------- stationarity_penalty


def penalty(flow, x_S, gamma):
    return 0.5 * gamma * flow.vector_field(x_S).square().sum(1).mean()


def test_penalty_right_answers_pass():
    accepts(check_stationarity_penalty, penalty)
    accepts(check_stationarity_penalty, lambda f, x, g: g / 2 * (f.energy_gradient(x) ** 2).sum() / len(x))
    accepts(check_stationarity_penalty, lambda f, x, g: torch.tensor(g / 2) * torch.linalg.vector_norm(
        f.vector_field(x), dim=1).pow(2).mean())  # a float32 constant


def test_penalty_rejects_a_missing_half():
    rejects(check_stationarity_penalty, lambda f, x, g: 2 * penalty(f, x, g), "twice")


def test_penalty_rejects_a_batch_sum():
    rejects(check_stationarity_penalty, lambda f, x, g: len(x) * penalty(f, x, g), "average")


def test_penalty_rejects_the_norm_instead_of_its_square():
    rejects(check_stationarity_penalty, lambda f, x, g: 0.5 * g * f.vector_field(x).norm(dim=1).mean(), "squared")


def test_penalty_rejects_a_mean_over_coordinates():
    rejects(check_stationarity_penalty, lambda f, x, g: 0.5 * g * f.vector_field(x).square().mean(), "coordinates")


def test_penalty_rejects_no_grad_and_floats():
    def under_no_grad(flow, x_S, gamma):
        with torch.no_grad():
            return penalty(flow, x_S, gamma)

    rejects(check_stationarity_penalty, under_no_grad, "no_grad")
    rejects(check_stationarity_penalty, lambda f, x, g: penalty(f, x, g).detach(), "no_grad")
    rejects(check_stationarity_penalty, lambda f, x, g: penalty(f, x, g).item(), "0-dimensional tensor")


def test_penalty_rejects_per_sample_values_the_library_and_nan():
    rejects(check_stationarity_penalty, lambda f, x, g: 0.5 * g * f.vector_field(x).square().sum(1), "one number")
    rejects(check_stationarity_penalty, lambda f, x, g: stationarity_penalty(f, x, gamma=g), "switched off")
    rejects(check_stationarity_penalty, lambda f, x, g: torch.tensor(float("nan")), "NaN")


# --------------------------------------------------------------------------------- horizon_gradient


def horizon(energy, x_S, dl_dxS, sign=-1.0):
    x = x_S.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(energy(x).sum(), x)
    return sign * (dl_dxS * g).sum().item()


def test_horizon_right_answers_pass():
    accepts(check_horizon_gradient, horizon)

    def per_sample(energy, x_S, dl_dxS):  # a loop over samples, a 0-d tensor
        total = torch.zeros((), dtype=x_S.dtype)
        for b in range(len(x_S)):
            x = x_S[b : b + 1].clone().requires_grad_(True)
            (g,) = torch.autograd.grad(energy(x).sum(), x)
            total = total - (dl_dxS[b] * g[0]).sum()
        return total

    accepts(check_horizon_gradient, per_sample)


def test_horizon_agrees_with_a_finite_difference():  # the checker's formula is eq. 24 itself
    torch.manual_seed(0)
    from dyngeo.models.snf import EnergyMLP
    energy = EnergyMLP(2, 0, (8,), "square").double()
    flow, x0, target = StableNeuralFlow(energy), torch.randn(4, 2, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)

    def loss(S):
        xS = odeint(flow.field(), x0, torch.tensor([0.0, S], dtype=torch.float64), "rk4", step_size=S / 200)[-1]
        return 0.5 * (xS - target).square().sum().item(), xS.detach()

    _, xS = loss(0.7)
    numeric = (loss(0.7 + 1e-3)[0] - loss(0.7 - 1e-3)[0]) / 2e-3
    assert abs(horizon(energy, xS, xS - target) - numeric) < 1e-5 * max(1, abs(numeric))


def test_horizon_rejects_a_plus_sign():
    rejects(check_horizon_gradient, lambda e, x, d: horizon(e, x, d, sign=1.0), "sign")


def test_horizon_rejects_the_energy_instead_of_its_gradient():
    rejects(check_horizon_gradient, lambda e, x, d: -(e(x) * d.sum(1)).sum().item(), "energy instead")


def test_horizon_rejects_a_batch_mean():
    rejects(check_horizon_gradient, lambda e, x, d: horizon(e, x, d) / len(x), "sum over it")


def test_horizon_rejects_nan_and_the_library():
    rejects(check_horizon_gradient, lambda e, x, d: float("nan"), "NaN", "case")
    rejects(check_horizon_gradient, lambda e, x, d: horizon_gradient(StableNeuralFlow(e), x, terminal_grad=d),
            "switched off")


# ------------------------------------------------------------------------------------ langevin_step


def langevin_step(x, grad, ds, beta, xi):
    return x - ds * grad(x) + (2 * ds / beta) ** 0.5 * xi


def test_langevin_right_answers_pass():
    accepts(check_langevin_step, langevin_step)
    accepts(check_langevin_step, lambda x, g, ds, b, xi: torch.addcmul(x - ds * g(x), xi, torch.tensor(math.sqrt(2 * ds / b),
                                                                                                         dtype=x.dtype)))


def test_langevin_accepts_a_float32_scalar():  # issue 11: "off by 2.05e-09" used to fail this right answer
    accepts(check_langevin_step, lambda x, g, ds, b, xi: x - ds * g(x) + torch.sqrt(torch.tensor(2 * ds / b)) * xi)


def test_langevin_rejects_a_float32_computation_and_says_dtype():
    rejects(check_langevin_step, lambda x, g, ds, b, xi: langevin_step(x, g, ds, b, xi).float(), "float32",
            "dtype")


def test_langevin_rejects_noise_scaled_by_ds():
    rejects(check_langevin_step, lambda x, g, ds, b, xi: x - ds * g(x) + (2 / b) ** 0.5 * ds * xi, "√Δs")


def test_langevin_rejects_beta_as_a_temperature():
    rejects(check_langevin_step, lambda x, g, ds, b, xi: x - ds * g(x) + (2 * ds * b) ** 0.5 * xi, "inverse temperature")


def test_langevin_rejects_a_missing_factor_two():
    rejects(check_langevin_step, lambda x, g, ds, b, xi: x - ds * g(x) + (ds / b) ** 0.5 * xi, "factor 2")


def test_langevin_rejects_ascent_and_no_noise():
    rejects(check_langevin_step, lambda x, g, ds, b, xi: x + ds * g(x) + (2 * ds / b) ** 0.5 * xi, "sign")
    rejects(check_langevin_step, lambda x, g, ds, b, xi: x - ds * g(x), "noise term is missing")


def test_langevin_rejects_nan():
    rejects(check_langevin_step, lambda x, g, ds, b, xi: x * float("nan"), "NaN")


# ------------------------------------------------------------------------------------------ module


def test_no_reference_is_exported():
    assert all(name.startswith("check_") for name in snf_grading.__all__)
