"""dyngeo.ode against torchdiffeq and closed-form solutions."""

import math

import pytest
import torch
import torchdiffeq

from dyngeo.ode import METHODS, odeint, odeint_adjoint

pytestmark = pytest.mark.usefixtures("float64")


class Field(torch.nn.Module):
    """A small MLP vector field f(t, y) with explicit time dependence."""

    def __init__(self, dim=2, width=16, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.net = torch.nn.Sequential(torch.nn.Linear(dim + 1, width), torch.nn.Tanh(), torch.nn.Linear(width, dim))

    def forward(self, t, y):
        return self.net(torch.cat([y, t.expand(y.shape[0], 1)], dim=1))


def linear_problem():
    """dy/dt = A y with y(t) = expm(A t) y0 in closed form."""
    A = torch.tensor([[-0.5, 2.0], [-2.0, -0.5]])
    y0 = torch.tensor([[1.0, 0.0], [0.3, -0.7]])
    return (lambda t, y: y @ A.T), A, y0


@pytest.mark.parametrize("method", ["euler", "midpoint", "rk4"])
def test_fixed_step_matches_torchdiffeq(method):
    f, y0, t = Field(), torch.randn(8, 2), torch.linspace(0, 1, 6)
    ours = odeint(f, y0, t, method, step_size=0.05)
    theirs = torchdiffeq.odeint(f, y0, t, method=method, options={"step_size": 0.05})
    assert torch.allclose(ours, theirs, atol=1e-6)


def test_grid_defaults_to_output_times():
    f, y0, t = Field(), torch.randn(4, 2), torch.linspace(0, 1, 11)
    assert torch.allclose(odeint(f, y0, t, "euler"), torchdiffeq.odeint(f, y0, t, method="euler"), atol=1e-12)


def test_dopri5_matches_torchdiffeq_and_closed_form():
    f, A, y0 = linear_problem()
    t = torch.linspace(0, 2, 5)
    exact = torch.stack([y0 @ torch.linalg.matrix_exp(A * s).T for s in t])
    ours = odeint(f, y0, t, "dopri5", rtol=1e-9, atol=1e-11)
    theirs = torchdiffeq.odeint(f, y0, t, method="dopri5", rtol=1e-9, atol=1e-11)
    assert torch.allclose(ours, exact, atol=1e-8)
    assert torch.allclose(ours, theirs, atol=1e-8)


def test_backward_in_time_inverts_forward():
    f, y0 = Field(), torch.randn(5, 2)
    t = torch.tensor([0.0, 1.0])
    forward = odeint(f, y0, t, "rk4", step_size=0.01)[-1]
    back = odeint(f, forward, t.flip(0), "rk4", step_size=0.01)[-1]
    assert torch.allclose(back, y0, atol=1e-8)


@pytest.mark.parametrize("method,order", [("euler", 1), ("midpoint", 2), ("rk4", 4)])
def test_order_of_accuracy(method, order):
    """Halving the step divides the global error by 2**order on y' = -y (y = e^{-t})."""
    f, y0, t = (lambda t, y: -y), torch.ones(1, 1), torch.tensor([0.0, 1.0])
    errors = [abs(odeint(f, y0, t, method, step_size=h)[-1].item() - math.exp(-1)) for h in (0.1, 0.05)]
    assert math.log2(errors[0] / errors[1]) == pytest.approx(order, abs=0.15)


@pytest.mark.parametrize("method,options", [("rk4", {"step_size": 0.005}), ("dopri5", {"rtol": 1e-8, "atol": 1e-10})])
def test_gradients_match_torchdiffeq(method, options):
    """Backprop through our solver, our adjoint, and torchdiffeq's adjoint agree."""
    f, t = Field(), torch.linspace(0, 1, 4)
    y0 = torch.randn(6, 2, requires_grad=True)
    params = [y0, *f.parameters()]

    def grads(solve, **kw):
        loss = solve(f, y0, t, **kw).pow(2).sum()
        return torch.autograd.grad(loss, params)

    td_options = {"options": {"step_size": 0.005}} if method == "rk4" else options
    reference = grads(torchdiffeq.odeint_adjoint, method=method, **td_options)
    for ours in (grads(odeint, method=method, **options), grads(odeint_adjoint, method=method, **options)):
        for a, b in zip(ours, reference):
            assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)


