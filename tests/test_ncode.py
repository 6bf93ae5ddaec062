"""dyngeo.models.ncode against independent references: PyTorch's own modules evaluated sample by
sample, torchdiffeq's adjoint on the tuple state (x, θ), closed forms of linear ODEs, SciPy's expm,
and the topological obstruction of 1-D flows."""

import numpy as np
import pytest
import scipy.linalg
import torch
import torchdiffeq
from torch import nn

from dyngeo import checkpoints
from dyngeo.data import digits, reflection_1d
from dyngeo.models import MLPField, NeuralODE
from dyngeo.models.ncode import (
    NCODE, AutoNCODE, ConstantControl, ConvBlockField, FeedbackController, ParamTemplate, conv_per_sample,
    count_parameters, fit_latent_gmm, image_classifiers, latent_state, match_width, sample_latent_gmm, sparse_theta,
)
from dyngeo.ode import odeint

pytestmark = pytest.mark.usefixtures("float64")


def loop_over_samples(field, template, t, x, theta):
    """Load each θ_b (times its scale) into a real copy of the template and call it on x_b alone."""
    outs = []
    for b in range(x.shape[0]):
        torch.nn.utils.vector_to_parameters(theta[b] * field.scale, template.parameters())
        outs.append(template(t, x[b : b + 1]))
    return torch.cat(outs)


@pytest.mark.parametrize("template, shape", [
    (MLPField(3, hidden=7, depth=2), (3,)),
    (ConvBlockField(3, width=5), (3, 6, 6)),
])
def test_per_sample_field_matches_a_loop_over_samples(template, shape):
    torch.manual_seed(0)
    field = ParamTemplate(template)
    x, theta, t = torch.randn(5, *shape), torch.randn(5, field.K), torch.tensor(0.3)
    assert field.K == sum(p.numel() for p in template.parameters())
    batched = field(t, x, theta)
    assert torch.allclose(batched, loop_over_samples(field, template, t, x, theta), atol=1e-12)


def test_per_sample_fields_really_differ_per_sample():
    torch.manual_seed(1)
    field = ParamTemplate(MLPField(2, hidden=8, depth=1))
    x = torch.randn(1, 2).expand(4, 2)  # the same point in four different fields
    out = field(torch.tensor(0.0), x, torch.randn(4, field.K))
    assert (out[1:] - out[0]).abs().min() > 1e-6
    same = field(torch.tensor(0.0), x, torch.randn(1, field.K).expand(4, -1))
    assert torch.allclose(same, same[:1].expand(4, 2))


def test_gradient_reaches_the_per_sample_weights():
    field = ParamTemplate(MLPField(2, hidden=8, depth=1))
    theta = torch.randn(3, field.K, requires_grad=True)
    field(torch.tensor(0.0), torch.randn(3, 2), theta)[1].sum().backward()
    assert theta.grad[1].abs().sum() > 0 and theta.grad[0].abs().sum() == 0 == theta.grad[2].abs().sum()


@pytest.mark.parametrize("padding", [0, 1])
def test_conv_per_sample_matches_a_loop_of_conv2d(padding):
    torch.manual_seed(2)
    x, w, b = torch.randn(4, 3, 7, 7), torch.randn(4, 5, 3, 3, 3), torch.randn(4, 5)
    ours = conv_per_sample(x, w, b, padding)
    loop = torch.cat([nn.functional.conv2d(x[i : i + 1], w[i], b[i], padding=padding) for i in range(4)])
    assert torch.allclose(ours, loop, atol=1e-12)


def linear_field():
    """f(x; θ) = θx in 1-D: x(T) = exp(θT) x0 in closed form."""
    return ParamTemplate(nn.Sequential(nn.Linear(1, 1, bias=False)))


