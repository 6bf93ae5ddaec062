"""Checkers for the exercise set "Neural ODEs" (``exercises/01-neural-odes``).

Each checker draws its cases from ``seed``, has the answer called through ``ask`` and judges the
plain values that come back (see :mod:`dyngeo.grading`).
"""

import math

import torch

from ..ode import odeint, rk4_step
from . import GradingError, checker, judge

__all__ = ["check_rk4_step", "check_estimate_order", "check_adjoint_linear", "check_train_augmented"]

DT = torch.float64
NO_SOLVERS = ["dyngeo.ode.fixed.rk4_step", "dyngeo.ode.solve.odeint", "dyngeo.ode.fixed.solve_fixed"]
NO_AUTOGRAD = ["torch.autograd.grad", "torch.autograd.backward", "torch.Tensor.backward", "torch.linalg.matrix_exp",
               "torch.matrix_exp", "torch.Tensor.matrix_exp", "dyngeo.ode.adjoint.odeint_adjoint"]

# The test fields, as code the kernel runs: each defines f(t, y) from the inputs sent with it. The
# checker builds the same f here from the same code (_field), so each field is written once.
FIELDS = {
    "linear y' = A y (a batch of 4 states)": "f = lambda t, y: y @ A.T",
    "nonlinear y' = sin(y) - y^3": "f = lambda t, y: torch.sin(y) - y**3",
    "time-dependent y' = cos(t) y": "f = lambda t, y: torch.cos(t) * y",
}


def _field(code, A):
    namespace = {"torch": torch, "A": A}
    exec(code, namespace)
    return namespace["f"]


def _frozen_time_step(f, t, y, dt):
    """RK4 with every stage at time t: what a student gets when the stage times are forgotten."""
    k1 = f(t, y)
    k2 = f(t, y + dt / 2 * k1)
    k3 = f(t, y + dt / 2 * k2)
    k4 = f(t, y + dt * k3)
    return y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


@checker(points=2, target="rk4_step", forbid=NO_SOLVERS)
def check_rk4_step(ask, seed):
    """One classic RK4 step on three fields, then its order of accuracy on y' = t y."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(3, 3, generator=g, dtype=DT)
    shapes = {"linear y' = A y (a batch of 4 states)": (4, 3), "nonlinear y' = sin(y) - y^3": (5, 2),
              "time-dependent y' = cos(t) y": (2,)}
    for name, code in FIELDS.items():
        y = torch.randn(*shapes[name], generator=g, dtype=DT)
        t, dt = 0.5 + torch.rand((), generator=g, dtype=DT), 0.05 + 0.1 * torch.rand((), generator=g).item()
        got = ask(f"{code}\nresult = answer(f, t, y.clone(), dt)", case=name, A=A, y=y, t=t, dt=dt)
        f = _field(code, A)
        expected = rk4_step(f, t, y, dt)
        judge.close(got, expected, "one step", rtol=1e-7, atol=1e-10, case=f"{name}, t = {t.item():.3f}, dt = {dt:.3f}",
                    hints=[(_frozen_time_step(f, t, y, dt), "every stage is evaluated at time t; the middle stages "
                            "are at t + dt/2 and the last at t + dt"),
                           (expected - y, "you returned the increment; return y plus the increment"),
                           (y + dt * f(t, y), "this is an Euler step")])
    # y' = t y, y(0) = 1 has y(1) = exp(1/2): the global error must shrink like dt^4
    finals = ask("y, out = torch.ones(1, dtype=torch.float64), []\n"
                 "for n in (4, 8):\n"
                 "    z = y\n"
                 "    for i in range(n):\n"
                 "        z = answer(lambda t, y: t * y, torch.tensor(i / n, dtype=torch.float64), z, 1 / n)\n"
                 "    out.append(z)\n"
                 "result = out", case="y' = t y from y(0) = 1 to t = 1 in 4 and 8 steps")
    errors = [abs(judge.number(z, "y(1)") - math.exp(0.5)) for z in judge.sequence(finals, "the two solutions", 2)]
    order = math.log2(errors[0] / max(errors[1], 1e-300))
    if abs(order - 4) > 0.5:
        raise GradingError(f"on y' = t y the global error shrinks like dt^{order:.1f} when dt halves, but RK4 is "
                           "fourth order: check the stage times and the weights 1, 2, 2, 1 over 6")


@checker(points=1, target="estimate_order")
def check_estimate_order(ask, seed):
    """Least-squares slope of log(error) against log(step size), on noisy data of known order."""
    g = torch.Generator().manual_seed(seed)
    for p in (1.0, 2.0, 4.0 + torch.rand((), generator=g).item()):
        steps = 0.2 * 0.5 ** torch.arange(5, dtype=DT) * (1 + 0.1 * torch.rand(5, generator=g, dtype=DT))
        errors = 3.0 * steps**p * torch.exp(0.05 * torch.randn(5, generator=g, dtype=DT))
        X = torch.stack([torch.log(steps), torch.ones_like(steps)], 1)
        slope = torch.linalg.lstsq(X, torch.log(errors)[:, None]).solution[0, 0].item()
        swapped = torch.linalg.lstsq(torch.stack([torch.log(errors), torch.ones_like(errors)], 1),
                                     torch.log(steps)[:, None]).solution[0, 0].item()
        two_point = (torch.log(errors[0] / errors[-1]) / torch.log(steps[0] / steps[-1])).item()
        neighbours = (torch.log(errors[0] / errors[1]) / torch.log(steps[0] / steps[1])).item()
        got = ask("answer(errors.clone(), steps.clone())", case=f"data of order {p:.3g}", errors=errors, steps=steps)
        judge.close_number(got, slope, "the order", rtol=1e-6, atol=1e-6, case=f"errors of order {p:.3g}",
                           hints=[(-slope, "the sign is flipped: errors shrink with the step, so the order is positive"),
                                  (swapped, "you regressed log(step) on log(error); regress log(error) on log(step)"),
                                  (1 / swapped, "you inverted the slope of the swapped regression"),
                                  (two_point, "you used only the first and last points; fit all the points by least "
                                   "squares"),
                                  (neighbours, "you used only two points; fit all the points by least squares"),
                                  (slope * math.log(10), "mixed logarithm bases: use the same log on both axes"),
                                  (slope / math.log(10), "mixed logarithm bases: use the same log on both axes")])


@checker(points=3, target="adjoint_linear", forbid=NO_AUTOGRAD)
def check_adjoint_linear(ask, seed):
    """dL/dy0 and dL/dA for y' = A y, L = w . y(T), by the adjoint method (autograd is switched off)."""
    g = torch.Generator().manual_seed(seed)
    for trial in range(3):
        n = 3 + trial % 2
        A = 0.5 * torch.randn(n, n, generator=g, dtype=DT)  # not symmetric: exposes a missing transpose
        y0, w = torch.randn(n, generator=g, dtype=DT), torch.randn(n, generator=g, dtype=DT)
        T = 0.5 + torch.rand((), generator=g).item()
        A_, y0_ = A.clone().requires_grad_(True), y0.clone().requires_grad_(True)
        loss = w @ (torch.linalg.matrix_exp(A_ * T) @ y0_)
        gA, gy0 = torch.autograd.grad(loss, (A_, y0_))
        case = f"a random {n} x {n} matrix A, T = {T:.3f}"
        got = judge.sequence(ask("answer(A.clone(), y0.clone(), T, w.clone())", case=case, A=A, y0=y0, T=T, w=w),
                             "adjoint_linear's result (dL/dy0, dL/dA)", 2)
        judge.close(got[0], gy0, "dL/dy0", rtol=1e-4, atol=1e-5, case=case,
                    hints=[(torch.linalg.matrix_exp(A.T * T).T @ w, "the adjoint runs with +A or without the "
                            "transpose: it solves da/dt = -Aᵀ a backwards from a(T) = w")])
        judge.close(got[1], gA, "dL/dA", rtol=1e-4, atol=1e-5, case=case,
                    hints=[(-gA, "the sign of the integral is flipped (integrating backwards in time reverses it)")])