def test_adjoint_closed_form_linear():
    """For y' = a y, d y(T) / d a = T y0 e^{aT}."""
    a = torch.tensor(-0.7, requires_grad=True)
    y0, T = torch.ones(1), 1.5
    yT = odeint_adjoint(lambda t, y: a * y, y0, torch.tensor([0.0, T]), "dopri5", params=[a])[-1]
    (grad,) = torch.autograd.grad(yT.sum(), a)
    assert grad.item() == pytest.approx(T * math.exp(-0.7 * T), rel=1e-6)


def test_adjoint_memory_does_not_grow_with_steps():
    """The adjoint's forward pass keeps no graph: autograd saves only the outputs and parameters."""
    f, y0 = Field(), torch.randn(3, 2, requires_grad=True)
    out = odeint_adjoint(f, y0, torch.tensor([0.0, 1.0]), "rk4", step_size=0.001)
    saved = out.grad_fn.saved_tensors
    assert len(saved) == 2 + len(list(f.parameters()))


def test_runs_on_float32_and_keeps_dtype():
    f = Field().float()
    y = odeint(f, torch.randn(2, 2, dtype=torch.float32), torch.tensor([0.0, 1.0], dtype=torch.float32), "rk4")
    assert y.dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda():
    f = Field().cuda()
    y = odeint(f, torch.randn(2, 2, device="cuda"), torch.linspace(0, 1, 3, device="cuda"), "dopri5")
    assert y.device.type == "cuda"


def van_der_pol(mu=5.0):
    calls = [0]

    def f(t, y):
        calls[0] += 1
        return torch.stack([y[..., 1], mu * (1 - y[..., 0] ** 2) * y[..., 1] - y[..., 0]], dim=-1)

    return f, calls


def test_dopri5_dense_output_costs_no_extra_steps():
    """Many output times are read from the continuous extension: the evaluation count stays that of
    the solve to the end (landing on all 2001 times used to cost 12,008 evaluations, torchdiffeq 2,000),
    and every output stays within the tolerance of a tight reference."""
    f, calls = van_der_pol()
    y0, t = torch.tensor([2.0, 0.0]), torch.linspace(0, 20, 2001)
    ys = odeint(f, y0, t, "dopri5", rtol=1e-6, atol=1e-8)
    dense_calls = calls[0]
    calls[0] = 0
    odeint(f, y0, t[[0, -1]], "dopri5", rtol=1e-6, atol=1e-8)
    assert dense_calls == calls[0] < 2400
    reference = torchdiffeq.odeint(f, y0, t, method="dopri5", rtol=1e-12, atol=1e-12)
    theirs = torchdiffeq.odeint(f, y0, t, method="dopri5", rtol=1e-6, atol=1e-8)
    assert (ys - reference).abs().max() < 2 * (theirs - reference).abs().max() + 1e-6


def test_dopri5_dense_output_is_fourth_order_inside_a_step():
    """One step of y' = y with the output read halfway: error O(h^5) (ratio 32 per halving)."""
    from dyngeo.ode.adaptive import _stages, dense_coefficients, dense_evaluate

    f = lambda t, y: y
    errors = []
    for h in (0.2, 0.1):
        y0 = torch.ones(1)
        y1, k = _stages(f, torch.tensor(0.0), y0, h, f(0.0, y0))
        c = dense_coefficients(y0, y1, k, h)
        assert torch.allclose(dense_evaluate(c, 0.0), y0) and torch.allclose(dense_evaluate(c, 1.0), y1)
        errors.append(abs(dense_evaluate(c, 0.37).item() - math.exp(0.37 * h)))
    assert math.log2(errors[0] / errors[1]) == pytest.approx(5, abs=0.3)


