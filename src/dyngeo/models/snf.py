"""Stable neural flows (Massaroli, Poli, Bin et al. 2020): neural ODEs that descend a learned energy.

Equation numbers refer to the paper. The state flows along ẋ = -∂ₓε(u, x) (eq. 2), so the energy ε,
a neural network bounded below, never increases along a trajectory: dε/ds = -‖∂ₓε‖² ≤ 0 (Prop. 1).
Variants: the port-Hamiltonian form ẋ = A ∂ₓε with A + Aᵀ ≺ 0 (eq. 3), the damped second-order model
(eqs. 4-5) and the Langevin model (eqs. 6-7). Training tools: the adjoint of Props. 2-3 (eq. 16 for the
energy flow), the gradient with respect to the horizon S (eqs. 23-25) and the regulariser of eq. 26.

Energies are callables ``energy(x, u)`` that return one scalar per sample (shape ``[B]``); ``u`` is
``None`` for an energy that does not depend on the input. Gradients ∂ₓε come from autograd, with
``create_graph`` whenever gradients are being recorded, so the flow trains like any other module and
still runs under ``torch.no_grad()``.
"""

import torch
from torch import nn
from torch.nn import functional as F

from ..ode import odeint
from ..rng import draw

OUTPUTS = ("square", "sigmoid", "softplus")


def _check_batch(x, u, what="x"):
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() != 2:
        raise ValueError(f"{what} must be a floating-point tensor of shape [batch, dim]; got "
                         f"{type(x).__name__ if not isinstance(x, torch.Tensor) else (tuple(x.shape), x.dtype)}")
    if u is not None:
        if not isinstance(u, torch.Tensor) or u.dim() != 2 or u.shape[0] != x.shape[0]:
            shape = tuple(u.shape) if isinstance(u, torch.Tensor) else type(u).__name__
            raise ValueError(f"u must be a tensor of shape [{x.shape[0]}, n_u] matching {what}; got {shape}")
        if u.device != x.device:
            raise ValueError(f"u is on {u.device} but {what} is on {x.device}")


class EnergyMLP(nn.Module):
    """A smooth energy ε(x, u) bounded below: a tanh MLP on ``[x, u]`` with a bounded-below output.

    ``output`` picks the last nonlinearity: ``"square"`` (Sec. IV-A: ε ≥ 0, minima where the network
    is zero), ``"sigmoid"`` (Sec. IV-B: 0 < ε < 1) or ``"softplus"`` (ε > 0, unbounded above).
    ``n_u = 0`` gives a data-independent energy ε(x).
    """

    def __init__(self, n_x, n_u=0, hidden=(32, 32), output="sigmoid"):
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}; got {output!r}")
        self.n_x, self.n_u, self.output = n_x, n_u, output
        sizes = [n_x + n_u, *hidden]
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.Tanh()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], 1))

    def forward(self, x, u=None):
        if x.shape[-1] != self.n_x:
            raise ValueError(f"the energy expects x with {self.n_x} features; got shape {tuple(x.shape)}")
        if self.n_u and u is None:
            raise ValueError(f"this energy depends on the input: pass u with {self.n_u} features")
        if self.n_u:
            if u.shape[-1] != self.n_u:
                raise ValueError(f"the energy expects u with {self.n_u} features; got shape {tuple(u.shape)}")
            x = torch.cat([x, u], dim=-1)
        z = self.net(x).squeeze(-1)
        if self.output == "square":
            return z.square()
        return torch.sigmoid(z) if self.output == "sigmoid" else F.softplus(z)


class NegativeDefinite(nn.Module):
    """A learned matrix A with A + Aᵀ ≺ 0 for every value of its parameters (the condition of eq. 3).

    ``mode="diag"``: A = -diag(|a| + δ), the half-moons choice of Sec. IV-B (δ = 0 is the paper's,
    only semidefinite when some aᵢ = 0). ``mode="full"``: A = -(LLᵀ + δI) + (M - Mᵀ)/2, whose symmetric
    part is -(LLᵀ + δI) ≼ -δI; the skew part rotates the flow without injecting energy.
    """

    def __init__(self, n, mode="diag", delta=1e-2):
        super().__init__()
        if mode not in ("diag", "full"):
            raise ValueError(f"mode must be 'diag' or 'full'; got {mode!r}")
        if delta <= 0:
            raise ValueError(f"delta must be positive so that A + Aᵀ is definite; got {delta}")
        self.mode, self.delta = mode, delta
        if mode == "diag":
            self.a = nn.Parameter(torch.ones(n))
        else:
            self.L = nn.Parameter(torch.eye(n) + 0.1 * torch.randn(n, n))
            self.M = nn.Parameter(0.1 * torch.randn(n, n))

    def forward(self):
        if self.mode == "diag":
            return -torch.diag(self.a.abs() + self.delta)
        eye = torch.eye(self.L.shape[0], dtype=self.L.dtype, device=self.L.device)
        return -(self.L @ self.L.T + self.delta * eye) + (self.M - self.M.T) / 2


