"""Every model and geometric tool of dyngeo runs forward and backward on CUDA in float32 and agrees with
its CPU result within float32 tolerance (``make test-gpu``; skipped with one line without a GPU).

Each case builds its module and inputs on the CPU from one seed, then runs once on the CPU and once on
the GPU: the outputs, and the gradients of a fixed random projection of the outputs with respect to the
parameters and the floating-point inputs, must agree (integer and boolean outputs exactly).
``DYNGEO_PARITY_DEVICE=cpu`` runs the same comparison CPU against CPU, to check the cases themselves on a
machine without a GPU. Tools that work in NumPy/SciPy by design (region enumeration, LPs, k-NN trees,
persistent homology) have no GPU path and are listed in ``CPU_ONLY``; ``test_every_public_tool_is_covered``
names any new model or tool that is in neither list.
"""

import importlib
import inspect
import os
import pkgutil
import warnings

import pytest
import torch
from torch import nn

DEVICE = os.environ.get("DYNGEO_PARITY_DEVICE", "cuda")
if DEVICE == "cuda" and not torch.cuda.is_available():
    pytest.skip("no CUDA device: the GPU parity checks (make test-gpu) need one", allow_module_level=True)

RTOL, ATOL = 2e-3, 1e-5  # float32, after a few dozen solver steps: |cpu - gpu| <= ATOL + RTOL * max|cpu|


def _mod(build, *inputs, call=None, grad_inputs=True):
    """A case from a module builder: the module and its inputs go to the device; we differentiate with
    respect to every trainable parameter and every floating-point input."""

    def case(dev):
        torch.manual_seed(0)
        m = build().to(dev)
        xs = [x.to(dev).requires_grad_(grad_inputs and x.is_floating_point()) for x in inputs]
        out = (call or (lambda mm, *a: mm(*a)))(m, *xs)
        wrt = [p for p in m.parameters() if p.requires_grad] + [x for x in xs if x.requires_grad]
        return out, wrt

    return case


def _fn(fn, *inputs, grad=True):
    """A case from a function of tensors."""

    def case(dev):
        xs = [x.to(dev).requires_grad_(grad and x.is_floating_point()) for x in inputs]
        return fn(*xs), [x for x in xs if x.requires_grad]

    return case


def _g():
    return torch.Generator().manual_seed(5)  # a CPU generator: the same draws on every device (dyngeo.rng.draw)


def _x(*shape, seed=0, low=None):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    return x.sigmoid() if low == 0 else x