def test_dopri5_dense_output_closed_form_and_gradients():
    f, A, y0 = linear_problem()
    t = torch.linspace(0, 3, 301)
    exact = torch.stack([y0 @ torch.linalg.matrix_exp(A * s).T for s in t])
    assert torch.allclose(odeint(f, y0, t, "dopri5", rtol=1e-9, atol=1e-11), exact, atol=1e-8)
    # backwards in time from y(3), through the same 301 output times
    back = odeint(f, exact[-1], t.flip(0), "dopri5", rtol=1e-9, atol=1e-11)
    assert torch.allclose(back, exact.flip(0), atol=1e-7)
    field, y = Field(), torch.randn(3, 2, requires_grad=True)
    ours = torch.autograd.grad(odeint(field, y, t[::10], "dopri5", rtol=1e-9, atol=1e-11).pow(2).sum(), y)[0]
    theirs = torch.autograd.grad(
        torchdiffeq.odeint(field, y, t[::10], method="dopri5", rtol=1e-9, atol=1e-11).pow(2).sum(), y)[0]
    assert torch.allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize("solve", [odeint, odeint_adjoint])
@pytest.mark.parametrize("method,options", [("rk4", {"step_size": 0.002}), ("dopri5", {"rtol": 1e-10, "atol": 1e-12})])
def test_gradient_with_respect_to_time(solve, method, options):
    """dL/dt against torchdiffeq's adjoint and against central finite differences in each t_i."""
    f = Field()
    y0 = torch.randn(4, 2)
    t = torch.tensor([0.1, 0.6, 1.3], requires_grad=True)
    loss = lambda out: (out**2).sum() + out[1, :, 0].sum()  # noqa: E731
    (ours,) = torch.autograd.grad(loss(solve(f, y0, t, method, **options)), t)
    td_options = {"options": {"step_size": 0.002}} if method == "rk4" else options
    (theirs,) = torch.autograd.grad(loss(torchdiffeq.odeint_adjoint(f, y0, t, method=method, **td_options)), t)
    assert torch.allclose(ours, theirs, atol=1e-6)
    eps = 1e-4
    for i in range(3):
        shift = torch.zeros(3)
        shift[i] = eps
        with torch.no_grad():
            fd = (loss(odeint(f, y0, t + shift, "dopri5", rtol=1e-11, atol=1e-13))
                  - loss(odeint(f, y0, t - shift, "dopri5", rtol=1e-11, atol=1e-13))) / (2 * eps)
        assert ours[i].item() == pytest.approx(fd.item(), abs=1e-5)


def test_gradient_with_respect_to_time_closed_form():
    """y' = a y, L = y(T): dL/dT = a y0 e^{a (T - t0)} and dL/dt0 = -dL/dT."""
    a, y0 = -0.7, torch.ones(1)
    for solve in (odeint, odeint_adjoint):
        t = torch.tensor([0.2, 1.5], requires_grad=True)
        kwargs = {"params": []} if solve is odeint_adjoint else {}
        out = solve(lambda s, y: a * y, y0, t, "dopri5", rtol=1e-10, atol=1e-12, **kwargs)
        (grad,) = torch.autograd.grad(out[-1].sum(), t)
        expected = a * math.exp(a * 1.3)
        assert grad[1].item() == pytest.approx(expected, rel=1e-7)
        assert grad[0].item() == pytest.approx(-expected, rel=1e-7)


def test_time_gradient_leaves_values_unchanged():
    f, y0 = Field(), torch.randn(3, 2)
    t = torch.linspace(0, 1, 5)
    plain = odeint(f, y0, t, "rk4", step_size=0.05)
    timed = odeint(f, y0, t.clone().requires_grad_(True), "rk4", step_size=0.05)
    assert torch.equal(plain, timed.detach())
    with pytest.raises(ValueError, match="projected"):
        odeint(f, y0, t.clone().requires_grad_(True), "rk4", project=lambda y: y)


