"""Checkers for the exercises of Chapter 3, Stable Neural Flows."""

import torch

from ..models.snf import EnergyMLP, StableNeuralFlow
from ..ode import odeint
from . import GradingError, as_tensor, assert_close, checker

__all__ = [
    "check_gradient_field",
    "check_max_energy_increase",
    "check_port_hamiltonian_matrix",
    "check_stationarity_penalty",
    "check_horizon_gradient",
    "check_langevin_step",
]

DT = torch.float64


def _energies():
    """Test energies (name, ε(x, u)): a quadratic with a known gradient, and two random networks."""
    torch.manual_seed(3)
    Q = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=DT)
    mlp = EnergyMLP(2, 0, (8,), "softplus").to(DT)
    mlp_u = EnergyMLP(2, 1, (8,), "square").to(DT)
    return [
        ("ε = ½xᵀQx", lambda x, u=None: 0.5 * torch.einsum("bi,ij,bj->b", x, Q, x), None, Q),
        ("a softplus MLP energy", mlp, None, None),
        ("an input-dependent energy ε(x, u)", mlp_u, torch.randn(5, 1, dtype=DT), None),
    ]


def _reference_field(energy, x, u):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(energy(x, u).sum(), x)
    return -g


@checker(points=2, target="gradient_field")
def check_gradient_field(gradient_field):
    """-∂ₓε for a batch: right values, per sample, under no_grad, and differentiable for training."""
    x = torch.randn(5, 2, dtype=DT)
    for name, energy, u, Q in _energies():
        out = gradient_field(energy, x.clone(), u)
        expected = _reference_field(energy, x, u)
        if isinstance(out, torch.Tensor) and out.shape == expected.shape and torch.allclose(out, expected / 5):
            raise GradingError(f"on {name} the field is 5 times too small for a batch of 5: "
                               "sum the energies over the batch before differentiating, do not average them")
        assert_close(out, expected, f"the field of {name}", rtol=1e-8, atol=1e-10)
        if Q is not None:
            assert_close(out, -x @ Q, f"the field of {name} (it should be -Qx)", rtol=1e-8, atol=1e-10)
    with torch.no_grad():
        try:
            out = gradient_field(_energies()[1][1], x.clone(), None)
        except RuntimeError as error:
            raise GradingError("the field fails under torch.no_grad(); wrap its body in "
                               f"torch.enable_grad() ({error})") from None
    assert_close(out, _reference_field(_energies()[1][1], x, None), "the field under torch.no_grad()", rtol=1e-8)
    energy = _energies()[1][1]
    out = gradient_field(energy, x.clone().requires_grad_(True), None)
    if not out.requires_grad:
        raise GradingError("the field does not depend on the energy's weights in the autograd graph: "
                           "differentiate with create_graph=True so that training can reach them")
    grads = torch.autograd.grad(out.square().sum(), list(energy.parameters()), allow_unused=True)
    if any(g is None for g in grads) or sum(g.abs().sum() for g in grads) == 0:
        raise GradingError("the loss gradient does not reach every weight of the energy: use create_graph=True")


def _ascent(energy):
    return StableNeuralFlow(lambda x, u=None: -energy(x, u))


@checker(points=2, target="max_energy_increase")
def check_max_energy_increase(max_energy_increase):
    """The largest increase of ε between consecutive depths along every trajectory of a flow."""
    torch.manual_seed(4)
    energy = EnergyMLP(2, 0, (16,), "softplus").to(DT)
    x0 = 2 * torch.randn(32, 2, dtype=DT)
    for name, flow in [("a stable flow", StableNeuralFlow(energy)), ("an ascent flow ẋ = +∂ₓε", _ascent(energy))]:
        with torch.no_grad():
            traj = odeint(flow.field(), x0, torch.linspace(0, 1, 21, dtype=DT), "rk4", step_size=0.05)
            e = flow.energy(traj.reshape(-1, 2)).reshape(21, 32)
        expected = (e[1:] - e[:-1]).max()
        got = max_energy_increase(flow, x0.clone(), 1.0, 20)
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise GradingError(f"max_energy_increase should return a number; got {type(got).__name__}") from None
        if abs(got - expected.item()) > 1e-6 * max(1.0, abs(expected.item())):
            hint = ""
            if abs(got - (e[-1] - e[0]).max().item()) < 1e-8:
                hint = ": you compared only the two ends; compare every pair of consecutive depths"
            elif abs(got - (e[:, 1:] - e[:, :-1]).max().item()) < 1e-8:
                hint = ": you took differences across the batch; take them along depth (dimension 0)"
            raise GradingError(f"on {name} you returned {got:.4g}, expected {expected.item():.4g}{hint}")