class _Flow(nn.Module):
    """Integration shared by the first- and second-order flows (``vector_field`` is the subclass's)."""

    def field(self, u=None):
        """The vector field as ``f(s, x)``, dyngeo.ode's convention, for a fixed input ``u``."""
        return lambda s, x: self.vector_field(x, u)

    def trajectory(self, x0, u=None, t=(0.0, 1.0), method="rk4", step_size=0.1, tol=1e-6):
        """States at the depths ``t``, shape ``[len(t), B, n_x]``, solved by ``dyngeo.ode.odeint``.

        ``step_size`` is for the fixed-step methods; ``tol`` is dopri5's rtol = atol (Sec. IV uses 1e-6).
        """
        _check_batch(x0, u, "x0")
        t = torch.as_tensor(t, dtype=x0.dtype, device=x0.device)
        options = {"rtol": tol, "atol": tol} if method == "dopri5" else {"step_size": step_size}
        return odeint(self.field(u), x0, t, method, **options)

    def forward(self, x0, u=None, S=1.0, method="rk4", step_size=0.1, tol=1e-6):
        """x(S), the end of the flow started at ``x0``."""
        return self.trajectory(x0, u, (0.0, S), method, step_size, tol)[-1]


def _gradient(energy, x, u, create_graph):
    """∂ₓε(x, u) for a batch, and ε itself: one autograd call on the summed energy (samples are independent)."""
    with torch.enable_grad():
        if not x.requires_grad:
            x = x.detach().requires_grad_(True)
        e = energy(x, u)
        if e.shape != x.shape[:1]:
            raise ValueError(f"energy(x, u) must return one value per sample, shape {tuple(x.shape[:1])}; "
                             f"got {tuple(e.shape)}")
        (g,) = torch.autograd.grad(e.sum(), x, create_graph=create_graph)
    return g, e


class StableNeuralFlow(_Flow):
    """ẋ = -∂ₓε(u, x) (eq. 2), or ẋ = A ∂ₓε(u, x) with A + Aᵀ ≺ 0 (eq. 3) when ``interconnection`` is given.

    Args:
        energy: callable ``energy(x, u)`` returning ``[B]`` (an :class:`EnergyMLP`, or any smooth
            function bounded below).
        interconnection: optional module returning the matrix A (e.g. :class:`NegativeDefinite`).
    """

    def __init__(self, energy, interconnection=None):
        super().__init__()
        if not callable(energy):
            raise TypeError(f"energy must be callable as energy(x, u); got {type(energy).__name__}")
        self.energy_fn, self.interconnection = energy, interconnection

    def energy(self, x, u=None):
        """ε(x, u) for a batch: shape ``[B]``."""
        _check_batch(x, u)
        return self.energy_fn(x, u)

    def energy_gradient(self, x, u=None):
        """∂ₓε(x, u), shape ``[B, n_x]`` (differentiable when gradients are being recorded)."""
        _check_batch(x, u)
        return _gradient(self.energy_fn, x, u, torch.is_grad_enabled())[0]

    def vector_field(self, x, u=None):
        """-∂ₓε (eq. 2) or A ∂ₓε (eq. 3), shape ``[B, n_x]``."""
        g = self.energy_gradient(x, u)
        if self.interconnection is None:
            return -g
        A = self.interconnection()
        return g @ A.T


class SecondOrderFlow(_Flow):
    """The damped mechanical model of eq. 4: x = (q, p), q̇ = p, ṗ = -αp - ∂_qε(u, q), with α = softplus(ρ) > 0.

    Its total energy φ = ½pᵀp + ε(q) decays at the rate dφ/ds = -αpᵀp (eq. 5).
    """

    def __init__(self, energy, alpha=1.0):
        super().__init__()
        if not callable(energy):
            raise TypeError(f"energy must be callable as energy(q, u); got {type(energy).__name__}")
        if alpha <= 0:
            raise ValueError(f"the damping alpha must be positive; got {alpha}")
        self.energy_fn = energy
        self.rho = nn.Parameter(torch.tensor(float(alpha)).expm1().log())  # softplus⁻¹(α)

    @property
    def alpha(self):
        return F.softplus(self.rho)

    def _split(self, x, u):
        _check_batch(x, u)
        if x.shape[1] % 2:
            raise ValueError(f"the state x = (q, p) needs an even number of features; got {x.shape[1]}")
        return x.chunk(2, dim=1)

    def energy(self, x, u=None):
        """The potential ε(q, u) of the position part of ``x = (q, p)``: shape ``[B]``."""
        q, _ = self._split(x, u)
        return self.energy_fn(q, u)

    def total_energy(self, x, u=None):
        """φ(q, p) = ½pᵀp + ε(q, u) (eq. 5): shape ``[B]``."""
        q, p = self._split(x, u)
        return 0.5 * p.square().sum(1) + self.energy_fn(q, u)

    def energy_gradient(self, x, u=None):
        """∂_qε(q, u), shape ``[B, n_v]``."""
        q, _ = self._split(x, u)
        return _gradient(self.energy_fn, q, u, torch.is_grad_enabled())[0]

    def vector_field(self, x, u=None):
        """(p, -αp - ∂_qε) (eq. 4), shape ``[B, 2 n_v]``."""
        _, p = self._split(x, u)
        g = self.energy_gradient(x, u)
        return torch.cat([p, -self.alpha.to(p) * p - g], dim=1)


