"""The checkers of the set "Neural ODEs": plausible mistakes lose points, right answers written differently do not."""

import numpy as np
import pytest
import torch

from dyngeo.grading.neural_odes import (check_adjoint_linear, check_estimate_order, check_rk4_step,
                                        check_train_augmented)
from dyngeo.models import MLPField, NeuralODE
from dyngeo.ode import odeint, odeint_adjoint, rk4_step
from dyngeo.train import fit

from checking import accepts, rejects

# ---------------------------------------------------------------------------------------- rk4_step


def rk4(f, t, y, dt):
    k1 = f(t, y)
    k2 = f(t + dt / 2, y + dt / 2 * k1)
    k3 = f(t + dt / 2, y + dt / 2 * k2)
    k4 = f(t + dt, y + dt * k3)
    return y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def test_rk4_right_answers_pass():
    accepts(check_rk4_step, rk4)

    def fused(f, t, y, dt):  # the same method written with torch.add and a loop over the stages
        ks, z = [], y
        for c in (0.0, 0.5, 0.5, 1.0):
            z = y if c == 0 else torch.add(y, ks[-1], alpha=c * dt)
            ks.append(f(t + c * dt, z))
        return y + (ks[0] + 2 * ks[1] + 2 * ks[2] + ks[3]) * (dt / 6)

    accepts(check_rk4_step, fused)


def test_rk4_rejects_euler():
    rejects(check_rk4_step, lambda f, t, y, dt: y + dt * f(t, y), "Euler step")


def test_rk4_rejects_equal_weights():
    def quarter_weights(f, t, y, dt):
        k1 = f(t, y)
        k2 = f(t + dt / 2, y + dt / 2 * k1)
        k3 = f(t + dt / 2, y + dt / 2 * k2)
        k4 = f(t + dt, y + dt * k3)
        return y + dt / 4 * (k1 + k2 + k3 + k4)

    rejects(check_rk4_step, quarter_weights, "off by", "expected")


def test_rk4_rejects_stages_at_the_wrong_time():
    def frozen_time(f, t, y, dt):
        k1 = f(t, y)
        k2 = f(t, y + dt / 2 * k1)
        k3 = f(t, y + dt / 2 * k2)
        k4 = f(t, y + dt * k3)
        return y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

    rejects(check_rk4_step, frozen_time, "time-dependent", "stage")


def test_rk4_rejects_the_increment():
    rejects(check_rk4_step, lambda f, t, y, dt: rk4(f, t, y, dt) - y, "increment")


def test_rk4_accepts_a_float32_step_size():  # torch.tensor(dt) is float32: a rounding, not a mistake
    accepts(check_rk4_step, lambda f, t, y, dt: rk4(f, t, y, torch.tensor(dt)))


def test_rk4_rejects_the_library_and_nan():
    rejects(check_rk4_step, rk4_step, "switched off")
    rejects(check_rk4_step, lambda f, t, y, dt: odeint(f, y, torch.stack([t, t + dt]), "rk4", step_size=dt)[-1],
            "switched off")
    rejects(check_rk4_step, lambda f, t, y, dt: torch.full_like(y, float("nan")), "NaN")


def test_rk4_reports_a_stub():
    def stub(f, t, y, dt):
        raise NotImplementedError()

    rejects(check_rk4_step, stub, "not attempted")


# ---------------------------------------------------------------------------------- estimate_order


def least_squares(errors, steps):
    X = torch.stack([torch.log(steps), torch.ones_like(steps)], dim=1)
    return torch.linalg.lstsq(X, torch.log(errors)[:, None]).solution[0, 0].item()


def test_order_right_answers_pass():
    accepts(check_estimate_order, least_squares)
    accepts(check_estimate_order, lambda e, h: np.polyfit(np.log10(h.numpy()), np.log10(e.numpy()), 1)[0])
    accepts(check_estimate_order, lambda e, h: torch.tensor(least_squares(e, h)))  # a 0-d tensor is a number


def test_order_rejects_flipped_sign():
    rejects(check_estimate_order, lambda e, h: -least_squares(e, h), "sign")


def test_order_rejects_swapped_regression():
    rejects(check_estimate_order, lambda e, h: least_squares(h, e), "regress")


def test_order_rejects_two_point_estimates():
    rejects(check_estimate_order, lambda e, h: (torch.log(e[0] / e[-1]) / torch.log(h[0] / h[-1])).item(), "least squares")
    rejects(check_estimate_order, lambda e, h: (torch.log(e[0] / e[1]) / torch.log(h[0] / h[1])).item(), "least squares")


