"""Dormand--Prince 5(4) with embedded error control and dense output (``dopri5``).

One step size serves the whole batch (the error norm is the RMS over every element, as in
torchdiffeq). The solver steps freely through the requested output times and reads the solution
at each of them from the method's continuous extension, a quartic in the step fraction built from
the seven stages the step already computed (Hairer, Norsett & Wanner, Solving ODEs I, Sec. II.6,
the coefficients of their code ``dopri5``). Only the last output time shortens a step, so that
``f`` is never evaluated beyond the interval asked for.

The step-size controller (Hairer et al., Sec. II.4, eqs. 4.11-4.13):

* error estimate ``err = h * sum_i (b_i - b*_i) k_i``, the difference of the fifth- and
  fourth-order solutions of the embedded pair;
* error ratio ``r = RMS(err / (atol + rtol * max(|y_n|, |y_{n+1}|)))``, the step is accepted
  when ``r <= 1`` and otherwise redone from the same point;
* next step ``h * min(10, max(0.2, 0.9 * r ** (-1/5)))``: safety factor 0.9, growth at most 10x,
  shrinkage at most 5x, after acceptance and rejection alike.
"""

import torch

from ._checks import check_derivative

# Butcher tableau of Dormand & Prince (1980).
_C = [0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0]
_A = [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
    [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
]
_B5 = _A[6] + [0.0]  # fifth-order weights (the last stage is FSAL)
_B4 = [5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40]
_E = [b5 - b4 for b5, b4 in zip(_B5, _B4)]
# Dense output: the fourth-order continuous extension of Hairer et al.'s dopri5 (their d_i).
_D = [-12715105075 / 11282082432, 0.0, 87487479700 / 32700410799, -10690763975 / 1880347072,
      701980252875 / 199316789632, -1453857185 / 822651844, 69997945 / 29380423]


def _combine(y, dt, coefficients, k):
    """``y + dt * sum_j a_j k_j`` with one fused add per nonzero coefficient."""
    out = y
    for a, kj in zip(coefficients, k):
        if a != 0.0:
            out = out + (dt * a) * kj if isinstance(dt, torch.Tensor) else torch.add(out, kj, alpha=dt * a)
    return out


def _stages(f, t, y, dt, k1):
    """The seven stages of one step from ``(t, y)``; the last is ``f`` at the new solution."""
    k = [k1]
    for i in range(1, 7):
        yi = _combine(y, dt, _A[i], k)
        k.append(f(t + _C[i] * dt, yi))
    return yi, k  # stage 7 is evaluated at the fifth-order solution


def dopri5_step(f, t, y, dt, k1):
    """One Dormand--Prince step. Returns (y_next, error_estimate, f(t + dt, y_next))."""
    y_next, k = _stages(f, t, y, dt, k1)
    with torch.no_grad():
        err = _combine(torch.zeros_like(y), dt, _E, k)
    return y_next, err, k[6]


def dense_coefficients(y, y_next, k, dt):
    """The continuous extension of one step (Hairer et al.'s ``rcont1..5``).

    ``dense_evaluate(coefficients, theta)`` then gives the fourth-order solution at ``t + theta dt``,
    equal to ``y`` at theta = 0 and to ``y_next`` at theta = 1, with the right slopes at both ends.
    """
    r2 = y_next - y
    r3 = dt * k[0] - r2
    r4 = r2 - r3 - dt * k[6]
    r5 = _combine(torch.zeros_like(y), dt, _D, k)
    return y, r2, r3, r4, r5


def dense_evaluate(coefficients, theta):
    """``y + theta (r2 + (1-theta) (r3 + theta (r4 + (1-theta) r5))))``."""
    r1, r2, r3, r4, r5 = coefficients
    inner = torch.add(r4, r5, alpha=1 - theta)
    inner = torch.add(r3, inner, alpha=theta)
    inner = torch.add(r2, inner, alpha=1 - theta)
    return torch.add(r1, inner, alpha=theta)


def _rms(x):
    return float(x.detach().pow(2).mean().sqrt())


def _error_ratio(err, y, y_next, rtol, atol):
    with torch.no_grad():
        return _rms(err / (atol + rtol * torch.maximum(y.abs(), y_next.abs())))


def _initial_step(f, t0, y0, f0, rtol, atol):
    """Hairer, Norsett & Wanner, Solving ODEs I, Sec. II.4: a first guess of the step size."""
    with torch.no_grad():
        scale = atol + rtol * y0.abs()
        d0, d1 = _rms(y0 / scale), _rms(f0 / scale)
        h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
        f1 = f(t0 + h0, y0 + h0 * f0)
        d2 = _rms((f1 - f0) / scale) / h0
    h1 = max(1e-6, h0 * 1e-3) if max(d1, d2) <= 1e-15 else (0.01 / max(d1, d2)) ** (1 / 5)
    return min(100 * h0, h1)


def solve_dopri5(f, y0, t, rtol=1e-7, atol=1e-9, max_steps=100_000, min_step=None):
    """Integrate adaptively; return the states at the times ``t`` stacked on dim 0.

    Accepted steps ignore the intermediate output times; each of them is read from the dense output
    of the step that contains it, so many output times cost no extra evaluations of ``f``.
    """
    direction = 1.0 if float(t[-1]) > float(t[0]) else -1.0
    times = t.tolist()
    t_end = times[-1]
    tcur, y = times[0], y0
    k1 = f(t[0], y0)
    check_derivative(k1, y0, t[0])
    dt = _initial_step(f, t[0], y0, k1, rtol, atol)
    min_step = min_step if min_step is not None else 1e-12 * max(1.0, abs(times[-1] - times[0]))
    ys, nxt, steps = [y0], 1, 0
    while nxt < len(times):
        remaining = abs(t_end - tcur)
        last = dt >= remaining
        h = remaining if last else dt
        tt = torch.tensor(tcur, dtype=t.dtype, device=t.device)
        y_next, k = _stages(f, tt, y, direction * h, k1)
        with torch.no_grad():
            err = _combine(torch.zeros_like(y), direction * h, _E, k)
        ratio = _error_ratio(err, y, y_next, rtol, atol)
        if ratio != ratio or ratio == float("inf"):
            raise FloatingPointError(
                f"dopri5: the error estimate became NaN or infinite at t={tcur:.6g}; "
                "the vector field may have produced NaN"
            )
        accepted = ratio <= 1.0
        if accepted:
            tnew = t_end if last else tcur + direction * h
            end = nxt
            while end < len(times) and direction * (times[end] - tnew) <= 0:
                end += 1
            if end > nxt:
                coefficients = None
                for i in range(nxt, end):
                    if times[i] == tnew:
                        ys.append(y_next)
                        continue
                    if coefficients is None:
                        coefficients = dense_coefficients(y, y_next, k, direction * h)
                    ys.append(dense_evaluate(coefficients, (times[i] - tcur) / (tnew - tcur)))
                nxt = end
            tcur, y, k1 = tnew, y_next, k[6]
        factor = 10.0 if ratio == 0 else min(10.0, max(0.2, 0.9 * ratio ** (-1 / 5)))
        dt = h * factor
        steps += 1
        if dt < min_step and nxt < len(times):
            raise RuntimeError(
                f"dopri5: step size underflow at t={tcur:.6g} (dt={dt:.3g} < {min_step:.3g}); "
                "the problem may be stiff or the vector field singular"
            )
        if steps > max_steps:
            raise RuntimeError(f"dopri5: more than max_steps={max_steps} steps before t={times[nxt]:.6g}")
    return torch.stack(ys)