class FlowClassifier(nn.Module):
    """u ↦ h_y(x(S)) with x(0) = h_u(u) (eq. 1) around a flow; the energy sees u when ``data_dependent``."""

    def __init__(self, flow, h_u, h_y, data_dependent=False, S=1.0, method="rk4", step_size=0.1, tol=1e-6):
        super().__init__()
        self.flow, self.h_u, self.h_y = flow, h_u, h_y
        self.data_dependent, self.S, self.method, self.step_size, self.tol = data_dependent, S, method, step_size, tol

    def trajectory(self, u, n_points=11):
        """x(s) at ``n_points`` depths in [0, S]: shape ``[n_points, B, n_x]``."""
        t = torch.linspace(0.0, self.S, n_points, dtype=u.dtype, device=u.device)
        u_energy = u if self.data_dependent else None
        return self.flow.trajectory(self.h_u(u), u_energy, t, self.method, self.step_size, self.tol)

    def forward(self, u):
        return self.h_y(self.trajectory(u, 2)[-1])


def langevin(flow, x0, beta, S=1.0, steps=100, u=None, generator=None, return_path=False):
    """Euler-Maruyama for the stochastic flow dx = -∂ₓε ds + √(2/β) dW (eq. 6).

    Each step is x ← x - ∂ₓε(x) Δs + √(2Δs/β) ξ with ξ ~ N(0, I). Once S exceeds the mixing time, the
    samples follow the Boltzmann density ∝ exp(-βε) (the stationary solution of eq. 7); between wells
    separated by a barrier Δε that time grows like exp(βΔε) (Kramers), so a finite S may be far from it.
    ``beta`` is a positive number, or a tensor broadcastable to ``x0`` (e.g. ``[B, 1]``: one inverse
    temperature per sample, to run several temperatures in one batch). Returns x(S), or the whole path
    ``[steps + 1, B, n_x]`` with ``return_path``. When gradients are being recorded the result stays
    differentiable, so every step keeps its graph: call it under ``torch.no_grad()`` to sample.
    """
    if isinstance(beta, torch.Tensor):
        if not bool((beta > 0).all()):
            raise ValueError("beta (the inverse temperature) must be positive everywhere")
        try:
            torch.broadcast_shapes(beta.shape, x0.shape)
        except RuntimeError:
            raise ValueError(f"beta of shape {tuple(beta.shape)} does not broadcast to x0 of shape "
                             f"{tuple(x0.shape)}") from None
        beta = beta.to(x0)
    elif beta <= 0:
        raise ValueError(f"beta (the inverse temperature) must be positive; got {beta}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1; got {steps}")
    _check_batch(x0, u, "x0")
    ds = S / steps
    noise_scale = (2.0 * ds / beta) ** 0.5
    x, path = x0, [x0]
    for _ in range(steps):
        xi = draw(torch.randn, x.shape, generator, x.device, x.dtype)
        x = x + ds * flow.vector_field(x, u) + noise_scale * xi
        if return_path:
            path.append(x)
    return torch.stack(path) if return_path else x