def test_open_loop_closed_form_and_frozen_weights():
    theta0 = torch.tensor([[0.7], [-1.2], [0.1]])
    model = NCODE(linear_field(), lambda x0: theta0, (1,), t_span=(0.0, 2.0), step_size=0.01)
    x0 = torch.tensor([[1.0], [0.5], [-2.0]])
    zT = model.trajectory(x0)[-1]
    xT, thetaT = model.h.split(zT)
    assert torch.allclose(xT, torch.exp(2.0 * theta0) * x0, rtol=1e-9)
    assert torch.equal(thetaT, theta0)  # open loop: dθ/dt = 0 exactly


def make_model(closed, adjoint, seed=0):
    torch.manual_seed(seed)
    field = ParamTemplate(MLPField(3, hidden=6, depth=1))  # 2 inputs + 1 augmented dimension
    gamma = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, field.K))
    g = FeedbackController(field.K, 3, hidden=8, bound=2.0) if closed else None
    return NCODE(field, gamma, (2,), g=g, step_size=0.1, augment=1, adjoint=adjoint)


def assert_same_gradients(first, second, rel=1e-5):
    """Equal up to ``rel`` of the largest entry. The continuous adjoint solved backwards by RK4 differs
    from backpropagation through the forward RK4 steps by O(h^4): 3e-6 relative at h = 0.1 here."""
    a, b = torch.cat([g.flatten() for g in first]), torch.cat([g.flatten() for g in second])
    assert (a - b).abs().max() <= rel * a.abs().max()


@pytest.mark.parametrize("closed", [False, True])
def test_adjoint_on_augmented_state_equals_backpropagation(closed):
    """Theorem 1: the adjoint of h = (f, g) on z = (x, θ) gives the gradients of backpropagation,
    including γ's through θ(0) (Eq. 15)."""
    x0, target = torch.randn(6, 2), torch.randn(6, 3)
    grads = []
    for adjoint in (False, True):
        model = make_model(closed, adjoint)
        ((model(x0) - target) ** 2).sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    assert len(grads[0]) == len(list(make_model(closed, False).parameters()))
    assert_same_gradients(grads[0], grads[1])


def test_adjoint_matches_torchdiffeq_on_the_tuple_state():
    """The same system written as torchdiffeq's tuple state (x, θ), solved by its own adjoint."""
    model = make_model(closed=True, adjoint=True)
    x0 = torch.randn(4, 2)
    ours = model.trajectory(x0)[-1]
    ours.pow(2).sum().backward()
    mine = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()

    class TupleField(nn.Module):
        def __init__(self, h):
            super().__init__()
            self.h = h

        def forward(self, t, state):
            dz = self.h(t, torch.cat(state, dim=1))
            return dz[:, :3], dz[:, 3:]

    z0 = model.initial_state(x0)
    x, theta = torchdiffeq.odeint_adjoint(TupleField(model.h), (z0[:, :3], z0[:, 3:]), model.t_span.double(),
                                          method="rk4", options={"step_size": 0.1})
    assert torch.allclose(torch.cat([x[-1], theta[-1]], 1), ours, atol=1e-12)
    (x[-1].pow(2).sum() + theta[-1].pow(2).sum()).backward()
    assert_same_gradients(mine, [p.grad for p in model.parameters()])


def test_adjoint_gradient_of_theta0_has_closed_form():
    """d x(T)/d θ(0) = T x0 exp(θT) for f = θx."""
    theta0 = torch.tensor([[0.4], [-0.3]], requires_grad=True)
    x0 = torch.tensor([[1.5], [-1.0]])
    model = NCODE(linear_field(), lambda x: theta0, (1,), step_size=0.01, adjoint=True)
    model(x0).sum().backward()
    assert torch.allclose(theta0.grad, x0 * torch.exp(theta0.detach()), rtol=1e-8)


def test_closed_loop_weights_move_and_depend_on_the_input():
    model = make_model(closed=True, adjoint=False)
    model.gamma = ConstantControl(model.h.field.K)
    z = model.trajectory(torch.tensor([[1.0, 0.0], [-1.0, 0.5]]), torch.linspace(0, 1, 3))
    _, theta_start = model.h.split(z[0])
    _, theta_end = model.h.split(z[-1])
    assert torch.equal(theta_start[0], theta_start[1])  # the same fixed θ(0) ...
    assert (theta_end[0] - theta_end[1]).abs().max() > 1e-4  # ... steered apart by feedback from x(t)


