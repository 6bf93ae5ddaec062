"""Checkers for the exercise set "Stable Neural Flows" (``exercises/03-stable-neural-flows``).

Each checker draws its cases from ``seed``, has the answer called through ``ask`` and judges the
plain values that come back (see :mod:`dyngeo.grading`). Energies are sent to the kernel as their
architecture and weights and rebuilt there; whatever the checker needs to know about gradients is
computed by the kernel code and returned as numbers. The expected values are computed here, with
autograd, never with the library function that the exercise asks for.
"""

import math

import torch

from ..models.snf import EnergyMLP, StableNeuralFlow
from ..ode import odeint
from . import GradingError, checker, judge

__all__ = [
    "check_gradient_field",
    "check_max_energy_increase",
    "check_port_hamiltonian_matrix",
    "check_stationarity_penalty",
    "check_horizon_gradient",
    "check_langevin_step",
]

DT = torch.float64
SNF = "dyngeo.models.snf"
NO_GRADIENT = [f"{SNF}._gradient", f"{SNF}.StableNeuralFlow.energy_gradient", f"{SNF}.StableNeuralFlow.vector_field",
               f"{SNF}.SecondOrderFlow.energy_gradient"]

# Kernel code that rebuilds the energy of a case from ``spec`` and ``state`` (or ``Q`` for a quadratic).
BUILD_ENERGY = """from dyngeo.models.snf import EnergyMLP, StableNeuralFlow
if spec["output"] == "quadratic":
    Q = Q.clone().requires_grad_(True)
    energy = lambda x, u=None: 0.5 * torch.einsum("bi,ij,bj->b", x, Q, x)
    params = [Q]
else:
    energy = EnergyMLP(spec["n_x"], spec["n_u"], tuple(spec["hidden"]), spec["output"]).double()
    energy.load_state_dict(state)
    params = list(energy.parameters())
"""


def _draw_energy(g, n_x, n_u, hidden, output, scale=0.8):
    """An EnergyMLP with weights drawn from ``g``: returns (energy, spec, state) to rebuild it in the kernel."""
    energy = EnergyMLP(n_x, n_u, hidden, output).to(DT)
    with torch.no_grad():
        for p in energy.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=g, dtype=DT))
    spec = {"n_x": n_x, "n_u": n_u, "hidden": list(hidden), "output": output}
    return energy, spec, {k: v.detach().clone() for k, v in energy.state_dict().items()}


def _quadratic(g, n):
    B = torch.randn(n, n, generator=g, dtype=DT)
    Q = (B @ B.T / n + 0.5 * torch.eye(n, dtype=DT)).requires_grad_(True)
    return (lambda x, u=None: 0.5 * torch.einsum("bi,ij,bj->b", x, Q, x)), {"output": "quadratic"}, Q


def _energies(g):
    """The test energies: (name, energy, params, inputs for the kernel, u)."""
    quad, spec, Q = _quadratic(g, 2)
    soft, soft_spec, soft_state = _draw_energy(g, 2, 0, (8,), "softplus")
    sq, sq_spec, sq_state = _draw_energy(g, 3, 1, (8,), "square", scale=0.5)
    u = torch.randn(5, 1, generator=g, dtype=DT)
    return [("ε = ½xᵀQx", quad, [Q], {"spec": spec, "Q": Q.detach(), "state": {}}, None),
            ("a softplus MLP energy ε(x)", soft, list(soft.parameters()), {"spec": soft_spec, "state": soft_state}, None),
            ("an input-dependent MLP energy ε(x, u)", sq, list(sq.parameters()), {"spec": sq_spec, "state": sq_state}, u)]


def _field(energy, x, u, create_graph=False):
    with torch.enable_grad():
        x = x if x.requires_grad else x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(energy(x, u).sum(), x, create_graph=create_graph)
    return -g


