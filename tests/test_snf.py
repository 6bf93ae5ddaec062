"""Stable neural flows (dyngeo.models.snf) against closed forms, torchdiffeq, SciPy and the paper's invariants."""

import numpy as np
import pytest
import scipy.integrate
import scipy.linalg
import torch
import torchdiffeq

from dyngeo.models.snf import (
    EnergyMLP,
    FlowClassifier,
    NegativeDefinite,
    SecondOrderFlow,
    StableNeuralFlow,
    adjoint_gradients,
    horizon_gradient,
    langevin,
    stationarity_penalty,
)

DT = torch.float64


def quadratic(Q):
    return lambda x, u=None: 0.5 * torch.einsum("bi,ij,bj->b", x, Q, x)


def random_energy(seed, n_x=2, n_u=0, output="sigmoid", gain=2.0):
    torch.manual_seed(seed)
    energy = EnergyMLP(n_x, n_u, (16, 16), output).to(DT)
    with torch.no_grad():
        for p in energy.parameters():
            p.mul_(gain)
    return energy


def test_gradient_field_of_a_quadratic_is_minus_Qx():
    Q = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=DT)
    x = torch.randn(5, 2, dtype=DT)
    flow = StableNeuralFlow(quadratic(Q))
    torch.testing.assert_close(flow.vector_field(x), -x @ Q, rtol=1e-12, atol=1e-12)
    with torch.no_grad():  # the field needs autograd inside, and must still work here
        torch.testing.assert_close(flow.vector_field(x), -x @ Q, rtol=1e-12, atol=1e-12)