def test_reflection_ncode_fits_and_node_cannot():
    """x ↦ -x: an open-loop N-CODE fits it; a NODE, with the same field or with a wider field of as many
    parameters as the N-CODE model, is an increasing map of the line, so its error stays near the best
    increasing fit (MSE 1/3 on [-1, 1])."""
    torch.manual_seed(0)
    x, y = (v.float() for v in reflection_1d(64))  # float32, for speed
    field = ParamTemplate(MLPField(1, hidden=16, depth=1))
    ncode = NCODE(field, nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, field.K)), (1,), step_size=0.25).float()
    width = match_width(lambda w: MLPField(1, hidden=w, depth=2), count_parameters(ncode), range(2, 80))
    nodes = [NeuralODE(MLPField(1, hidden=16, depth=1), step_size=0.25).float(),
             NeuralODE(MLPField(1, hidden=width, depth=2), step_size=0.25).float()]
    assert abs(count_parameters(nodes[1]) - count_parameters(ncode)) < 0.01 * count_parameters(ncode)
    for model in (ncode, *nodes):
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(100):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()
    with torch.no_grad():
        assert ((ncode(x) - y) ** 2).mean() < 1e-3
        for node in nodes:
            node_out = node(x)
            assert ((node_out - y) ** 2).mean() > 0.1
            assert (node_out[1:] >= node_out[:-1]).all()  # a 1-D flow map preserves order


def test_match_width_against_the_closed_form_parameter_count():
    """An MLPField on R^2 with two hidden layers of width h has h^2 + 6h + 2 parameters."""
    build = lambda w: MLPField(2, hidden=w, depth=2)  # noqa: E731
    for h in (3, 17, 50):
        assert count_parameters(build(h)) == h * h + 6 * h + 2
    assert match_width(build, 2802, range(1, 100)) == 50
    assert match_width(build, 2802 + 40, range(1, 100)) == 50  # 50 gives 2802, 51 gives 2909
    assert match_width(build, 2802 + 60, range(1, 100)) == 51
    with pytest.raises(ValueError, match="empty"):
        match_width(build, 10, [])


def test_digits_checkpoint_reproduces_its_accuracies():
    """The shipped classifiers (Chapter 4, Fig. 5 at book scale) give the accuracies the chapter quotes,
    have equal parameter counts, and N-CODE is at least as accurate as the NODE."""
    ckpt = checkpoints.load("ncode_digits")
    config = {k: ckpt["config"][k] for k in ("in_shape", "augment", "width", "gamma_hidden", "step_size")}
    _, _, X, y = digits()
    X = X.view(-1, 1, 8, 8).float()
    acc, sizes = {}, {}
    for name, model in image_classifiers(**config).items():
        model.float().load_state_dict(ckpt["state_dicts"][name])
        with torch.no_grad():
            acc[name] = (model(X).argmax(1) == y).float().mean().item()
        sizes[name] = sum(p.numel() for p in model.parameters())
        assert abs(acc[name] - ckpt["test_accuracy"][name][-1]) < 1e-6
    assert max(sizes.values()) - min(sizes.values()) < 0.02 * sizes["N-CODE"]
    assert acc["N-CODE"] >= acc["NODE"]


def test_sparse_theta_pattern_and_latent_state_against_scipy():
    torch.manual_seed(3)
    n, B = 5, 3
    theta = sparse_theta(torch.randn(B, 2 * n), n)
    nonzero = theta != 0
    assert (nonzero.sum(-1) == 2).all()
    rows = torch.arange(n)
    assert nonzero[:, rows, rows].all() and nonzero[:, rows, (rows + 1) % n].all()
    x0 = torch.randn(n)
    xT = latent_state(theta, x0, 1.7)
    for b in range(B):
        expected = scipy.linalg.expm(1.7 * theta[b].numpy()) @ x0.numpy()
        assert np.allclose(xT[b].numpy(), expected, rtol=1e-10)
    rk4 = odeint(lambda t, x: x @ theta.transpose(1, 2)[0], x0[None], torch.tensor([0.0, 1.7]), "rk4", step_size=0.01)
    assert torch.allclose(rk4[-1, 0], xT[0], rtol=1e-8)