@checker(points=2, target="gradient_field", forbid=NO_GRADIENT)
def check_gradient_field(ask, seed):
    """-∂ₓε for a batch: right values, per sample, under no_grad, and differentiable in x and the weights."""
    g = torch.Generator().manual_seed(seed)
    for name, energy, params, inputs, u in _energies(g):
        n = 3 if name.startswith("an input") else 2
        x = torch.randn(5, n, generator=g, dtype=DT)
        case = f"{name} on a batch of 5 states"
        got = ask(BUILD_ENERGY + "result = answer(energy, x.clone(), u)", case=case, x=x, u=u, **inputs)
        expected = _field(energy, x, u).detach()
        judge.close(got, expected, "the field", case=case, rtol=1e-6, atol=1e-9, hints=[
            (expected / 5, "the field is 5 times too small for a batch of 5: differentiate the sum of the energies, "
             "not their mean"),
            (-expected / 5, "differentiate the sum of the energies, not their mean, and mind the sign (ẋ = −∂ₓε)")])

        # Training: x comes from earlier computations (a solver's previous steps, an encoder) and the energy has weights.
        w = torch.randn(5, n, generator=g, dtype=DT)
        info = ask(BUILD_ENERGY +
                   "x_in = x.clone().requires_grad_(True)\n"
                   "out = answer(energy, x_in * 1.0, u)\n"
                   "result = {'graph': isinstance(out, torch.Tensor) and out.requires_grad}\n"
                   "if result['graph']:\n"
                   "    grads = torch.autograd.grad((out * w).sum(), [x_in] + params, allow_unused=True)\n"
                   "    result['dx'], result['dw'] = grads[0], list(grads[1:])\n",
                   case=case + ", x requiring grad", x=x, u=u, w=w, **inputs)
        x_in = x.clone().requires_grad_(True)
        out = _field(energy, x_in * 1.0, u, create_graph=True)
        want = torch.autograd.grad((out * w).sum(), [x_in] + params)
        if not info["graph"]:
            raise GradingError(f"for {case}, the field is cut from the autograd graph: a flow built on it could not "
                               "train; differentiate with create_graph=True and do not detach the result")
        if info["dx"] is None:
            raise GradingError(f"for {case}, the field does not depend on the input x in the autograd graph: you "
                               "detach x even when it already requires grad, so gradients never reach what x came "
                               "from (earlier steps of the flow, an encoder); detach only an x that does not require "
                               "grad")
        judge.close(info["dx"], want[0], "the gradient of Σ w·field with respect to the input x", case=case,
                    rtol=1e-6, atol=1e-9, hints=[(0 * want[0], "x is detached inside your field")])
        for k, (dw, expected_dw) in enumerate(zip(info["dw"], want[1:])):
            if dw is None:
                raise GradingError(f"for {case}, the loss gradient does not reach the energy's weights: "
                                   "differentiate with create_graph=True")
            judge.close(dw, expected_dw, f"the gradient of Σ w·field with respect to weight tensor {k}", case=case, rtol=1e-6, atol=1e-9)

    name, energy, _, inputs, u = _energies(g)[1]
    x = torch.randn(7, 2, generator=g, dtype=DT)
    case = f"{name} on a batch of 7 states, called under torch.no_grad()"
    got = ask(BUILD_ENERGY +
              "with torch.no_grad():\n"
              "    try:\n"
              "        result = {'value': answer(energy, x.clone(), None)}\n"
              "    except NotImplementedError:\n"
              "        raise\n"
              "    except Exception as error:\n"
              "        result = {'error': f'{type(error).__name__}: {error}'}\n", case=case, x=x, **inputs)
    if "error" in got:
        raise GradingError(f"the field fails under torch.no_grad() ({got['error'][:300]}): plotting and evaluation "
                           "code calls it there; compute it inside torch.enable_grad()")
    judge.close(got.get("value"), _field(energy, x, None).detach(), "the field", case=case, rtol=1e-6, atol=1e-9)


BUILD_FLOW = BUILD_ENERGY + "flow = StableNeuralFlow(energy, None if A is None else (lambda: A))\n"


def _energies_along(flow, x0, S, steps, method="rk4", points=None):
    points = steps + 1 if points is None else points
    with torch.no_grad():
        traj = odeint(flow.field(), x0, torch.linspace(0, S, points, dtype=DT), method, step_size=S / steps)
        return flow.energy(traj.reshape(-1, x0.shape[1])).reshape(points, -1)


