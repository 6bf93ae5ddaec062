"""``odeint(f, y0, t)``: one entry point for every solver, with torchdiffeq's conventions."""

import torch

from ._checks import check_derivative, check_finite, check_problem
from .adaptive import solve_dopri5
from .fixed import STEPS, solve_fixed

METHODS = (*STEPS, "dopri5")


def odeint(f, y0, t, method="dopri5", *, step_size=None, rtol=1e-7, atol=1e-9, project=None):
    """Solve dy/dt = f(t, y), y(t[0]) = y0, and return y at every time in ``t``.

    Args:
        f: callable ``f(t, y)`` returning a tensor shaped like ``y`` (torchdiffeq's convention).
        y0: initial state, any shape (a batch is just a leading dimension).
        t: 1-D strictly increasing or decreasing times; ``t[0]`` is the initial time.
        method: ``"euler"``, ``"midpoint"``, ``"rk4"`` (fixed step) or ``"dopri5"`` (adaptive).
        step_size: fixed-step methods only: each interval of ``t`` is cut into equal steps of at most
            this length (default: one step per interval, so ``t`` is the grid).
        rtol, atol: tolerances of ``dopri5``.
        project: fixed-step methods only: a map applied to the state after every step (a
            projected scheme, such as a clamp to a box); ``None`` solves the ODE itself.

    Returns:
        A tensor of shape ``[len(t), *y0.shape]``. Gradients flow by backpropagation through every
        step; use :func:`odeint_adjoint` for constant memory. When ``t`` requires grad, the times get
        the gradient of the exact flow at the outputs (as in torchdiffeq): moving ``t_i`` moves
        ``y(t_i)`` by ``f(t_i, y(t_i))``, and moving ``t_0`` shifts the start, which acts on the
        solution like the perturbation ``-f(t_0, y_0)`` of ``y_0``.
    """
    t = check_problem(f, y0, t)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    f = _checked_once(f)
    if t.requires_grad:
        return _with_time_gradient(f, y0, t, method, step_size=step_size, rtol=rtol, atol=atol, project=project)
    if method == "dopri5":
        if step_size is not None or project is not None:
            raise ValueError("step_size and project are for fixed-step methods; dopri5 chooses its own steps")
        ys = solve_dopri5(f, y0, t, rtol=rtol, atol=atol)
    else:
        ys = solve_fixed(STEPS[method], f, y0, t, step_size, project)
    check_finite(ys, t)
    return ys


def _with_time_gradient(f, y0, t, method, **options):
    """Solve with ``t`` detached, then attach dL/dt by zero-valued terms with the right derivatives.

    ``y(t_i; t_0, y_0)`` has ``d/dt_i = f(t_i, y(t_i))`` and ``d/dt_0 = -(dy(t_i)/dy_0) f(t_0, y_0)``
    (Chen et al. 2018, Appendix B.2); ``y(t_0) = y_0`` does not depend on ``t_0``. Adding
    ``(t_0 - t_0.detach()) * (-f_0)`` to ``y_0`` before the solve, and ``(t_i - t_i.detach()) * f_i``
    to each output after it, changes no value and gives autograd exactly these derivatives.
    """
    if options.get("project") is not None:
        raise ValueError("gradients with respect to t are not defined for a projected scheme; pass t without requires_grad")
    td = t.detach()
    shift = t - td  # zero, with derivative one with respect to t
    with torch.no_grad():
        f0 = f(td[0], y0)
    start = y0 - shift[0] * f0
    ys = odeint(f, start, td, method, **options)
    with torch.no_grad():
        fs = torch.stack([f(td[i], ys[i]) for i in range(1, len(td))])
    moved = ys[1:] + shift[1:].view(-1, *[1] * y0.dim()) * fs
    return torch.cat([y0.unsqueeze(0), moved])


def _checked_once(f):
    """Wrap ``f`` so that its first output is checked for shape, dtype and device."""
    first = True

    def checked(t, y):
        nonlocal first
        dy = f(t, y)
        if first:
            check_derivative(dy, y, t)
            first = False
        return dy

    return checked