def test_steps_accept_a_differentiable_step_size():
    """The fused updates need a number; a tensor step that requires grad still gets its gradient.
    For y' = -y one RK4 step is y (1 - h + h^2/2 - h^3/6 + h^4/24), so d/dh = -(1 - h + h^2/2 - h^3/6) y."""
    from dyngeo.ode import midpoint_step, rk4_step

    h = torch.tensor(0.3, requires_grad=True)
    y = rk4_step(lambda t, y: -y, torch.tensor(0.0), torch.ones(1), h)
    (dh,) = torch.autograd.grad(y.sum(), h)
    assert dh.item() == pytest.approx(-(1 - 0.3 + 0.3**2 / 2 - 0.3**3 / 6), rel=1e-12)
    assert midpoint_step(lambda t, y: -y, torch.tensor(0.0), torch.ones(1), h).item() == pytest.approx(1 - 0.3 + 0.045)


# ------------------------------------------------------------------------------------ clear errors


def test_wrong_output_shape_is_named():
    with pytest.raises(ValueError, match="returned shape"):
        odeint(lambda t, y: y[:, :1], torch.randn(3, 2), torch.tensor([0.0, 1.0]), "rk4")


def test_non_monotonic_time_is_named():
    with pytest.raises(ValueError, match="strictly monotonic"):
        odeint(lambda t, y: -y, torch.randn(3), torch.tensor([0.0, 1.0, 0.5]), "euler")


def test_nan_is_named():
    with pytest.raises(FloatingPointError, match="NaN or infinite"):
        odeint(lambda t, y: y * float("nan"), torch.ones(2), torch.tensor([0.0, 1.0]), "euler")


def test_step_underflow_is_named():
    blow_up = lambda t, y: y**2  # y = 1 / (1 - t) explodes at t = 1
    with pytest.raises(RuntimeError, match="underflow"):
        odeint(blow_up, torch.ones(1), torch.tensor([0.0, 2.0]), "dopri5")


def test_device_mismatch_is_named():
    with pytest.raises(ValueError, match="same device"):
        odeint(lambda t, y: -y, torch.ones(2), torch.tensor([0.0, 1.0], device="meta"), "euler")


def test_integer_state_is_named():
    with pytest.raises(TypeError, match="floating-point"):
        odeint(lambda t, y: -y, torch.ones(2, dtype=torch.long), torch.tensor([0.0, 1.0]), "euler")


def test_wrong_dtype_output_is_named():
    with pytest.raises(TypeError, match="dtype"):
        odeint(lambda t, y: (-y).float(), torch.ones(2), torch.tensor([0.0, 1.0]), "euler")


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="unknown method"):
        odeint(lambda t, y: -y, torch.ones(2), torch.tensor([0.0, 1.0]), "rk45")
    assert "dopri5" in METHODS


def test_projected_scheme_clamps_after_every_step():
    # dy/dt = 1 from 0, Euler with dt = 0.1, clamped at 0.35: 0, 0.1, 0.2, 0.3, 0.35, 0.35, ...
    t = torch.linspace(0, 1, 11)
    ys = odeint(lambda t, y: torch.ones_like(y), torch.zeros(1), t, "euler", project=lambda y: y.clamp(max=0.35))
    expected = torch.tensor([0.0, 0.1, 0.2, 0.3] + [0.35] * 7)[:, None]
    assert torch.allclose(ys, expected, atol=1e-12)
    # a projection that never binds leaves the solve as torchdiffeq's
    f, y0 = Field(), torch.randn(4, 2)
    loose = odeint(f, y0, t, "rk4", step_size=0.05, project=lambda y: y.clamp(-100, 100))
    assert torch.allclose(loose, torchdiffeq.odeint(f, y0, t, method="rk4", options={"step_size": 0.05}), atol=1e-6)
    with pytest.raises(ValueError, match="fixed-step"):
        odeint(f, y0, t, "dopri5", project=lambda y: y)