@checker(points=2, target="max_energy_increase")
def check_max_energy_increase(ask, seed):
    """The largest increase of ε between consecutive depths along every trajectory of a flow."""
    g = torch.Generator().manual_seed(seed)
    energy, spec, state = _draw_energy(g, 2, 0, (16,), "softplus", scale=0.7)
    x0 = 2 * torch.randn(24, 2, generator=g, dtype=DT)
    skew = torch.randn(2, 2, generator=g, dtype=DT)
    skew = skew - skew.T
    for A, name in ((None, "a stable flow ẋ = −∂ₓε"),
                    (-0.5 * torch.eye(2, dtype=DT) + skew, "a port-Hamiltonian flow ẋ = A∂ₓε with A + Aᵀ ≺ 0"),
                    (0.5 * torch.eye(2, dtype=DT) + skew, "a flow ẋ = A∂ₓε that climbs the energy (A + Aᵀ ≻ 0)")):
        flow = StableNeuralFlow(energy, None if A is None else (lambda A=A: A))
        S = 0.3 + 0.5 * torch.rand((), generator=g).item()
        steps = int(torch.randint(10, 25, (), generator=g))
        case = f"{name}, 24 states, S = {S:.3f}, {steps} steps"
        got = ask(BUILD_FLOW + "result = answer(flow, x0.clone(), S, steps)", case=case, spec=spec, state=state,
                  A=A, x0=x0, S=S, steps=steps)
        e = _energies_along(flow, x0, S, steps)
        expected = (e[1:] - e[:-1]).max().item()
        hints = [((e[-1] - e[0]).max().item(), "you compared only the two ends; compare every pair of consecutive "
                  "depths"),
                 ((e[:, 1:] - e[:, :-1]).max().item(), "you took differences across the batch; take them along depth "
                  "(dimension 0)"),
                 ((e[1:] - e[:-1]).min().item(), "you took the smallest change; take the largest"),
                 ((e[1:] - e[:-1]).abs().max().item(), "you took the largest absolute change; an increase keeps its "
                  "sign"),
                 ((e[1:] - e[:-1]).sum(1).max().item(), "you summed the changes over the batch; take the largest "
                  "change of a single sample"),
                 ((e[1:] - e[:-1]).mean(1).max().item(), "you averaged the changes over the batch; take the largest "
                  "change of a single sample"),
                 ((lambda f: (f[1:] - f[:-1]).max().item())(_energies_along(flow, x0, S, steps, "euler")),
                  "this is what Euler steps give; integrate with method=\"rk4\""),
                 ((lambda f: (f[1:] - f[:-1]).max().item())(_energies_along(flow, x0, S, steps - 1)),
                  "off-by-one grid: use steps + 1 depths (steps intervals), torch.linspace(0, S, steps + 1)")]
        judge.close_number(got, expected, "the largest increase", case=case,
                   rtol=1e-6, atol=1e-9 * max(1.0, e.abs().max().item()), hints=hints)


def _port_hamiltonian(L, M, delta):
    return -(L @ L.T + delta * torch.eye(L.shape[0], dtype=L.dtype)) + (M - M.T) / 2