def test_order_rejects_mixed_log_bases():
    rejects(check_estimate_order, lambda e, h: np.polyfit(np.log(h.numpy()), np.log10(e.numpy()), 1)[0], "bases")


def test_order_rejects_nan_and_non_numbers():
    rejects(check_estimate_order, lambda e, h: float("nan"), "NaN")
    rejects(check_estimate_order, lambda e, h: float("inf"), "infinity")
    rejects(check_estimate_order, lambda e, h: "4", "should be a number")
    rejects(check_estimate_order, lambda e, h: torch.tensor([1.0, 2.0]), "single number")


# ---------------------------------------------------------------------------------- adjoint_linear


def adjoint(A, y0, T, w, flip_sign=False, transpose=True):
    n = len(y0)
    times = torch.tensor([0.0, T], dtype=y0.dtype)
    yT = odeint(lambda t, y: A @ y, y0, times, "rk4", step_size=0.01)[-1]
    M = A.T if transpose else A

    def backwards(t, z):
        y, a = z[:n], z[n: 2 * n]
        return torch.cat([A @ y, -M @ a, (1 if flip_sign else -1) * torch.outer(a, y).reshape(-1)])

    z = torch.cat([yT, w, torch.zeros(n * n, dtype=y0.dtype)])
    z = odeint(backwards, z, times.flip(0), "rk4", step_size=0.01)[-1]
    return z[n: 2 * n], z[2 * n:].reshape(n, n)


def test_adjoint_right_answers_pass():
    accepts(check_adjoint_linear, adjoint)
    accepts(check_adjoint_linear, lambda A, y0, T, w: list(adjoint(A, y0, T, w)))  # a list is a pair too


def test_adjoint_rejects_a_missing_transpose():
    rejects(check_adjoint_linear, lambda A, y0, T, w: adjoint(A, y0, T, w, transpose=False), "dL/dy0", "transpose")


def test_adjoint_rejects_a_flipped_integral():
    rejects(check_adjoint_linear, lambda A, y0, T, w: adjoint(A, y0, T, w, flip_sign=True), "dL/dA", "sign")


def test_adjoint_rejects_autograd_instead_of_the_adjoint():
    def by_matrix_exp(A, y0, T, w):
        A_, y0_ = A.clone().requires_grad_(True), y0.clone().requires_grad_(True)
        loss = w @ (torch.linalg.matrix_exp(A_ * T) @ y0_)
        return torch.autograd.grad(loss, (y0_, A_))

    def by_backprop_through_the_solver(A, y0, T, w):
        A_, y0_ = A.clone().requires_grad_(True), y0.clone().requires_grad_(True)
        yT = odeint(lambda t, y: A_ @ y, y0_, torch.tensor([0.0, T], dtype=A.dtype), "rk4", step_size=0.01)[-1]
        (w @ yT).backward()
        return y0_.grad, A_.grad

    rejects(check_adjoint_linear, by_matrix_exp, "switched off")
    rejects(check_adjoint_linear, by_backprop_through_the_solver, "switched off")


def test_adjoint_rejects_a_single_output():
    rejects(check_adjoint_linear, lambda A, y0, T, w: adjoint(A, y0, T, w)[0], "2 items")


# ---------------------------------------------------------------------------------- train_augmented


def train(x, y, augment=1, steps=300):
    model = NeuralODE(MLPField(1 + augment, hidden=32), t_span=(0.0, 1.0), method="rk4", step_size=0.25,
                      augment=augment)
    fit(model, lambda m: (m(x)[:, :1] - y).square().mean(), steps=steps, lr=1e-2)
    return model


def test_augmented_right_answer_passes():
    accepts(check_train_augmented, train, seeds=(0, 5))


def test_augmented_rejects_a_plain_node():
    rejects(check_train_augmented, lambda x, y: train(x, y, augment=0), "augment=1", seeds=(0,))


def test_augmented_rejects_a_readout_layer():
    readout = lambda x, y: torch.nn.Sequential(train(x, y, steps=1), torch.nn.Linear(2, 1))
    rejects(check_train_augmented, readout, "NeuralODE itself", seeds=(0,))


def test_augmented_rejects_an_untrained_model():
    rejects(check_train_augmented, lambda x, y: train(x, y, steps=0), "mean squared error", seeds=(0,))


@pytest.mark.parametrize("bad", [None, "model"])
def test_augmented_rejects_non_models(bad):
    rejects(check_train_augmented, lambda x, y: bad, "should return the trained NeuralODE", seeds=(0,))


def test_feedback_names_the_case():
    message = rejects(check_rk4_step, lambda f, t, y, dt: y + dt * f(t, y), seeds=(0,))
    assert "linear y' = A y" in message and "expected" in message and "got" in message