def _cases():
    from dyngeo.attacks import fgsm, pgd
    from dyngeo.geometry import embeddings, knn_graph, local_linear, manifold_risk, relu, rsa, subspaces
    from dyngeo.models import akorn as ak
    from dyngeo.models import ncode as nc
    from dyngeo.models import snf
    from dyngeo.models.node import MLPField, NeuralODE
    from dyngeo.models.sanode import (SANODE, accuracy95, line_attractors, mse_curve, nearest_attractor, overlap,
                                      sign_similarity)
    from dyngeo.ode import odeint
    from dyngeo.ode.adjoint import odeint_adjoint
    from dyngeo.reproduce.akorn import ConvAKOrN

    field = lambda: MLPField(3, hidden=16)  # noqa: E731
    mlp = lambda: relu.mlp([6, 16, 16, 3], seed=0)  # noqa: E731
    cases = {
        # dyngeo.ode
        **{f"odeint {m}": _mod(field, _x(5, 3), call=lambda f, y, m=m: odeint(f, y, torch.linspace(0, 1, 3, device=y.device),
                                                                                   m, **({"step_size": 0.1} if m != "dopri5" else {})))
           for m in ("euler", "midpoint", "rk4", "dopri5")},
        "odeint_adjoint rk4": _mod(field, _x(5, 3), call=lambda f, y: odeint_adjoint(
            f, y, torch.linspace(0, 1, 3, device=y.device), "rk4", params=list(f.parameters()), step_size=0.1)),
        # chapter 1: neural ODEs
        "NeuralODE": _mod(lambda: NeuralODE(field()), _x(5, 3)),
        "NeuralODE adjoint": _mod(lambda: NeuralODE(field(), adjoint=True), _x(5, 3)),
        # chapter 2: SA-nODE
        "SANODE forward": _mod(lambda: SANODE(line_attractors(3, 12, dtype=torch.float32)), 0.5 * _x(4, 12).tanh(),
                               call=lambda m, x: m(x, T=2.0, dt=0.1)),
        "SANODE loss + penalty": _mod(lambda: SANODE(line_attractors(3, 12, dtype=torch.float32)), 0.5 * _x(4, 12).tanh(),
                                      call=lambda m, x: m.loss(x, torch.tensor([0, 1, 2, 0], device=x.device), 2.0, 0.1)
                                      + 0.01 * m.orthogonality_penalty()),
        "SANODE reverse (rk4)": _mod(lambda: SANODE(line_attractors(3, 12, dtype=torch.float32)), 0.5 * _x(4, 12).tanh(),
                                     call=lambda m, x: m.reverse(x, T=0.5, dt=0.05)),
        # chapter 3: stable neural flows
        "StableNeuralFlow": _mod(lambda: snf.StableNeuralFlow(snf.EnergyMLP(2, hidden=(16, 16))), _x(5, 2)),
        "StableNeuralFlow + NegativeDefinite": _mod(lambda: snf.StableNeuralFlow(
            snf.EnergyMLP(2, hidden=(16, 16)), snf.NegativeDefinite(2, mode="full")), _x(5, 2)),
        "FlowClassifier (data-dependent)": _mod(lambda: snf.FlowClassifier(
            snf.StableNeuralFlow(snf.EnergyMLP(2, n_u=3, hidden=(16,))), nn.Linear(3, 2), nn.Linear(2, 2),
            data_dependent=True), _x(5, 3)),
        # chapter 4: N-CODE
        **{f"N-CODE image classifier: {k}": _mod(lambda k=k: nc.image_classifiers((1, 8, 8), augment=2, width=4,
                                                                                      step_size=0.5)[k], _x(3, 1, 8, 8, low=0))
           for k in ("NODE", "ANODE", "N-CODE")},
        "N-CODE closed loop": _mod(lambda: (lambda f: nc.NCODE(f, nc.ConstantControl(f.K), (2,),
                                                               g=nc.FeedbackController(f.K, 2, hidden=8)))(
            nc.ParamTemplate(MLPField(2, hidden=8, depth=1))), _x(5, 2)),
        "AutoNCODE": _mod(lambda: nc.AutoNCODE(nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 8)),
                                               nn.Sequential(nn.Linear(4, 6), nn.Sigmoid()), 4), _x(5, 6, low=0)),
        # chapter 5: AKOrN
        **{f"AKOrNClassifier {k}": _mod(lambda kw=kw: ak.AKOrNClassifier(channels=8, **kw), _x(3, 1, 8, 8, low=0),
                                        call=lambda m, x: m(x, generator=_g(), return_energy=True))
           for k, kw in (("N=2", {"n": 2}), ("N=4", {"n": 4}), ("no Proj", {"n": 2, "project": False}))},
        "SmallCNN": _mod(lambda: ak.SmallCNN(channels=8), _x(3, 1, 8, 8, low=0)),
        "SudokuAKOrN": _mod(lambda: ak.SudokuAKOrN(channels=16, heads=2, T=3), torch.tensor([[[1, 0, 0, 4], [0, 4, 1, 0],
                                                                                               [2, 0, 0, 3], [0, 3, 2, 0]]]),
                            call=lambda m, b: m(b, generator=_g(), return_energy=True)),
        "SudokuAKOrN, ItrSA": _mod(lambda: ak.SudokuAKOrN(channels=16, heads=2, T=3, kuramoto=False),
                                   torch.tensor([[[1, 0, 0, 4], [0, 4, 1, 0], [2, 0, 0, 3], [0, 3, 2, 0]]])),
        **{f"ObjectAKOrN {k}": _mod(lambda kur=kur: ak.ObjectAKOrN(size=16, patch=4, channels=16, heads=2, T=2, blocks=2,
                                                                   kuramoto=kur), _x(2, 3, 16, 16, low=0),
                                    call=lambda m, x: m(x, generator=_g()))
           for k, kur in (("Kuramoto", True), ("ItrSA", False))},
        "kuramoto rollout, dense J": _mod(lambda: ak.DenseJ(8), ak.normalize(_x(3, 8), 2), _x(3, 8),
                                          call=lambda J, x, c: ak.rollout(x, c, J, ak.SkewOmega(2).to(x.device), 0.5, 2, T=4)),
        "Kuramoto phases": _fn(lambda th, om, J: ak.phase_rhs(th, om, J), _x(4, 6), _x(6), _x(6, 6)),
        "AverageLogProbs (EoT)": _mod(lambda: ak.AverageLogProbs(ak.AKOrNClassifier(channels=8), samples=2),
                                      _x(3, 1, 8, 8, low=0), call=lambda m, x: torch.stack(
                                          [torch.nn.functional.log_softmax(m.model(x, generator=_g()), -1)] * 2).mean(0)),
        "ConvAKOrN (reproduce, Table 4)": _mod(lambda: ConvAKOrN(channels=(8, 8, 8)), _x(2, 3, 32, 32, low=0),
                                               call=lambda m, x: m(x, generator=_g())),
        # attacks (used on top of every classifier)
        "fgsm": _mod(mlp, _x(4, 6, low=0), call=lambda m, x: fgsm(m, x, torch.tensor([0, 1, 2, 0], device=x.device), 0.1),
                     grad_inputs=False),
        "pgd": _mod(mlp, _x(4, 6, low=0), call=lambda m, x: pgd(m, x, torch.tensor([0, 1, 2, 0], device=x.device), 0.1,
                                                                 steps=5, random_start=True, generator=_g()),
                    grad_inputs=False),
        # chapter 6: ReLU polyhedra and local linear maps
        "relu.mlp forward": _mod(mlp, _x(7, 6)),
        "relu.activation_patterns": _mod(mlp, _x(7, 6), call=lambda m, x: relu.activation_patterns(m, x), grad_inputs=False),
        "relu.hamming": _fn(lambda a, b: relu.hamming(a > 0, b > 0), _x(5, 30), _x(4, 30, seed=1), grad=False),
        "local_linear_maps": _mod(mlp, _x(7, 6), call=lambda m, x: local_linear.local_linear_maps(m, x), grad_inputs=False),
        # chapter 8: subspaces
        "principal_angles": _fn(lambda X, Y: subspaces.principal_angles(X, Y), _x(3, 10, 3), _x(3, 10, 2, seed=1)),
        "grassmann_distance": _fn(lambda X, Y: subspaces.grassmann_distance(X, Y), _x(10, 3), _x(10, 3, seed=1)),
        "orthonormal_basis": _fn(lambda V: subspaces.orthonormal_basis(V), _x(10, 3), grad=False),
        "SVBFNode": _mod(lambda: subspaces.SVBFNode(10, 2, 4, l=3, dtype=torch.float32), _x(4, 10, 3),
                         call=lambda m, Xs: m.loss(Xs)),
        # chapters 9-10: representational geometry and linear maps between embeddings
        "rsa.rdm": _fn(lambda V: rsa.rdm(V), _x(6, 12), grad=False),
        "rsa.layer_rdms": _mod(mlp, _x(7, 6), call=lambda m, x: list(rsa.layer_rdms(m, x).values()), grad_inputs=False),
        "embeddings.embed + fit_linear_map": _mod(mlp, _x(20, 6), call=lambda m, x: embeddings.fit_linear_map(
            embeddings.embed(m, x), x, ridge=1e-3)),
        "knn_graph.knn_adjacency": _fn(lambda X: knn_graph.knn_adjacency(X, 3), _x(12, 4), grad=False),
        "SecondOrderFlow": _mod(lambda: snf.SecondOrderFlow(snf.EnergyMLP(2, hidden=(16,))), _x(5, 4)),
        "langevin": _mod(lambda: snf.StableNeuralFlow(snf.EnergyMLP(2, hidden=(16,))), _x(5, 2),
                         call=lambda f, x: snf.langevin(f, x, 10.0, steps=5, generator=_g())),
        "SA-nODE read-outs": _mod(lambda: SANODE(line_attractors(3, 12, dtype=torch.float32)), 0.5 * _x(6, 12).tanh(),
                                  call=lambda m, x: (lambda xT, y: (m.jacobian_spectrum(), torch.tensor(accuracy95(xT, m.attractors, y)),
                                                                    sign_similarity(xT, m.attractors, y), overlap(xT, m.attractors, y),
                                                                    nearest_attractor(xT, m.attractors),
                                                                    mse_curve(m.trajectory(x, T=1.0), m.attractors, y)))(
                                      m(x, T=1.0), torch.tensor([0, 1, 2, 0, 1, 2], device=x.device))),
        "Kuramoto order parameters, released step, energy vote": _fn(
            lambda x, c, th: (ak.vector_order_parameter(ak.normalize(x, 2), 2), ak.order_parameter(th),
                              ak.released_step(ak.normalize(x, 2), c, ak.DenseJ(8).to(x.device), 0.5, 2),
                              ak.vector_to_phase(ak.phase_to_vector(th)).cos(),
                              ak.energy_vote(x.detach()[None].expand(3, -1, -1), torch.arange(12., device=x.device).view(3, 4))),
            _x(4, 8), _x(4, 8, seed=1), _x(4, 6, seed=2)),
        "Schubert distance, flag mean, SVBF objective, PCA basis": _fn(
            lambda V, W, Xs: (subspaces.schubert_distance(subspaces.orthonormal_basis(V), subspaces.orthonormal_basis(W), 1),
                              subspaces.flag_mean(Xs, 2).abs(), subspaces.svbf_objective(Xs, subspaces.orthonormal_basis(V)),
                              subspaces.pca_basis(W, 2).abs()),
            _x(10, 2), _x(10, 3, seed=1), _x(4, 10, 3, seed=2), grad=False),
        "RDM comparison and Fiedler partition": _fn(lambda V, W: (rsa.compare_rdms(rsa.rdm(V), rsa.rdm(W)),
                                                                  rsa.fiedler_partition(rsa.rdm(V))), _x(8, 12), _x(8, 12, seed=1),
                                                    grad=False),
        "tangent and normal parts": _fn(lambda v, A: (manifold_risk.tangent_part(v, torch.linalg.qr(A)[0]),
                                                      manifold_risk.normal_part(v, torch.linalg.qr(A)[0])), _x(4, 6), _x(4, 6, 2)),
        "embedding map, MSE, Fourier features": _fn(lambda X, Y: (embeddings.embedding_mse(embeddings.apply_map(
            embeddings.fit_linear_map(X, Y), X), Y), embeddings.fourier_features(X)), _x(20, 6), _x(20, 4, seed=1), grad=False),
        "kNN-graph spectral distance": _fn(lambda X, Y: torch.as_tensor(knn_graph.spectral_distance(X, Y, 3)), _x(12, 4),
                                           _x(12, 4, seed=1), grad=False),
        # Part II generative models
        "RealNVP": _mod(lambda: __import__("dyngeo.models.flows", fromlist=["RealNVP"]).RealNVP(4, n_layers=2, hidden=16),
                        _x(5, 4)),
        "VAE elbo": _mod(lambda: __import__("dyngeo.models.vae", fromlist=["VAE"]).VAE(6, 2, hidden=(16,)), _x(5, 6, low=0),
                         call=lambda m, x: m.elbo(x, generator=_g())),
        "GridVAE elbo": _mod(lambda: __import__("dyngeo.models.gridvae", fromlist=["GridVAE"]).GridVAE(6, 2, hidden=(16,)),
                             _x(5, 6, low=0), call=lambda m, x: m.elbo(x, generator=_g())),
        "VAEClassifier": _mod(lambda: __import__("dyngeo.models.gridvae", fromlist=["VAEClassifier"]).VAEClassifier(
            6, 2, 3, hidden=(16,)), _x(5, 6, low=0)),
        "TinyUNet": _mod(lambda: __import__("dyngeo.models.unet", fromlist=["TinyUNet"]).TinyUNet(base=8, time_dim=16),
                         _x(2, 1, 8, 8), torch.tensor([3.0, 10.0]), call=lambda m, x, t: m(x, t.detach())),
        "MRML Autoencoder": _mod(lambda: __import__("dyngeo.models.mrml", fromlist=["Autoencoder"]).Autoencoder(
            6, latent=2, hidden=(16,)), _x(5, 6)),
        # chapter 12: manifold risk
        "manifold_risk.decoder_tangent": _mod(lambda: nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 5)), _x(4, 2),
                                              call=lambda m, z: manifold_risk.decoder_tangent(m, z).abs(), grad_inputs=False),
    }
    return cases