@checker(points=2, target="port_hamiltonian_matrix", forbid=[f"{SNF}.NegativeDefinite.forward"])
def check_port_hamiltonian_matrix(ask, seed):
    """A = -(LLᵀ + δI) + (M - Mᵀ)/2: A + Aᵀ ≺ 0 for any L and M, even a rank-deficient L."""
    g = torch.Generator().manual_seed(seed)
    cases = [("a rank-1 3 x 3 L", torch.outer(torch.randn(3, generator=g, dtype=DT), torch.randn(3, generator=g, dtype=DT)),
              torch.randn(3, 3, generator=g, dtype=DT))]
    cases += [(f"random {n} x {n} L and M", torch.randn(n, n, generator=g, dtype=DT), torch.randn(n, n, generator=g,
                                                                                                    dtype=DT))
              for n in (3, 5)]
    for what, L, M in cases:
        delta = 0.05 + 0.3 * torch.rand((), generator=g).item()
        n = L.shape[0]
        case = f"{what}, δ = {delta:.3f}"
        got = ask("answer(L.clone(), M.clone(), delta)", case=case, L=L, M=M, delta=delta)
        eye = torch.eye(n, dtype=DT)
        expected = _port_hamiltonian(L, M, delta).numpy()  # an array: NumPy answers are fine too
        judge.close(got, expected, "A", case=case, rtol=1e-6, atol=1e-9, hints=[
            ((M - M.T) / 2, "only the skew part: A also needs the dissipative part −(LLᵀ + δI)"),
            (-(L @ L.T) + (M - M.T) / 2, "δI is missing: with a rank-deficient L, A + Aᵀ = −2LLᵀ is only "
             "semidefinite"),
            (-(L @ L.T + delta * eye), "the skew-symmetric part (M − Mᵀ)/2 is missing"),
            (-(L @ L.T + delta * eye) + (M + M.T) / 2, "(M + Mᵀ)/2 is symmetric; the rotation part is the "
             "skew-symmetric (M − Mᵀ)/2"),
            (-(L.T @ L + delta * eye) + (M - M.T) / 2, "you computed LᵀL; the formula has LLᵀ"),
            (-(L @ L.T + delta * eye) + (M - M.T), "the ½ of the skew part is missing"),
            (L @ L.T + delta * eye + (M - M.T) / 2, "the sign of the dissipative part: it is −(LLᵀ + δI)"),
            (-(L @ L.T + delta) + (M - M.T) / 2, "δ is added to every entry; add δ times the identity")])


BUILD_PLAIN_FLOW = BUILD_ENERGY + "flow = StableNeuralFlow(energy)\n"


@checker(points=1, target="stationarity_penalty", forbid=[f"{SNF}.stationarity_penalty"])
def check_stationarity_penalty(ask, seed):
    """(γ/2)‖f(x(S))‖² averaged over the batch (eq. 26), as a tensor that keeps its autograd graph."""
    g = torch.Generator().manual_seed(seed)
    for n, output in ((2, "softplus"), (3, "sigmoid")):
        energy, spec, state = _draw_energy(g, n, 0, (8,), output)
        params = list(energy.parameters())
        B = int(torch.randint(4, 9, (), generator=g))
        x_S = torch.randn(B, n, generator=g, dtype=DT)
        gamma = 0.05 + torch.rand((), generator=g).item()
        case = f"a flow ẋ = −∂ₓε with a {output} MLP energy, {B} states, γ = {gamma:.3f}"
        info = ask(BUILD_PLAIN_FLOW +
                   "p = answer(flow, x_S.clone(), gamma)\n"
                   "result = {'value': p, 'graph': isinstance(p, torch.Tensor) and p.requires_grad}\n"
                   "if result['graph'] and p.numel() == 1:\n"
                   "    result['dw'] = list(torch.autograd.grad(p.sum(), params, allow_unused=True))\n",
                   case=case, spec=spec, state=state, x_S=x_S, gamma=gamma)
        f = _field(energy, x_S, None, create_graph=True)  # eq. 2: f = −∂ₓε
        sq = f.square().sum(1)
        expected = 0.5 * gamma * sq.mean()
        value = info["value"]
        if isinstance(value, torch.Tensor) and value.numel() != 1:
            raise GradingError(f"for {case} the penalty should be one number for the batch; got {judge.describe(value)}"
                               ": average the per-sample penalties")
        s = sq.detach()
        judge.close_number(value, expected.item(), "the penalty", case=case, rtol=1e-6, atol=1e-12, hints=[
            (gamma * s.mean().item(), "twice too large: the penalty is γ/2 times the squared norm"),
            (0.5 * gamma * s.sum().item(), "summed over the batch; average it, like the loss"),
            (0.5 * gamma * s.sqrt().mean().item(), "use the squared norm ‖f‖², not the norm"),
            (0.5 * gamma * f.detach().square().mean().item(), "you averaged over the coordinates too: sum the "
             "squares over the coordinates of each state, then average over the batch")])
        if not isinstance(value, torch.Tensor):
            raise GradingError(f"for {case} the penalty is {judge.describe(value)}; return a 0-dimensional tensor that "
                               "keeps its autograd graph, so that it can be added to a loss (no .item())")
        if not info["graph"]:
            raise GradingError(f"for {case} the penalty carries no gradient: it was computed under torch.no_grad() or "
                               "detached, so adding it to the loss would not train anything; compute it with gradients "
                               "recorded")
        want = torch.autograd.grad(expected, params)
        for k, (dw, expected_dw) in enumerate(zip(info["dw"], want)):
            if dw is None:
                raise GradingError(f"for {case} the penalty's gradient does not reach the energy's weights")
            judge.close(dw, expected_dw, f"the gradient of the penalty with respect to weight tensor {k}", case=case, rtol=1e-6, atol=1e-10)