def adjoint_gradients(flow, x_S, S=1.0, u=None, terminal_grad=None, running_cost=None, steps=100, method="rk4"):
    """dℓ/dw by the adjoint equations of Props. 2-3, solved backwards on [0, S] with ``dyngeo.ode.odeint``.

    The augmented state (x, λ, μ) obeys ẋ = f, λ̇ᵀ = -λᵀ∂f/∂x - ∂g/∂x, μ̇ᵀ = -λᵀ∂f/∂w, from
    λ(S) = ∂ℓ/∂x(S) (terminal cost, Prop. 2; zero without one) and μ(S) = 0. For the energy flow
    f = -∂ₓε these are eq. 16: λ̇ᵀ = λᵀ∂²ε/∂x² and μ̇ᵀ = λᵀ∂_w∂ₓε, Hessian- and mixed-vector products that
    one autograd call on f provides. x is recomputed backwards from x(S), so no forward states are kept.

    Args:
        flow: a flow with ``vector_field(x, u)``; w are its parameters that require grad.
        x_S: the end state x(S), ``[B, n_x]``.
        terminal_grad: ∂ℓ/∂x(S) for a terminal cost ℓ = g(x(S)), ``[B, n_x]``.
        running_cost: ``g(x)`` returning ``[B]`` for an integral cost ℓ = ∫₀^S Σ_b g(x_b(τ)) dτ (Prop. 3).

    Returns:
        ``(x0, lam0, grads)``: the reconstructed x(0), λ(0) = dℓ/dx(0), and dℓ/dw = μ(0) for each parameter.
    """
    _check_batch(x_S, u, "x_S")
    if terminal_grad is None and running_cost is None:
        raise ValueError("give a terminal cost gradient (terminal_grad), a running_cost, or both")
    if terminal_grad is not None and terminal_grad.shape != x_S.shape:
        raise ValueError(f"terminal_grad has shape {tuple(terminal_grad.shape)}; x_S has {tuple(x_S.shape)}")
    params = [p for p in flow.parameters() if p.requires_grad]
    shape, n = x_S.shape, x_S.numel()
    sizes = [p.numel() for p in params]

    def augmented(s, z):
        x, lam = z[:n].view(shape), z[n : 2 * n].view(shape)
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            f = flow.vector_field(x, u)
            vjps = torch.autograd.grad(f, (x, *params), lam, allow_unused=True)
            dg_dx = torch.autograd.grad(running_cost(x).sum(), x)[0] if running_cost is not None else 0.0
        vjps = [torch.zeros_like(p) if v is None else v for v, p in zip(vjps, (x, *params))]
        lam_dot = -vjps[0] - dg_dx
        return torch.cat([f.detach().reshape(-1), lam_dot.reshape(-1)] + [-v.reshape(-1) for v in vjps[1:]])

    lam_S = torch.zeros_like(x_S) if terminal_grad is None else terminal_grad
    z_S = torch.cat([x_S.detach().reshape(-1), lam_S.detach().reshape(-1), x_S.new_zeros(sum(sizes))])
    t = torch.tensor([S, 0.0], dtype=x_S.dtype, device=x_S.device)
    options = {} if method == "dopri5" else {"step_size": S / steps}
    z0 = odeint(augmented, z_S, t, method, **options)[-1]
    grads = [chunk.view_as(p) for chunk, p in zip(torch.split(z0[2 * n :], sizes), params)]
    return z0[:n].view(shape), z0[n : 2 * n].view(shape), grads


def horizon_gradient(flow, x_S, u=None, terminal_grad=None, running_cost=None):
    """dℓ/dS, the gradient with respect to the depth horizon (eqs. 23-25), summed over the batch.

    Terminal cost: ∂ℓ/∂x(S) · f(x(S)) (eq. 23), which is -∂ℓ/∂x(S) · ∂ₓε(x(S)) for the energy flow (eq. 24).
    Integral cost: g(x(S)) (eq. 25). Both terms are added when both costs are given.
    """
    _check_batch(x_S, u, "x_S")
    if terminal_grad is None and running_cost is None:
        raise ValueError("give a terminal cost gradient (terminal_grad), a running_cost, or both")
    total = x_S.new_zeros(())
    if terminal_grad is not None:
        if terminal_grad.shape != x_S.shape:
            raise ValueError(f"terminal_grad has shape {tuple(terminal_grad.shape)}; x_S has {tuple(x_S.shape)}")
        total = total + (terminal_grad * flow.vector_field(x_S, u)).sum()
    if running_cost is not None:
        total = total + running_cost(x_S).sum()
    return total


def stationarity_penalty(flow, x_S, u=None, gamma=1e-2):
    """The regulariser of eq. 26, (γ/2)‖f(x(S))‖² averaged over the batch.

    Eq. 26 defines the term through the vector field f (its first line); for the gradient flow of eq. 2
    that is (γ/2)‖∂ₓε‖² (its second line), for the port-Hamiltonian flow of eq. 3 it is (γ/2)‖A∂ₓε‖².
    It is zero only where the flow has stopped (A is invertible when A + Aᵀ ≺ 0), so it pushes
    trajectories to settle before depth S.
    """
    if gamma < 0:
        raise ValueError(f"gamma must be non-negative; got {gamma}")
    return 0.5 * gamma * flow.vector_field(x_S, u).square().sum(1).mean()
