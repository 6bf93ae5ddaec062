"""Fixed-step explicit Runge--Kutta solvers (Euler, midpoint, classic RK4).

Each ``*_step(f, t, y, dt)`` advances ``y`` from ``t`` to ``t + dt`` once. ``solve_fixed`` applies a
step repeatedly on a grid that contains every requested output time, so no interpolation is needed.
"""

import math

import torch


def euler_step(f, t, y, dt):
    """Forward Euler: y + dt f(t, y). Local error O(dt^2), global O(dt)."""
    return _euler(f, t, None, None, y, dt)


def midpoint_step(f, t, y, dt):
    """Explicit midpoint: y + dt f(t + dt/2, y + dt/2 f(t, y)). Global error O(dt^2)."""
    return _midpoint(f, t, t + dt / 2, None, y, dt)


def rk4_step(f, t, y, dt):
    """Classic fourth-order Runge--Kutta (weights 1/6, 1/3, 1/3, 1/6). Global error O(dt^4)."""
    return _rk4(f, t, t + dt / 2, t + dt, y, dt)


def _axpy(y, k, a):
    """``y + a k`` in one fused op when ``a`` is a number; a tensor ``a`` (a differentiable step) keeps
    the two-op form so that its gradient flows."""
    if isinstance(a, torch.Tensor):
        return y + a * k
    return torch.add(y, k, alpha=a)


# The same three schemes with their stage times given (``t0``, ``t0 + dt/2``, ``t0 + dt``), so that a
# solve precomputes every time once and each step is only the calls of f and fused updates
# ``torch.add(y, k, alpha=h)``, one autograd node each, with no temporaries for ``h * k``.


def _euler(f, t0, tm, t1, y, dt):
    return _axpy(y, f(t0, y), dt)


def _midpoint(f, t0, tm, t1, y, dt):
    k1 = f(t0, y)
    return _axpy(y, f(tm, _axpy(y, k1, dt / 2)), dt)


def _rk4(f, t0, tm, t1, y, dt):
    half = dt / 2
    k1 = f(t0, y)
    k2 = f(tm, _axpy(y, k1, half))
    k3 = f(tm, _axpy(y, k2, half))
    k4 = f(t1, _axpy(y, k3, dt))
    s = torch.add(k1, k2, alpha=2)
    s.add_(k3, alpha=2).add_(k4)  # in place on a fresh sum: autograd's add keeps no operands
    return _axpy(y, s, dt / 6)


STEPS = {"euler": euler_step, "midpoint": midpoint_step, "rk4": rk4_step}
_GRID_STEPS = {euler_step: _euler, midpoint_step: _midpoint, rk4_step: _rk4}


def time_grid(t, step_size):
    """The integration grid: each interval of ``t`` cut into equal steps no longer than ``step_size``.

    Returns the grid (a tensor on ``t``'s device) and the index in it of every output time.
    """
    times = t.tolist()
    if step_size is None:
        return t, list(range(len(times)))
    if step_size <= 0:
        raise ValueError(f"step_size must be positive; got {step_size}")
    grid, where = [times[0]], [0]
    for a, b in zip(times[:-1], times[1:]):
        n = max(1, math.ceil(abs(b - a) / step_size - 1e-9))
        grid.extend(a + (b - a) * k / n for k in range(1, n + 1))
        where.append(len(grid) - 1)
    return torch.tensor(grid, dtype=t.dtype, device=t.device), where


def solve_fixed(step, f, y0, t, step_size=None, project=None):
    """Integrate with a fixed-step method; return the states at the times ``t`` stacked on dim 0.

    ``project``, if given, maps the state after every step (a projected scheme, e.g. a clamp to a
    box): the result is then that scheme's, no longer an approximation of the ODE's solution."""
    grid, where = time_grid(t, step_size)
    dts = (grid[1:] - grid[:-1]).tolist()
    grid_step = _GRID_STEPS.get(step)
    if grid_step is None:  # a step function from outside: call it as step(f, t, y, dt)
        starts, mids, ends = grid[:-1].unbind(), [None] * len(dts), [None] * len(dts)
        grid_step = lambda f, t0, tm, t1, y, dt: step(f, t0, y, dt)  # noqa: E731
    else:
        starts, mids, ends = grid[:-1].unbind(), ((grid[:-1] + grid[1:]) / 2).unbind(), grid[1:].unbind()
    keep = [False] * (len(dts) + 1)
    for i in where:
        keep[i] = True
    ys, y = [y0], y0
    for i, dt in enumerate(dts):
        y = grid_step(f, starts[i], mids[i], ends[i], y, dt)
        if project is not None:
            y = project(y)
        if keep[i + 1]:
            ys.append(y)
    return torch.stack(ys)