@checker(points=2, target="horizon_gradient", forbid=[f"{SNF}.horizon_gradient"])
def check_horizon_gradient(ask, seed):
    """dℓ/dS = -∂ℓ/∂x(S) · ∂ₓε(x(S)) (eq. 24), summed over the batch; checked against a finite difference in S."""
    g = torch.Generator().manual_seed(seed)
    quad, qspec, Q = _quadratic(g, 2)
    square, sq_spec, sq_state = _draw_energy(g, 2, 0, (8,), "square", scale=0.5)
    soft, soft_spec, soft_state = _draw_energy(g, 3, 0, (8,), "softplus")
    for name, energy, inputs, n in (("ε = ½xᵀQx", quad, {"spec": qspec, "Q": Q.detach(), "state": {}}, 2),
                                    ("a squared MLP energy", square, {"spec": sq_spec, "state": sq_state}, 2),
                                    ("a softplus MLP energy", soft, {"spec": soft_spec, "state": soft_state}, 3)):
        B = int(torch.randint(3, 8, (), generator=g))
        x0, target = torch.randn(B, n, generator=g, dtype=DT), torch.randn(B, n, generator=g, dtype=DT)
        S = 0.4 + 0.6 * torch.rand((), generator=g).item()
        flow = StableNeuralFlow(energy)
        with torch.no_grad():
            x_S = odeint(flow.field(), x0, torch.tensor([0.0, S], dtype=DT), "rk4", step_size=S / 50)[-1]
        dl = x_S - target  # ℓ = ½‖x(S) − target‖²
        case = f"{name}, {B} states, ℓ = ½‖x(S) − target‖², S = {S:.3f}"
        got = ask(BUILD_ENERGY + "result = answer(energy, x_S.clone(), dl_dxS.clone())", case=case, x_S=x_S, dl_dxS=dl,
                  **inputs)
        grad = -_field(energy, x_S, None).detach()
        expected = -(dl * grad).sum().item()
        e = energy(x_S).detach()
        judge.close_number(got, expected, "dℓ/dS", case=case, rtol=1e-6, atol=1e-9, hints=[
            (-expected, "the sign is flipped: the flow goes down the gradient, ẋ = −∂ₓε"),
            (-(e * dl.sum(1)).sum().item(), "you used the energy instead of its gradient ∂ₓε"),
            (expected / B, "you averaged over the batch; sum over it"),
            (-(dl * grad).sum(1).mean().item(), "you averaged over the batch; sum over it")])


BUILD_GRAD = """if kind == "quadratic":
    grad = lambda x: x @ Q.T
else:
    grad = lambda x: x**3 - x + torch.sin(3 * x)
"""


def _grad(kind, Q):
    return (lambda x: x @ Q.T) if kind == "quadratic" else (lambda x: x**3 - x + torch.sin(3 * x))