def test_linear_flow_matches_the_matrix_exponential():
    Q = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=DT)
    A = NegativeDefinite(2, "full").to(DT)
    flow = StableNeuralFlow(quadratic(Q), A)
    x0 = torch.randn(4, 2, dtype=DT)
    xS = flow(x0, S=1.0, step_size=0.01).detach()
    exact = x0 @ torch.from_numpy(scipy.linalg.expm((A().detach() @ Q).numpy())).T
    torch.testing.assert_close(xS, exact, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("port_hamiltonian", [False, True])
def test_energy_never_increases_along_trajectories(seed, port_hamiltonian):
    energy = random_energy(seed, output="softplus")
    A = NegativeDefinite(2, "full").to(DT) if port_hamiltonian else None
    flow = StableNeuralFlow(energy, A)
    x0 = 3 * torch.randn(64, 2, dtype=DT)
    with torch.no_grad():
        traj = flow.trajectory(x0, t=torch.linspace(0, 2, 41, dtype=DT), step_size=0.05)
        e = flow.energy(traj.reshape(-1, 2)).reshape(41, 64)
    assert (e[1:] - e[:-1]).max() <= 1e-10
    assert (e[-1] < e[0] - 1e-6).float().mean() > 0.5  # and it really moves


def test_data_dependent_energy_gives_one_landscape_per_input():
    energy = random_energy(0, n_x=1, n_u=1, output="square")
    flow = StableNeuralFlow(energy)
    x = torch.zeros(2, 1, dtype=DT)
    u = torch.tensor([[-1.0], [1.0]], dtype=DT)
    f = flow.vector_field(x, u)
    assert not torch.allclose(f[0], f[1])
    with pytest.raises(ValueError, match="pass u"):
        flow.vector_field(x)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("mode", ["diag", "full"])
def test_interconnection_is_negative_definite_for_random_parameters(seed, mode):
    torch.manual_seed(seed)
    A = NegativeDefinite(3, mode)
    with torch.no_grad():
        for p in A.parameters():
            p.copy_(5 * torch.randn_like(p))
        if seed == 0 and mode == "diag":
            A.a.zero_()  # the paper's -diag(|a|) would be only semidefinite here
        if seed == 0 and mode == "full":
            A.L.copy_(torch.outer(torch.randn(3), torch.randn(3)))  # a rank-1 L
        A = A()
    assert torch.linalg.eigvalsh(A + A.T).max() < 0


@pytest.mark.parametrize("seed", range(2))
def test_second_order_total_energy_decays_at_rate_alpha_p2(seed):
    torch.manual_seed(seed)
    flow = SecondOrderFlow(random_energy(seed, n_x=2, output="softplus"), alpha=0.7).to(DT)
    x = torch.randn(16, 4, dtype=DT)
    # dφ/ds = ∇φ · f at random states, by autograd (eq. 5)
    xr = x.clone().requires_grad_(True)
    (grad_phi,) = torch.autograd.grad(flow.total_energy(xr).sum(), xr)
    rate = (grad_phi * flow.vector_field(x)).sum(1)
    p = x[:, 2:]
    torch.testing.assert_close(rate, -flow.alpha.detach() * p.square().sum(1), rtol=1e-10, atol=1e-12)
    # and φ never increases along integrated trajectories
    with torch.no_grad():
        traj = flow.trajectory(2 * x, t=torch.linspace(0, 3, 61, dtype=DT), step_size=0.05)
        phi = flow.total_energy(traj.reshape(-1, 4)).reshape(61, 16)
    assert (phi[1:] - phi[:-1]).max() <= 1e-9


def test_second_order_rejects_odd_states_and_bad_damping():
    flow = SecondOrderFlow(quadratic(torch.eye(1, dtype=DT)))
    with pytest.raises(ValueError, match="even number"):
        flow.vector_field(torch.zeros(3, 3, dtype=DT))
    with pytest.raises(ValueError, match="positive"):
        SecondOrderFlow(quadratic(torch.eye(1)), alpha=0.0)


def _terminal_loss(xS, target):
    return 0.5 * (xS - target).square().sum()


@pytest.mark.parametrize("model", ["gradient", "port-hamiltonian", "second-order"])
def test_adjoint_matches_autograd_through_torchdiffeq(model):
    energy = random_energy(1, n_x=2, output="square", gain=1.5)
    if model == "second-order":
        flow = SecondOrderFlow(energy, alpha=0.5).to(DT)
        x0 = torch.randn(6, 4, dtype=DT)
    else:
        flow = StableNeuralFlow(energy, NegativeDefinite(2, "full").to(DT) if model == "port-hamiltonian" else None)
        x0 = torch.randn(6, 2, dtype=DT)
    target = torch.randn_like(x0)
    params = [p for p in flow.parameters() if p.requires_grad]
    t = torch.tensor([0.0, 1.0], dtype=DT)
    xS = torchdiffeq.odeint(lambda s, x: flow.vector_field(x), x0, t, rtol=1e-10, atol=1e-12)[-1]
    expected = torch.autograd.grad(_terminal_loss(xS, target), params)
    xS = xS.detach()
    x0_back, _, grads = adjoint_gradients(flow, xS, 1.0, terminal_grad=xS - target, steps=200)
    torch.testing.assert_close(x0_back, x0, rtol=1e-7, atol=1e-9)
    for g, e in zip(grads, expected):
        torch.testing.assert_close(g, e, rtol=1e-6, atol=1e-9)


def test_integral_cost_adjoint_matches_autograd_of_a_quadrature():
    flow = StableNeuralFlow(random_energy(2, output="square", gain=1.5))
    params = list(flow.parameters())
    x0 = torch.randn(5, 2, dtype=DT)
    g = lambda x: torch.sin(x).square().sum(1)  # noqa: E731  a running cost g(x) ≥ 0
    t = torch.linspace(0, 1, 201, dtype=DT)
    traj = torchdiffeq.odeint(lambda s, x: flow.vector_field(x), x0, t, rtol=1e-10, atol=1e-12)
    cost = g(traj.reshape(-1, 2)).reshape(201, 5).sum(1)
    loss = torch.trapezoid(cost, t) + _terminal_loss(traj[-1], 0.0)
    expected = torch.autograd.grad(loss, params)
    xS = traj[-1].detach()
    _, _, grads = adjoint_gradients(flow, xS, 1.0, terminal_grad=xS, running_cost=g, steps=200)
    for gr, e in zip(grads, expected):
        torch.testing.assert_close(gr, e, rtol=1e-3, atol=1e-6)  # the trapezoid rule limits the agreement


def test_adjoint_returns_dl_dx0():
    flow = StableNeuralFlow(random_energy(3, output="square", gain=1.5))
    x0 = torch.randn(4, 2, dtype=DT, requires_grad=True)
    xS = flow(x0, step_size=0.005)
    (expected,) = torch.autograd.grad(_terminal_loss(xS, 1.0), x0)
    _, lam0, _ = adjoint_gradients(flow, xS.detach(), terminal_grad=(xS - 1.0).detach(), steps=200)
    torch.testing.assert_close(lam0, expected, rtol=1e-6, atol=1e-9)


def _loss_at_horizon(flow, x0, S, target):
    xS = torchdiffeq.odeint(lambda s, x: flow.vector_field(x), x0, torch.tensor([0.0, S], dtype=DT),
                            rtol=1e-11, atol=1e-13)[-1]
    return _terminal_loss(xS, target).item(), xS


def test_horizon_gradient_matches_a_central_difference():
    flow = StableNeuralFlow(random_energy(4, output="square", gain=1.5))
    x0, target, S, h = torch.randn(8, 2, dtype=DT), torch.randn(8, 2, dtype=DT), 0.8, 1e-4
    _, xS = _loss_at_horizon(flow, x0, S, target)
    with torch.no_grad():
        analytic = horizon_gradient(flow, xS, terminal_grad=xS - target).item()
    numeric = (_loss_at_horizon(flow, x0, S + h, target)[0] - _loss_at_horizon(flow, x0, S - h, target)[0]) / (2 * h)
    assert abs(analytic - numeric) < 1e-6 * max(1.0, abs(numeric))
    # eq. 25: for an integral cost the derivative is the running cost at S
    g = lambda x: x.square().sum(1)  # noqa: E731
    assert horizon_gradient(flow, xS, running_cost=g).item() == pytest.approx(g(xS).sum().item())


def test_stationarity_penalty_of_the_port_hamiltonian_flow_is_its_speed():
    # eq. 26 penalises ‖f(x(S))‖²; for f = A∂ε that is ‖A∂ε‖², not ‖∂ε‖²
    Q = torch.diag(torch.tensor([1.0, 3.0], dtype=DT))
    A = torch.tensor([[-2.0, 1.0], [-1.0, -0.5]], dtype=DT)
    x = torch.randn(7, 2, dtype=DT)
    flow = StableNeuralFlow(quadratic(Q), lambda: A)
    expected = 0.5 * 0.1 * (x @ Q @ A.T).square().sum(1).mean()
    torch.testing.assert_close(stationarity_penalty(flow, x, gamma=0.1), expected)


def test_stationarity_penalty_is_half_gamma_squared_gradient():
    Q = torch.diag(torch.tensor([1.0, 3.0], dtype=DT))
    x = torch.randn(7, 2, dtype=DT)
    expected = 0.5 * 0.1 * (x @ Q).square().sum(1).mean()
    torch.testing.assert_close(stationarity_penalty(StableNeuralFlow(quadratic(Q)), x, gamma=0.1), expected)
    with pytest.raises(ValueError, match="gamma"):
        stationarity_penalty(StableNeuralFlow(quadratic(Q)), x, gamma=-1.0)


def test_langevin_variance_of_a_harmonic_well_is_one_over_beta():
    g = torch.Generator().manual_seed(0)
    flow = StableNeuralFlow(lambda x, u=None: 0.5 * x.square().sum(1))
    beta = 4.0
    x = langevin(flow, torch.zeros(20000, 1, dtype=DT), beta, S=5.0, steps=1000, generator=g)
    assert x.var().item() == pytest.approx(1 / beta, rel=0.04)
    assert x.mean().abs().item() < 0.02


def _tilted_boltzmann(beta, tilt):
    """Left-well mass and E[x²] of exp(-β((x²-1)² + tilt·x)), by SciPy quadrature; and the barrier top."""
    roots = np.sort(np.roots([4.0, 0.0, -4.0, tilt]).real)
    weight = lambda z: np.exp(-beta * ((z * z - 1) ** 2 + tilt * z))  # noqa: E731
    Z = scipy.integrate.quad(weight, -4, 4)[0]
    left = scipy.integrate.quad(weight, -4, roots[1])[0] / Z
    second = scipy.integrate.quad(lambda z: z * z * weight(z), -4, 4)[0] / Z
    return left, second, roots[1]


def test_langevin_crosses_the_barrier_of_a_tilted_double_well():
    # Started in the shallow right-hand well, where the Boltzmann law puts only ~25 % of the mass: a
    # sampler that does not mix, or a symmetric shortcut, cannot pass. The relaxation time is ~3.7 at β = 2.
    g = torch.Generator().manual_seed(1)
    beta, tilt = 2.0, 0.3
    flow = StableNeuralFlow(lambda x, u=None: ((x.square() - 1).square() + tilt * x).sum(1))
    left, second, top = _tilted_boltzmann(beta, tilt)
    x = torch.ones(6000, 1, dtype=DT)
    with torch.no_grad():
        early = langevin(flow, x, beta, S=1.0, steps=100, generator=g)
        x = langevin(flow, early, beta, S=24.0, steps=2400, generator=g)  # about 7 relaxation times
    assert (early[:, 0] < top).double().mean().item() < left - 0.3  # not mixed yet: the test can tell
    assert (x[:, 0] < top).double().mean().item() == pytest.approx(left, abs=0.02)
    assert x.square().mean().item() == pytest.approx(second, rel=0.03)  # Δs = 1e-2 biases it slightly


def test_langevin_at_low_temperature_does_not_mix_within_a_short_depth():
    # β = 8: Kramers' time is ~370, so after S = 10 almost every sample is still where it started,
    # far from the Boltzmann mass of ~99 % on the left.
    g = torch.Generator().manual_seed(2)
    beta, tilt = 8.0, 0.3
    flow = StableNeuralFlow(lambda x, u=None: ((x.square() - 1).square() + tilt * x).sum(1))
    left, _, top = _tilted_boltzmann(beta, tilt)
    with torch.no_grad():
        x = langevin(flow, torch.ones(4000, 1, dtype=DT), beta, S=10.0, steps=1000, generator=g)
    assert left > 0.98
    assert (x[:, 0] < top).double().mean().item() < 0.1


def test_langevin_takes_one_temperature_per_sample():
    g = torch.Generator().manual_seed(3)
    flow = StableNeuralFlow(lambda x, u=None: 0.5 * x.square().sum(1))
    beta = torch.tensor([1.0, 4.0], dtype=DT).repeat_interleave(10000)[:, None]
    x = langevin(flow, torch.zeros(20000, 1, dtype=DT), beta, S=5.0, steps=1000, generator=g)
    assert x[:10000].var().item() == pytest.approx(1.0, rel=0.05)
    assert x[10000:].var().item() == pytest.approx(0.25, rel=0.05)
    with pytest.raises(ValueError, match="broadcast"):
        langevin(flow, torch.zeros(4, 1), torch.ones(3, 1))


def test_langevin_rejects_bad_temperature():
    flow = StableNeuralFlow(lambda x, u=None: x.square().sum(1))
    with pytest.raises(ValueError, match="beta"):
        langevin(flow, torch.zeros(3, 1), beta=0.0)


def test_training_reaches_the_energy_parameters():
    torch.manual_seed(0)
    flow = StableNeuralFlow(EnergyMLP(2, 2, (8,), "sigmoid"))
    model = FlowClassifier(flow, torch.nn.Linear(2, 2), torch.nn.Linear(2, 3), data_dependent=True, step_size=0.5)
    u = torch.randn(10, 2)
    model(u).square().sum().backward()
    for name, p in flow.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_bad_inputs_are_named():
    flow = StableNeuralFlow(EnergyMLP(2))
    with pytest.raises(ValueError, match="shape \\[batch, dim\\]"):
        flow.vector_field(torch.zeros(2))
    with pytest.raises(ValueError, match="2 features"):
        flow.vector_field(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="one value per sample"):
        StableNeuralFlow(lambda x, u: x).vector_field(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="matching"):
        StableNeuralFlow(EnergyMLP(2, 1)).vector_field(torch.zeros(4, 2), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="output"):
        EnergyMLP(2, output="relu")
    with pytest.raises(TypeError, match="callable"):
        StableNeuralFlow(3.0)


@pytest.mark.parametrize("task,gamma,seed", [("moons", 0.0, 1), ("moons", 1.0, 2), ("spirals", 1e-2, 0)])
def test_regulariser_checkpoint_metrics_recompute_from_its_weights(task, gamma, seed):
    # the chapter's regulariser study plots stored metrics: rebuild the stored models and recompute them
    from dyngeo.checkpoints import load, make_snf

    ckpt = load("snf_regulariser")
    (run,) = [r for r in ckpt["runs"] if r["task"] == task and r["gamma"] == gamma and r["seed"] == seed]
    model = (make_snf.build_moons if task == "moons" else make_snf.build_spirals)(seed)
    model.load_state_dict(run["state"])
    _, (X_test, y_test) = make_snf.moons_data() if task == "moons" else make_snf.spirals_data()
    live = make_snf.settle_metrics(model, X_test, y_test)
    for key in ("accuracy", "speed0", "speedS", "ratio"):
        assert live[key] == pytest.approx(run["final"][key], rel=1e-5, abs=1e-7), key
    # and the speed is what it claims to be: ‖f‖ at s = S from a hand-written classical RK4 (the model is
    # defined by 4 steps of 0.25; torchdiffeq's "rk4" is the 3/8-rule variant, a different discretisation)
    u = X_test if model.data_dependent else None
    f = lambda x: model.flow.vector_field(x, u).detach()  # noqa: E731
    x, h = model.h_u(X_test).detach(), 0.25
    for _ in range(4):
        k1 = f(x)
        k2 = f(x + h / 2 * k1)
        k3 = f(x + h / 2 * k2)
        k4 = f(x + h * k3)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    speedS = f(x).norm(dim=1).mean().item()
    assert speedS == pytest.approx(run["final"]["speedS"], rel=1e-4)