def test_autoncode_shapes_orbit_and_parameter_match():
    n = 6
    encoder = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 2 * n))  # 2n outputs, like a VAE's (μ, log σ²)
    model = AutoNCODE(encoder, nn.Linear(n, 10), n, T=3.0)
    u = torch.randn(8, 10)
    assert model(u).shape == (8, 10)
    theta = model.theta(u)
    assert theta.shape == (8, n, n) and ((theta != 0).sum(-1) == 2).all()
    orbit = model.orbit(u, torch.linspace(0, 3, 4))
    assert torch.allclose(orbit[0], model.x0.expand(8, n))
    assert torch.allclose(orbit[-1], model.latent(u), atol=1e-12)


def test_gmm_protocol_and_held_out_likelihood():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=10, size=(10, 2))
    draw = lambda m: centres[rng.integers(10, size=m)] + rng.normal(size=(m, 2))  # noqa: E731
    train, test = draw(300), draw(200)
    one, ten = fit_latent_gmm(train, 1), fit_latent_gmm(train, 10)
    assert (ten.n_components, ten.tol, ten.max_iter, ten.n_init, ten.init_params) == (10, 1e-3, 100, 1, "kmeans")
    assert ten.score(test) > one.score(test) + 1.0
    assert ten.sample(7)[0].shape == (7, 2)


def test_gmm_samples_are_shuffled_not_grouped_by_component():
    """scikit-learn returns GMM draws grouped by component; sample_latent_gmm must return them in random
    order, unchanged as a set, with each code matching its component."""
    rng = np.random.default_rng(1)
    centres = rng.normal(scale=20, size=(6, 3))
    data = centres[rng.integers(6, size=600)] + rng.normal(size=(600, 3))
    gmm = fit_latent_gmm(data, 6, seed=0)
    raw_codes, raw_components = gmm.sample(300)
    assert (np.diff(raw_components) >= 0).all()  # the trap: sorted by component
    codes, components = sample_latent_gmm(gmm, 300, seed=0)
    assert codes.shape == (300, 3) and components.shape == (300,)
    assert len(set(components[:20].tolist())) >= 4  # a short prefix already mixes components
    assert (np.diff(components) < 0).any()
    assert np.array_equal(gmm.predict(codes), components)  # each code belongs to its component
    assert np.allclose(np.sort(codes, axis=0), np.sort(raw_codes, axis=0))  # the same draws, reordered
    counts = np.bincount(components, minlength=6) / 300
    assert np.abs(counts - gmm.weights_).max() < 0.1
    again, _ = sample_latent_gmm(gmm, 300, seed=0)
    assert np.array_equal(again, codes)
    with pytest.raises(ValueError, match="positive integer"):
        sample_latent_gmm(gmm, 0)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="BatchNorm"):
        ParamTemplate(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)))
    field = ParamTemplate(MLPField(2, hidden=4, depth=1))
    with pytest.raises(ValueError, match=r"theta must have shape \[B, 22\]"):
        field(torch.tensor(0.0), torch.randn(3, 2), torch.randn(3, 5))
    with pytest.raises(ValueError, match="one weight vector per sample"):
        field(torch.tensor(0.0), torch.randn(3, 2), torch.randn(2, 22))
    model = NCODE(field, nn.Linear(2, 22), (2,))
    with pytest.raises(ValueError, match=r"inputs must have shape \[B, 2\]"):
        model(torch.randn(3, 3))
    with pytest.raises(ValueError, match="values must have shape"):
        sparse_theta(torch.randn(2, 7), 4)