@checker(points=2, target="train_augmented", time_limit=120)
def check_train_augmented(ask, seed):
    """Learn g(x) = -x on [-1, 1] with an augmented NODE; judged on fresh points held by the grader."""
    g = torch.Generator().manual_seed(seed)
    x = 2 * torch.rand(256, 1, generator=g, dtype=torch.float32) - 1
    info = ask("torch.manual_seed(seed)\n"
               "store['model'] = model = answer(x.clone(), -x)\n"
               "flows = [m for m in model.modules() if type(m).__name__ == 'NeuralODE'] "
               "if isinstance(model, torch.nn.Module) else []\n"
               "result = {'module': isinstance(model, torch.nn.Module), 'type': type(model).__name__,\n"
               "          'augment': [int(m.augment) for m in flows], 'node': type(model).__name__ == 'NeuralODE'}",
               case="training on 256 points of g(x) = -x", x=x, seed=seed)
    if not info["module"]:
        raise GradingError(f"train_augmented should return the trained NeuralODE; got an object of type {info['type']}")
    if not info["node"]:
        raise GradingError("train_augmented should return the NeuralODE itself (its first output coordinate is the "
                           f"prediction), not a {info['type']}: a learned read-out could reverse the line by itself")
    x_test = torch.linspace(-1, 1, 201, dtype=torch.float32)[:, None]
    out = judge.tensor(ask("with torch.no_grad():\n"
                           "    result = store['model'](x_test.to(next(store['model'].parameters()).device)).cpu()",
                           case="predicting on 201 fresh points", x_test=x_test), "the model's output")
    if out.ndim != 2 or out.shape[0] != 201:
        raise GradingError(f"the model should map [B, 1] inputs to [B, 1 + augment] states; got shape {tuple(out.shape)}")
    mse = (out[:, 0] + x_test[:, 0].double()).square().mean().item()
    if mse > 0.02:
        why = (": a flow on the line keeps the order of points, so it cannot reverse them; give the state an extra "
               "dimension with augment=1" if info["augment"] == [0] else ": train longer, or with a larger field")
        raise GradingError(f"the first coordinate of the flowed state misses -x by a mean squared error of {mse:.3f} on "
                           f"fresh points (at most 0.02 is needed){why}")
