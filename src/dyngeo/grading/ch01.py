"""Checkers for the exercises of Chapter 1, Neural ODEs."""

import math

import torch

from ..data import annuli
from ..ode import rk4_step as reference_rk4_step
from . import GradingError, as_tensor, assert_close, checker

__all__ = ["check_rk4_step", "check_estimate_order", "check_adjoint_linear", "check_train_anode"]


def _fields():
    """Test problems (name, f, y, t) for a stepper: autonomous, nonlinear, time-dependent, batched."""
    torch.manual_seed(0)
    A = torch.randn(3, 3, dtype=torch.float64)
    return [
        ("linear y' = A y", lambda t, y: y @ A.T, torch.randn(4, 3, dtype=torch.float64), 0.3),
        ("nonlinear y' = sin(y) - y^3", lambda t, y: torch.sin(y) - y**3, torch.randn(5, 2, dtype=torch.float64), 0.0),
        ("time-dependent y' = cos(t) y", lambda t, y: torch.cos(t) * y, torch.randn(2, dtype=torch.float64), 1.1),
    ]


def _observed_order(step, f, y0, exact, T=1.0):
    errors = []
    for n in (10, 20):
        y, dt = y0, T / n
        for i in range(n):
            y = step(f, torch.tensor(i * dt, dtype=torch.float64), y, dt)
        errors.append((as_tensor(y, "rk4_step(...)") - exact).abs().max().item())
    return math.log2(errors[0] / max(errors[1], 1e-300))


@checker(points=2, target="rk4_step")
def check_rk4_step(rk4_step):
    """One classic RK4 step: same values as the reference, and fourth-order accurate."""
    for name, f, y, t in _fields():
        t, dt = torch.tensor(t, dtype=torch.float64), 0.1
        out = rk4_step(f, t, y, dt)
        assert_close(out, reference_rk4_step(f, t, y, dt), f"one step on {name}", rtol=1e-9, atol=1e-12)
    # y' = t y has y(1) = exp(1/2): a time-dependent problem that exposes a wrong stage time
    f, y0 = (lambda t, y: t * y), torch.ones(1, dtype=torch.float64)
    order = _observed_order(rk4_step, f, y0, torch.tensor([math.exp(0.5)], dtype=torch.float64))
    if abs(order - 4) > 0.5:
        raise GradingError(f"the global error shrinks like dt^{order:.1f}, but RK4 should be fourth order")


@checker(points=1, target="estimate_order")
def check_estimate_order(estimate_order):
    """Least-squares slope of log(error) against log(step size)."""
    g = torch.Generator().manual_seed(1)
    steps = torch.tensor([0.2, 0.1, 0.05, 0.025, 0.0125], dtype=torch.float64)
    for p in (1.0, 2.0, 4.0):
        noise = torch.exp(0.05 * torch.randn(len(steps), generator=g, dtype=torch.float64))
        errors = 3.0 * steps**p * noise
        slope = torch.linalg.lstsq(
            torch.stack([torch.log(steps), torch.ones_like(steps)], 1), torch.log(errors)[:, None]
        ).solution[0, 0].item()
        got = estimate_order(errors.clone(), steps.clone())
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise GradingError(f"estimate_order should return a number; got {type(got).__name__}") from None
        if abs(got - slope) > 1e-6:
            hint = ""
            if abs(got + slope) < 1e-3:
                hint = ": the sign is flipped (errors shrink as the step shrinks, so the order is positive)"
            elif abs(got * slope - 1) < 1e-2:
                hint = ": you regressed log(step) on log(error); regress log(error) on log(step)"
            elif abs(got - slope) < 0.2:
                hint = ": use a least-squares fit over all the points, not just two of them"
            raise GradingError(f"for data of order {p:g} you returned {got:.4f}, expected {slope:.4f}{hint}")


@checker(points=3, target="adjoint_linear")
def check_adjoint_linear(adjoint_linear):
    """dL/dy0 and dL/dA for y' = A y, L = w . y(T), against autograd through the matrix exponential."""
    torch.manual_seed(2)
    for trial in range(3):
        A = 0.5 * torch.randn(3, 3, dtype=torch.float64)  # not symmetric: exposes a missing transpose
        y0, w, T = torch.randn(3, dtype=torch.float64), torch.randn(3, dtype=torch.float64), 1.0 + 0.5 * trial
        A_, y0_ = A.clone().requires_grad_(True), y0.clone().requires_grad_(True)
        loss = w @ (torch.linalg.matrix_exp(A_ * T) @ y0_)
        gA, gy0 = torch.autograd.grad(loss, (A_, y0_))
        out = adjoint_linear(A.clone(), y0.clone(), T, w.clone())
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise GradingError("adjoint_linear should return a pair (dL/dy0, dL/dA)")
        assert_close(out[0], gy0, "dL/dy0", rtol=1e-4, atol=1e-5)
        assert_close(out[1], gA, "dL/dA", rtol=1e-4, atol=1e-5)


@checker(points=2, target="train_anode")
def check_train_anode(train_anode):
    """Train the student's augmented neural ODE on the annuli; it must separate fresh samples."""
    X, y = annuli(512, seed=0)
    torch.manual_seed(0)
    model = train_anode(X, y)
    if not isinstance(model, torch.nn.Module):
        raise GradingError(f"train_anode should return a torch.nn.Module; got {type(model).__name__}")
    flows = [m for m in model.modules() if hasattr(m, "augment") and hasattr(m, "trajectory")]
    if not flows:
        raise GradingError("the model should contain a dyngeo.models.NeuralODE")
    if not any(m.augment > 0 for m in flows):
        raise GradingError("its NeuralODE has augment=0: a flow in the plane cannot separate the annuli")
    X_test, y_test = annuli(1000, seed=12345)
    with torch.no_grad():
        logits = model(X_test.to(next(model.parameters()).device)).cpu()
    if logits.shape != (1000, 2):
        raise GradingError(f"the model should map [B, 2] inputs to [B, 2] logits; got shape {tuple(logits.shape)}")
    acc = (logits.argmax(1) == y_test).float().mean().item()
    if acc < 0.95:
        raise GradingError(f"test accuracy {acc:.1%} on fresh annuli; it should reach at least 95%")
