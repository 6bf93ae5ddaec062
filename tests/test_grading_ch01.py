"""Each checker of Chapter 1 accepts the reference answer and rejects plausible wrong ones."""

import torch

from dyngeo.grading import run_check
from dyngeo.grading.ch01 import check_adjoint_linear, check_estimate_order, check_rk4_step, check_train_anode
from dyngeo.models import MLPField, NeuralODE
from dyngeo.ode import euler_step, odeint, rk4_step
from dyngeo.train import fit

from checking import rejects


# ---------------------------------------------------------------------------------------- rk4_step


def test_rk4_reference_passes():
    assert run_check(check_rk4_step, rk4_step) == (True, "passed")


def test_rk4_rejects_euler():
    rejects(check_rk4_step, euler_step, "off by")


def test_rk4_rejects_equal_weights():
    def quarter_weights(f, t, y, dt):
        k1 = f(t, y)
        k2 = f(t + dt / 2, y + dt / 2 * k1)
        k3 = f(t + dt / 2, y + dt / 2 * k2)
        k4 = f(t + dt, y + dt * k3)
        return y + dt / 4 * (k1 + k2 + k3 + k4)

    rejects(check_rk4_step, quarter_weights, "off by")


def test_rk4_rejects_stages_at_the_wrong_time():
    def frozen_time(f, t, y, dt):  # every stage evaluated at t: right for autonomous f only
        k1 = f(t, y)
        k2 = f(t, y + dt / 2 * k1)
        k3 = f(t, y + dt / 2 * k2)
        k4 = f(t, y + dt * k3)
        return y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

    rejects(check_rk4_step, frozen_time, "time-dependent")


def test_rk4_rejects_returning_the_increment():
    rejects(check_rk4_step, lambda f, t, y, dt: rk4_step(f, t, y, dt) - y, "off by")


def test_rk4_reports_a_stub():
    def stub(f, t, y, dt):
        raise NotImplementedError()

    rejects(check_rk4_step, stub, "not attempted")


# ---------------------------------------------------------------------------------- estimate_order


def least_squares(errors, steps):
    X = torch.stack([torch.log(steps), torch.ones_like(steps)], dim=1)
    return torch.linalg.lstsq(X, torch.log(errors)[:, None]).solution[0, 0].item()


def test_order_reference_passes():
    assert run_check(check_estimate_order, least_squares)[0]


def test_order_rejects_flipped_sign():
    rejects(check_estimate_order, lambda e, h: -least_squares(e, h), "sign")


def test_order_rejects_swapped_regression():
    rejects(check_estimate_order, lambda e, h: least_squares(h, e), "regress")


def test_order_rejects_two_point_estimate():
    two_points = lambda e, h: (torch.log(e[0] / e[1]) / torch.log(h[0] / h[1])).item()
    rejects(check_estimate_order, two_points, "least-squares")


# ---------------------------------------------------------------------------------- adjoint_linear


def adjoint(A, y0, T, w, sign=1.0, transpose=True):
    n = len(y0)
    times = torch.tensor([0.0, T], dtype=y0.dtype)
    yT = odeint(lambda t, y: A @ y, y0, times, "rk4", step_size=0.01)[-1]
    At = A.T if transpose else A

    def backwards(t, z):
        y, a = z[:n], z[n : 2 * n]
        return torch.cat([A @ y, -sign * At @ a, -torch.outer(a, y).reshape(-1)])

    z = torch.cat([yT, w, torch.zeros(n * n, dtype=y0.dtype)])
    z = odeint(backwards, z, times.flip(0), "rk4", step_size=0.01)[-1]
    return z[n : 2 * n], z[2 * n :].reshape(n, n)


def test_adjoint_reference_passes():
    assert run_check(check_adjoint_linear, adjoint)[0]


def test_adjoint_rejects_sign_error():
    rejects(check_adjoint_linear, lambda *a: adjoint(*a, sign=-1.0), "dL/dy0")


def test_adjoint_rejects_missing_transpose():
    rejects(check_adjoint_linear, lambda *a: adjoint(*a, transpose=False), "off by")


def test_adjoint_rejects_transposed_parameter_gradient():
    rejects(check_adjoint_linear, lambda *a: (adjoint(*a)[0], adjoint(*a)[1].T), "dL/dA")


def test_adjoint_rejects_a_single_tensor():
    rejects(check_adjoint_linear, lambda *a: adjoint(*a)[0], "pair")


# ------------------------------------------------------------------------------------- train_anode


def train(X, y, augment):
    model = torch.nn.Sequential(
        NeuralODE(MLPField(2 + augment, hidden=32), method="rk4", step_size=0.25, augment=augment),
        torch.nn.Linear(2 + augment, 2),
    )
    fit(model, lambda m: torch.nn.functional.cross_entropy(m(X), y), steps=300, lr=1e-2)
    return model


def test_anode_reference_passes():
    assert run_check(check_train_anode, lambda X, y: train(X, y, augment=1))[0]


def test_anode_rejects_a_plain_node():
    rejects(check_train_anode, lambda X, y: train(X, y, augment=0), "augment=0")


def test_anode_rejects_an_untrained_model():
    untrained = lambda X, y: torch.nn.Sequential(NeuralODE(MLPField(3), augment=1), torch.nn.Linear(3, 2))
    rejects(check_train_anode, untrained, "accuracy")


def test_anode_rejects_an_mlp():
    mlp = lambda X, y: torch.nn.Sequential(torch.nn.Linear(2, 2))
    rejects(check_train_anode, mlp, "NeuralODE")