@checker(points=2, target="port_hamiltonian_matrix")
def check_port_hamiltonian_matrix(port_hamiltonian_matrix):
    """A = -(LLᵀ + δI) + (M - Mᵀ)/2: A + Aᵀ ≺ 0 for any L and M, even a rank-deficient L."""
    torch.manual_seed(5)
    cases = [(torch.outer(torch.randn(3, dtype=DT), torch.randn(3, dtype=DT)), torch.randn(3, 3, dtype=DT))]
    cases += [(torch.randn(3, 3, dtype=DT), torch.randn(3, 3, dtype=DT)) for _ in range(5)]
    for i, (L, M) in enumerate(cases):
        delta = 0.1
        A = as_tensor(port_hamiltonian_matrix(L.clone(), M.clone(), delta), "port_hamiltonian_matrix(L, M, delta)")
        if A.shape != (3, 3):
            raise GradingError(f"A should be 3 × 3 for 3 × 3 L and M; got shape {tuple(A.shape)}")
        top = torch.linalg.eigvalsh(A + A.T).max().item()
        if top >= -1e-6:
            what = "a rank-1 L" if i == 0 else "random L and M"
            raise GradingError(f"for {what}, A + Aᵀ has the eigenvalue {top:.3g} ≥ 0: energy could stop "
                               "decreasing (keep the δI term and the minus sign)")
        expected = -(L @ L.T + delta * torch.eye(3, dtype=DT)) + (M - M.T) / 2
        if torch.allclose(A, A.T) and not torch.allclose(M, M.T):
            raise GradingError("A is symmetric: the skew-symmetric part (M - Mᵀ)/2 is missing")
        assert_close(A, expected, "A", rtol=1e-10, atol=1e-12)


@checker(points=1, target="stationarity_penalty")
def check_stationarity_penalty(stationarity_penalty):
    """(γ/2)‖f(x(S))‖², averaged over the batch (eq. 26)."""
    torch.manual_seed(6)
    flow = StableNeuralFlow(EnergyMLP(2, 0, (8,), "softplus").to(DT))
    x_S = torch.randn(6, 2, dtype=DT)
    sq = flow.vector_field(x_S).detach().square().sum(1)
    got = as_tensor(stationarity_penalty(flow, x_S.clone(), 0.3), "stationarity_penalty(...)")
    if got.numel() != 1:
        raise GradingError(f"the penalty should be one number for the batch; got shape {tuple(got.shape)}")
    got = got.detach().reshape(())
    expected = 0.15 * sq.mean()
    if torch.isclose(got, 0.3 * sq.mean()):
        raise GradingError("the penalty is twice too large: it is γ/2 times the squared norm")
    if torch.isclose(got, 0.15 * sq.sum()):
        raise GradingError("the penalty is summed over the batch; average it, like the loss")
    if torch.isclose(got, 0.15 * sq.sqrt().mean()):
        raise GradingError("use the squared norm ‖f‖², not the norm")
    assert_close(got, expected, "the penalty", rtol=1e-8)


def _terminal_loss(flow, x0, S, target):
    xS = odeint(flow.field(), x0, torch.tensor([0.0, S], dtype=DT), "rk4", step_size=S / 100)[-1]
    return 0.5 * (xS - target).square().sum(), xS


@checker(points=2, target="horizon_gradient")
def check_horizon_gradient(horizon_gradient):
    """dℓ/dS = -∂ℓ/∂x(S) · ∂ₓε(x(S)) (eq. 24), against a central finite difference in S."""
    torch.manual_seed(7)
    energy = EnergyMLP(2, 0, (8,), "square").to(DT)
    flow = StableNeuralFlow(energy)
    x0, target, S, h = torch.randn(5, 2, dtype=DT), torch.randn(5, 2, dtype=DT), 0.7, 1e-3
    with torch.no_grad():
        _, xS = _terminal_loss(flow, x0, S, target)
        numeric = (_terminal_loss(flow, x0, S + h, target)[0] - _terminal_loss(flow, x0, S - h, target)[0]) / (2 * h)
    got = horizon_gradient(energy, xS.clone(), (xS - target).clone())
    try:
        got = float(got)
    except (TypeError, ValueError):
        raise GradingError(f"horizon_gradient should return a number; got {type(got).__name__}") from None
    if abs(got - numeric.item()) > 1e-5 * max(1.0, abs(numeric.item())):
        hint = " (it has the wrong sign: the flow goes down the gradient)" if abs(got + numeric.item()) < 1e-5 else ""
        raise GradingError(f"dℓ/dS is {got:.6g} but a finite difference in S gives {numeric.item():.6g}{hint}")


@checker(points=2, target="langevin_step")
def check_langevin_step(langevin_step):
    """One Euler-Maruyama step of eq. 6, and the harmonic-well variance 1/β it leads to."""
    grad = lambda x: x  # noqa: E731  ε = ½x², ∂ₓε = x
    x, xi = torch.randn(4, 2, dtype=DT), torch.randn(4, 2, dtype=DT)
    out = langevin_step(x.clone(), grad, 0.01, 2.0, xi.clone())
    expected = x - 0.01 * x + (2 * 0.01 / 2.0) ** 0.5 * xi
    out = as_tensor(out, "langevin_step(...)")
    if out.shape == expected.shape and torch.allclose(out, x - 0.01 * x + (2 / 2.0) ** 0.5 * 0.01 * xi):
        raise GradingError("the noise is scaled by Δs; a Wiener increment has standard deviation √Δs")
    if out.shape == expected.shape and torch.allclose(out, x - 0.01 * x + (2 * 0.01 * 2.0) ** 0.5 * xi):
        raise GradingError("the noise variance is 2βΔs; it should be 2Δs/β (β is an inverse temperature)")
    assert_close(out, expected, "one step", rtol=1e-10, atol=1e-12)
    g = torch.Generator().manual_seed(8)
    beta, xs = 4.0, torch.zeros(4000, 1, dtype=DT)
    for _ in range(400):
        xs = langevin_step(xs, grad, 0.01, beta, torch.randn(xs.shape, generator=g, dtype=DT))
    var = xs.var().item()
    if abs(var * beta - 1) > 0.1:
        raise GradingError(f"after many steps in ε = x²/2 the variance is {var:.3f}, but the Boltzmann law gives 1/β = "
                           f"{1 / beta:.3f}")