CASES = _cases()

#: public tools that run in NumPy / SciPy / LP solvers by design: no GPU path to compare
CPU_ONLY = {"relu.hrep", "relu.local_affine", "relu.facets", "relu.chebyshev_center", "relu.neighbours",
            "relu.enumerate_regions", "relu.dual_edges", "relu.bisection_walk", "relu.region_polygon", "relu.draw_regions",
            "relu.relu_layers", "tangent.*", "diffusion.*", "topology.*", "local_linear.kmeans_maps",
            "local_linear.classify_with_centres", "local_linear.classify_with_maps", "local_linear.fit_affine_map"}


def _flat(out):
    """The tensors of a (nested) output; plain numbers and arrays become CPU tensors."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _flat(o)]
    return [torch.as_tensor(out)]


def _evaluate(case, device):
    torch.manual_seed(0)
    out, wrt = case(torch.device(device))
    outs = _flat(out)
    diff = [o for o in outs if o.is_floating_point() and o.requires_grad]
    grads = []
    if wrt and diff:
        g = torch.Generator().manual_seed(1)
        loss = sum((o * torch.randn(o.shape, generator=g, dtype=o.dtype).to(o.device)).sum() for o in diff)
        grads = torch.autograd.grad(loss, wrt, allow_unused=True)
    where = next((o.device for o in outs if o.device.type != "cpu"), outs[0].device)
    return [o.detach().cpu() for o in outs], [None if t is None else t.detach().cpu() for t in grads], where


def _close(a, b, what):
    assert a.shape == b.shape and a.dtype == b.dtype, f"{what}: {a.shape}/{a.dtype} vs {b.shape}/{b.dtype}"
    if not a.is_floating_point():
        assert torch.equal(a, b), f"{what}: {(a != b).sum().item()} entries differ"
        return
    err, scale = (a - b).abs().max().item() if a.numel() else 0.0, b.abs().max().item() if b.numel() else 0.0
    assert err <= ATOL + RTOL * scale, f"{what}: max |gpu - cpu| = {err:.3g} for values up to {scale:.3g}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_and_backward_agree_with_cpu(name):
    ref_out, ref_grad, _ = _evaluate(CASES[name], "cpu")
    out, grad, where = _evaluate(CASES[name], DEVICE)
    assert where.type == DEVICE, f"{name}: the output stayed on {where}"
    assert len(out) == len(ref_out) and len(grad) == len(ref_grad)
    for i, (a, b) in enumerate(zip(out, ref_out)):
        assert a.dtype in (torch.float32, torch.int64, torch.bool) or not a.is_floating_point() or a.dtype == b.dtype
        _close(a, b, f"{name}: output {i}")
    for i, (a, b) in enumerate(zip(grad, ref_grad)):
        assert (a is None) == (b is None), f"{name}: gradient {i} exists on one device only"
        if a is not None:
            assert torch.isfinite(a).all(), f"{name}: gradient {i} is not finite"
            _close(a, b, f"{name}: gradient {i}")


def _exercised():
    """(module, qualified name) of every dyngeo function and method that the cases call, on the CPU."""
    import sys

    import dyngeo

    root = os.path.dirname(dyngeo.__file__)
    seen = set()

    def tracer(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(root):
            seen.add((os.path.splitext(os.path.basename(frame.f_code.co_filename))[0], frame.f_code.co_qualname))

    sys.setprofile(tracer)
    try:
        for case in CASES.values():
            _evaluate(case, "cpu")
    finally:
        sys.setprofile(None)
    return seen


def test_every_public_tool_is_covered():
    """Name (as a warning) every public model class and function of dyngeo.models and dyngeo.geometry
    that no case calls (traced while the cases run), so a new tool gets its GPU check."""
    import dyngeo.geometry
    import dyngeo.models

    seen = _exercised()
    missing = []
    for package in (dyngeo.models, dyngeo.geometry):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for name, obj in vars(module).items():
                if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                    continue
                key = f"{info.name}.{name}"
                if key in CPU_ONLY or f"{info.name}.*" in CPU_ONLY:
                    continue
                if inspect.isfunction(obj):
                    hit = (info.name, name) in seen
                elif inspect.isclass(obj) and issubclass(obj, nn.Module):
                    hit = any(m == info.name and q.startswith(f"{name}.") for m, q in seen)
                else:
                    continue
                if not hit:
                    missing.append(key)
    if missing:
        warnings.warn(f"no GPU parity case calls {len(missing)} public tools: {', '.join(sorted(missing))}")