@checker(points=2, target="langevin_step", forbid=[f"{SNF}.langevin"])
def check_langevin_step(ask, seed):
    """One Euler-Maruyama step of eq. 6, and the harmonic-well variance 1/β it leads to."""
    g = torch.Generator().manual_seed(seed)
    Q = torch.randn(2, 2, generator=g, dtype=DT) + 2 * torch.eye(2, dtype=DT)
    for kind, scale, ds in (("quadratic", 1.0, 0.01 + 0.04 * torch.rand((), generator=g).item()),
                            ("double-well", 1.0, 0.001 + 0.01 * torch.rand((), generator=g).item()),
                            ("quadratic", 100.0, 1e-8)):  # far from the minimum, tiny step: precision matters
        beta = 0.5 + 3 * torch.rand((), generator=g).item()
        x = scale * torch.randn(6, 2, generator=g, dtype=DT)
        xi = torch.randn(6, 2, generator=g, dtype=DT)
        case = (f"ε with ∂ₓε = {'Qx' if kind == 'quadratic' else 'x³ − x + sin 3x'}, {6} states of size ~{scale:g}, "
                f"ds = {ds:.3g}, β = {beta:.3f}")
        raw = ask(BUILD_GRAD + "result = answer(x.clone(), grad, ds, beta, xi.clone())", case=case, kind=kind, Q=Q,
                  x=x, ds=ds, beta=beta, xi=xi)
        grad = _grad(kind, Q)
        got = judge.tensor(raw, f"the step ({case})", shape=x.shape)
        increment = x - ds * grad(x) + math.sqrt(2 * ds / beta) * xi - x
        scale_inc = increment.abs().max().item()
        try:
            judge.close(got - x, increment, "the change x_next − x", case=case, rtol=1e-6, atol=1e-7 * scale_inc,
                       hints=[(-ds * grad(x) + math.sqrt(2 / beta) * ds * xi, "the noise is scaled by Δs; a Wiener "
                               "increment has standard deviation √Δs: multiply ξ by √(2Δs/β)"),
                              (-ds * grad(x) + math.sqrt(2 * ds * beta) * xi, "the noise variance is 2βΔs; it should "
                               "be 2Δs/β (β is an inverse temperature)"),
                              (-ds * grad(x) + math.sqrt(ds / beta) * xi, "the factor 2 under the square root is "
                               "missing: the noise is √(2Δs/β) ξ"),
                              (-ds * grad(x) + (2 * ds / beta) * xi, "the square root is missing: the noise is "
                               "√(2Δs/β) ξ"),
                              (ds * grad(x) + math.sqrt(2 * ds / beta) * xi, "the drift has the wrong sign: the step "
                               "goes down the gradient, x − Δs ∂ₓε"),
                              (-ds * grad(x), "the noise term is missing"),
                              (-grad(x) + math.sqrt(2 * ds / beta) * xi, "the drift is not multiplied by Δs")])
        except GradingError as error:
            if isinstance(raw, torch.Tensor) and raw.dtype != torch.float64:
                raise GradingError(f"{error}. Your step returned a {str(raw.dtype).replace('torch.', '')} tensor for "
                                   "float64 inputs: keep the dtype of x (no .float(), and give torch.tensor(...) "
                                   "dtype=x.dtype)") from None
            raise
    # many steps in ε = x²/2 from x = 0: the spread approaches the Boltzmann variance 1/β
    beta = 2.0 + 4 * torch.rand((), generator=g).item()
    out = ask("gen = torch.Generator().manual_seed(s)\n"
              "xs = torch.zeros(4000, 1, dtype=torch.float64)\n"
              "for _ in range(400):\n"
              "    xs = answer(xs, lambda x: x, 0.01, beta, torch.randn(xs.shape, generator=gen, dtype=torch.float64))\n"
              "result = xs", case=f"400 steps of ds = 0.01 in ε = x²/2 with β = {beta:.3f}", beta=beta, s=seed)
    xs = judge.tensor(out, "the samples after 400 steps", shape=(4000, 1))
    var = xs.var().item()
    if abs(var * beta - 1) > 0.1:
        raise GradingError(f"after 400 steps of ds = 0.01 in ε = x²/2 with β = {beta:.3f}, the variance of 4000 samples "
                           f"is {var:.4f}, but the Boltzmann law gives 1/β = {1 / beta:.4f}")
