"""Each checker of Chapter 3 accepts the reference answer and rejects plausible wrong ones."""

import torch

from dyngeo.grading import run_check
from dyngeo.grading.ch03 import (
    check_gradient_field,
    check_horizon_gradient,
    check_langevin_step,
    check_max_energy_increase,
    check_port_hamiltonian_matrix,
    check_stationarity_penalty,
)
from dyngeo.ode import odeint

from checking import rejects


# ----------------------------------------------------------------------------------- gradient_field


def gradient_field(energy, x, u=None, create_graph=True, reduce="sum", sign=-1.0, enable=True):
    with torch.enable_grad() if enable else torch.no_grad():
        if not x.requires_grad:
            x = x.detach().requires_grad_(True)
        e = energy(x, u)
        e = e.sum() if reduce == "sum" else e.mean()
        (g,) = torch.autograd.grad(e, x, create_graph=create_graph)
    return sign * g


def test_gradient_field_reference_passes():
    assert run_check(check_gradient_field, gradient_field) == (True, "passed")


def test_gradient_field_rejects_ascent():
    rejects(check_gradient_field, lambda e, x, u=None: gradient_field(e, x, u, sign=1.0), "wrong sign")


def test_gradient_field_rejects_mean_over_batch():
    rejects(check_gradient_field, lambda e, x, u=None: gradient_field(e, x, u, reduce="mean"), "sum the energies")


def test_gradient_field_rejects_a_detached_gradient():
    rejects(check_gradient_field, lambda e, x, u=None: gradient_field(e, x, u, create_graph=False), "create_graph")


def test_gradient_field_rejects_failing_under_no_grad():
    rejects(check_gradient_field, lambda e, x, u=None: gradient_field(e, x, u, enable=torch.is_grad_enabled()),
            "no_grad")


def test_gradient_field_reports_a_stub():
    def stub(energy, x, u=None):
        raise NotImplementedError()

    assert run_check(check_gradient_field, stub) == (False, "not attempted yet (the code still raises NotImplementedError)")


# ------------------------------------------------------------------------------ max_energy_increase


def energies_along(flow, x0, S, steps):
    with torch.no_grad():
        t = torch.linspace(0, S, steps + 1, dtype=x0.dtype)
        traj = odeint(flow.field(), x0, t, "rk4", step_size=S / steps)
        return flow.energy(traj.reshape(-1, x0.shape[1])).reshape(steps + 1, -1)


def max_energy_increase(flow, x0, S, steps):
    e = energies_along(flow, x0, S, steps)
    return (e[1:] - e[:-1]).max().item()


def test_max_energy_increase_reference_passes():
    assert run_check(check_max_energy_increase, max_energy_increase) == (True, "passed")


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


# -------------------------------------------------------------------------- port_hamiltonian_matrix


def port_hamiltonian_matrix(L, M, delta):
    return -(L @ L.T + delta * torch.eye(L.shape[0], dtype=L.dtype)) + (M - M.T) / 2


def test_port_hamiltonian_reference_passes():
    assert run_check(check_port_hamiltonian_matrix, port_hamiltonian_matrix) == (True, "passed")


def test_port_hamiltonian_rejects_skew_only():
    rejects(check_port_hamiltonian_matrix, lambda L, M, d: (M - M.T) / 2, "eigenvalue")


def test_port_hamiltonian_rejects_a_missing_delta():
    rejects(check_port_hamiltonian_matrix, lambda L, M, d: -(L @ L.T) + (M - M.T) / 2, "rank-1")


def test_port_hamiltonian_rejects_a_missing_skew_part():
    rejects(check_port_hamiltonian_matrix, lambda L, M, d: -(L @ L.T + d * torch.eye(3, dtype=L.dtype)), "skew")


# ----------------------------------------------------------------------------- stationarity_penalty


def stationarity_penalty(flow, x_S, gamma):
    return 0.5 * gamma * flow.vector_field(x_S).square().sum(1).mean()


def test_penalty_reference_passes():
    assert run_check(check_stationarity_penalty, stationarity_penalty) == (True, "passed")


def test_penalty_rejects_a_missing_half():
    rejects(check_stationarity_penalty, lambda f, x, g: 2 * stationarity_penalty(f, x, g), "twice")


def test_penalty_rejects_a_batch_sum():
    rejects(check_stationarity_penalty, lambda f, x, g: len(x) * stationarity_penalty(f, x, g), "average")


def test_penalty_rejects_the_norm_instead_of_its_square():
    rejects(check_stationarity_penalty, lambda f, x, g: 0.5 * g * f.vector_field(x).norm(dim=1).mean(), "squared")


# --------------------------------------------------------------------------------- horizon_gradient


def horizon_gradient(energy, x_S, dl_dxS, sign=-1.0):
    x = x_S.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(energy(x).sum(), x)
    return sign * (dl_dxS * g).sum().item()


def test_horizon_reference_passes():
    assert run_check(check_horizon_gradient, horizon_gradient) == (True, "passed")


def test_horizon_rejects_a_plus_sign():
    rejects(check_horizon_gradient, lambda e, x, d: horizon_gradient(e, x, d, sign=1.0), "wrong sign")


def test_horizon_rejects_the_energy_instead_of_its_gradient():
    rejects(check_horizon_gradient, lambda e, x, d: -(e(x) * d.sum(1)).sum().item(), "finite difference")


# ------------------------------------------------------------------------------------ langevin_step


def langevin_step(x, grad, ds, beta, xi):
    return x - ds * grad(x) + (2 * ds / beta) ** 0.5 * xi


def test_langevin_reference_passes():
    assert run_check(check_langevin_step, langevin_step) == (True, "passed")


def test_langevin_rejects_noise_scaled_by_ds():
    rejects(check_langevin_step, lambda x, g, ds, b, xi: x - ds * g(x) + (2 / b) ** 0.5 * ds * xi, "√Δs")


def test_langevin_rejects_beta_as_a_temperature():
    rejects(check_langevin_step, lambda x, g, ds, b, xi: x - ds * g(x) + (2 * ds * b) ** 0.5 * xi, "inverse temperature")


def test_langevin_rejects_a_missing_factor_two():
    rejects(check_langevin_step, lambda x, g, ds, b, xi: x - ds * g(x) + (ds / b) ** 0.5 * xi, "off by")
