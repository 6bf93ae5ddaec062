"""Neurally controlled ODEs, N-CODE (Chalvidal, Ricci, VanRullen & Serre, ICLR 2021).

A neural ODE integrates one vector field f(x, θ, t) with fixed weights θ (Eq. 1), so its time-T map
is a single homeomorphism of the data space (Eq. 2). N-CODE makes θ a state variable: the model
integrates the augmented state z = (x, θ) of Eq. (4),

    dx/dt = f(x, θ, t),    dθ/dt = g(θ, x, t),    x(0) = input,    θ(0) = γ(x(0)),

with an *open-loop* controller (γ only, g = 0: each input flows in its own field) or a
*closed-loop* one (g reads the current state x(t)). Gradients follow Theorem 1 (Eq. 6), the adjoint
of the augmented system: ``dyngeo.ode.odeint_adjoint`` applied to z computes exactly that, and the
gradient of γ's weights is the chain rule of Remark 1 (Eq. 15) through θ(0).

AutoN-CODE (Sec. 5.3, Eqs. 7-8) is an autoencoder whose encoder outputs the sparse matrix θ of the
linear latent system dx/dt = θx; the code is x(T). Samples come from a Gaussian mixture fitted to
the codes (Sec. 5.4).

Per-sample weights are handled by :class:`ParamTemplate`: a template module fixes the names, shapes
and order of the weights, and each layer runs as one batched matmul or grouped convolution with a
different weight vector θ_b for every sample b, so one call integrates a whole batch.
"""

import math

import numpy as np
import torch
from torch import nn

from ..ode import odeint, odeint_adjoint

__all__ = [
    "ParamTemplate", "conv_per_sample", "ConvBlockField", "ConstantControl", "FeedbackController", "AugmentedField", "NCODE",
    "sparse_theta", "latent_state", "AutoNCODE", "fit_latent_gmm", "sample_latent_gmm", "ImageFlowClassifier",
    "image_classifiers", "count_parameters", "match_width",
]


class ParamTemplate(nn.Module):
    """Evaluate a template vector field with per-sample weights θ of shape ``[B, K]``.

    The template is an :class:`~dyngeo.models.MLPField` (autonomous), a :class:`ConvBlockField`
    or an ``nn.Sequential`` of ``nn.Linear``, ``nn.Conv2d`` and parameter-free layers. It fixes
    the names, shapes and order of the weights; its own values are never used. θ_b is the
    concatenation of its parameters in ``named_parameters()`` order, each flattened row-major, in
    units of that layer's default initialisation scale 1/√fan_in: the weights used are
    ``θ ⊙ scale``, so a controller with O(1) outputs gives a well-scaled field (raw O(1) weights
    make the ODE stiff). Each layer runs as one batched operation (``einsum`` for linear layers,
    a grouped convolution for conv layers), so the whole batch is evaluated at once, every sample
    with its own weights.
    """

    def __init__(self, template, rescale=True):
        super().__init__()
        if getattr(template, "time_dependent", False):
            raise ValueError("time-dependent templates are not supported: in N-CODE the time dependence comes from θ(t)")
        layers = template.net if hasattr(template, "net") else template
        if not isinstance(layers, nn.Sequential):
            raise TypeError(f"the template must be an MLPField, a ConvBlockField or an nn.Sequential; got {type(template).__name__}")
        for layer in layers:
            if isinstance(layer, nn.Conv2d):
                if layer.stride != (1, 1) or layer.dilation != (1, 1) or layer.groups != 1 or not isinstance(layer.padding, tuple):
                    raise ValueError("conv layers of a template need stride 1, dilation 1, groups 1 and numeric padding")
            elif not isinstance(layer, nn.Linear) and (list(layer.parameters()) or list(layer.buffers())):
                raise ValueError(f"a template may hold only Linear, Conv2d and parameter-free layers; found {type(layer).__name__} "
                                 "(no BatchNorm: per-sample weights make batch statistics meaningless)")
        named = list(layers.named_parameters())
        if not named:
            raise ValueError("the template has no parameters to control")
        self.layers = [(layer, layer.weight.shape, layer.bias is not None) if isinstance(layer, (nn.Linear, nn.Conv2d)) else (layer, None, False)
                       for layer in layers]
        self.shapes = [tuple(p.shape) for _, p in named]
        self.sizes = [p.numel() for _, p in named]
        self.K = sum(self.sizes)
        scales = [1.0 / math.sqrt(layer.weight[0].numel()) if rescale else 1.0
                  for layer in layers if isinstance(layer, (nn.Linear, nn.Conv2d))
                  for _ in range(1 + (layer.bias is not None))]
        self.register_buffer("scale", torch.cat([torch.full((n,), s) for n, s in zip(self.sizes, scales)]))

    def unflatten(self, theta):
        """Split ``theta`` ``[B, K]`` into the template's tensors ``[B, *shape]``, in ``named_parameters()`` order."""
        if theta.dim() != 2 or theta.shape[1] != self.K:
            raise ValueError(f"theta must have shape [B, {self.K}]; got {tuple(theta.shape)}")
        chunks = torch.split(theta * self.scale, self.sizes, dim=1)
        return [c.reshape(theta.shape[0], *s) for c, s in zip(chunks, self.shapes)]

    def forward(self, t, x, theta):
        """f(x_b, θ_b, t) for every row b: the field of Eq. (1) with per-sample weights."""
        if x.shape[0] != theta.shape[0]:
            raise ValueError(f"x has batch size {x.shape[0]} but theta has {theta.shape[0]}: one weight vector per sample")
        if theta.dtype != x.dtype or theta.device != x.device:
            raise TypeError(f"theta is {theta.dtype} on {theta.device} but x is {x.dtype} on {x.device}")
        tensors = iter(self.unflatten(theta))
        for layer, shape, has_bias in self.layers:
            if shape is None:
                x = layer(x)
                continue
            w = next(tensors)
            b = next(tensors) if has_bias else None
            x = _linear_per_sample(x, w, b) if isinstance(layer, nn.Linear) else conv_per_sample(x, w, b, layer.padding)
        return x


def _linear_per_sample(x, w, b):
    """y_b = W_b x_b + b_b for x ``[B, in]``, W ``[B, out, in]``, b ``[B, out]`` or None."""
    y = torch.einsum("boi,bi->bo", w, x)
    return y if b is None else y + b


def conv_per_sample(x, w, b, padding):
    """Convolve each image x_b ``[C, H, W]`` with its own kernels w_b ``[C_out, C, k, k]`` (and bias
    b_b ``[C_out]``): one grouped convolution with the batch folded into the channels."""
    B, C, H, W = x.shape
    y = nn.functional.conv2d(x.reshape(1, B * C, H, W), w.reshape(B * w.shape[1], *w.shape[2:]),
                             None if b is None else b.reshape(-1), padding=padding, groups=B)
    return y.view(B, w.shape[1], *y.shape[2:])


class ConvBlockField(nn.Module):
    """The convolutional field of Sec. 5.2: 1×1 → 3×3 → 1×1 convolutions (``channels → width →
    width → channels``) with tanh in between; ``forward(t, x)`` with ``x`` of shape ``[B, C, H, W]``."""

    def __init__(self, channels, width=50):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 1), nn.Tanh(),
            nn.Conv2d(width, width, 3, padding=1), nn.Tanh(),
            nn.Conv2d(width, channels, 1),
        )

    def forward(self, t, x):
        return self.net(x)


class ConstantControl(nn.Module):
    """θ(0) = a learned vector shared by every input (the closed-loop model of Sec. 5.1 starts from it)."""

    def __init__(self, K, std=1.0):
        super().__init__()
        self.theta0 = nn.Parameter(std * torch.randn(K))

    def forward(self, x0):
        return self.theta0.expand(x0.shape[0], -1)


class FeedbackController(nn.Module):
    """Closed-loop control dθ/dt = g(θ, x, t) (Sec. 3.1): an MLP of [θ, x, t], bounded by
    ``bound·tanh`` so that θ cannot drift without limit."""

    def __init__(self, K, state_dim, hidden=32, bound=1.0):
        super().__init__()
        self.bound = bound
        self.net = nn.Sequential(nn.Linear(K + state_dim + 1, hidden), nn.Tanh(), nn.Linear(hidden, K))

    def forward(self, t, x, theta):
        time = t.reshape(1, 1).to(x).expand(x.shape[0], 1)
        return self.bound * torch.tanh(self.net(torch.cat([theta, x.flatten(1), time], dim=1)))


class AugmentedField(nn.Module):
    """h(z, t) = (f(x, θ, t), g(θ, x, t)) on the flat augmented state z = [x.flatten(), θ] (Eq. 4).

    With ``g=None`` (open loop) dθ/dt = 0. Its parameters are those of g only: γ acts on z(0), so
    its gradient comes from the adjoint's θ-block at t = 0 by the chain rule (Eq. 15).
    """

    def __init__(self, field, state_shape, g=None):
        super().__init__()
        self.field, self.g = field, g
        self.state_shape = tuple(state_shape)
        self.state_dim = math.prod(self.state_shape)

    def split(self, z):
        """(x ``[B, *state_shape]``, θ ``[B, K]``) from z ``[B, D + K]``."""
        if z.dim() != 2 or z.shape[1] != self.state_dim + self.field.K:
            raise ValueError(f"z must have shape [B, {self.state_dim + self.field.K}]; got {tuple(z.shape)}")
        x, theta = z.split([self.state_dim, self.field.K], dim=1)
        return x.reshape(-1, *self.state_shape), theta

    def forward(self, t, z):
        x, theta = self.split(z)
        dx = self.field(t, x, theta).flatten(1)
        dtheta = torch.zeros_like(theta) if self.g is None else self.g(t, x, theta)
        return torch.cat([dx, dtheta], dim=1)


class NCODE(nn.Module):
    """x(0) ↦ x(T) under the controlled system of Eq. (4).

    Args:
        field: a :class:`ParamTemplate`, the family of vector fields f(·, θ, t).
        gamma: the initial controller γ, a module mapping the (un-augmented) input ``[B, ...]`` to
            θ(0) ``[B, K]``: a network for open-loop control, :class:`ConstantControl` for a fixed θ(0).
        g: ``None`` for open loop (dθ/dt = 0), or a closed-loop controller ``g(t, x, θ)`` such as
            :class:`FeedbackController`.
        state_shape: the shape of one input (e.g. ``(1,)`` or ``(1, 8, 8)``).
        augment: zeros appended along dim 1 (features or channels), as in ANODE (Sec. 5.2).
        adjoint: train through ``odeint_adjoint`` on z (Theorem 1) instead of backpropagation.
    """

    def __init__(self, field, gamma, state_shape, g=None, t_span=(0.0, 1.0), method="rk4", step_size=0.1,
                 augment=0, adjoint=False):
        super().__init__()
        state_shape = tuple(state_shape)
        lifted = (state_shape[0] + augment, *state_shape[1:])
        self.h = AugmentedField(field, lifted, g)
        self.gamma = gamma
        self.input_shape, self.augment = state_shape, augment
        self.register_buffer("t_span", torch.as_tensor(t_span, dtype=torch.float32))
        self.method, self.step_size, self.adjoint = method, step_size, adjoint

    def initial_state(self, x0):
        """z(0) = (x(0) with ``augment`` zeros, γ(x(0))), flattened to ``[B, D + K]``."""
        if tuple(x0.shape[1:]) != self.input_shape:
            raise ValueError(f"inputs must have shape [B, {', '.join(map(str, self.input_shape))}]; got {tuple(x0.shape)}")
        theta0 = self.gamma(x0)
        if theta0.shape != (x0.shape[0], self.h.field.K):
            raise ValueError(f"gamma must return [B, K] = [{x0.shape[0]}, {self.h.field.K}]; got {tuple(theta0.shape)}")
        x = x0
        if self.augment:
            x = torch.cat([x0, x0.new_zeros(x0.shape[0], self.augment, *x0.shape[2:])], dim=1)
        return torch.cat([x.flatten(1), theta0], dim=1)

    def trajectory(self, x0, t=None):
        """z at the times ``t`` (default: the ends of ``t_span``), shape ``[len(t), B, D + K]``;
        split a slice with ``self.h.split``."""
        t = self.t_span if t is None else torch.as_tensor(t)
        t = t.to(device=x0.device, dtype=x0.dtype)
        options = {} if self.method == "dopri5" else {"step_size": self.step_size}
        solve = odeint_adjoint if self.adjoint else odeint
        return solve(self.h, self.initial_state(x0), t, self.method, **options)

    def forward(self, x0):
        """x(T), shape ``[B, *state_shape]`` (channels include the augmentation)."""
        return self.h.split(self.trajectory(x0)[-1])[0]


# ----------------------------------------------------------------------------------- AutoN-CODE


def sparse_theta(values, n, offsets=(0, 1)):
    """The sparse control matrix θ ``[B, n, n]`` of Sec. 5.3 from ``values`` ``[B, n·k]``:
    row i holds ``values[:, i, j]`` at column (i + offsets[j]) mod n, so k = len(offsets) non-zeros per row."""
    k = len(offsets)
    if values.dim() != 2 or values.shape[1] != n * k:
        raise ValueError(f"values must have shape [B, {n * k}] (n={n} rows × {k} non-zeros); got {tuple(values.shape)}")
    rows = torch.arange(n, device=values.device)
    cols = (rows[:, None] + torch.as_tensor(offsets, device=values.device)) % n
    theta = values.new_zeros(values.shape[0], n, n)
    return theta.scatter(2, cols.expand(values.shape[0], n, k), values.view(-1, n, k))


def latent_state(theta, x0, T):
    """x(T) for dx/dt = θx, x(0) = x0 (Eq. 8 with dθ/dt = 0): exactly expm(Tθ) x0, batched."""
    if theta.dim() != 3 or theta.shape[1] != theta.shape[2] or theta.shape[2] != x0.shape[-1]:
        raise ValueError(f"theta must be [B, n, n] and x0 [n]; got {tuple(theta.shape)} and {tuple(x0.shape)}")
    return (torch.linalg.matrix_exp(T * theta) @ x0.unsqueeze(-1)).squeeze(-1)


class AutoNCODE(nn.Module):
    """AutoN-CODE (Sec. 5.3, Fig. 6): u ↦ θ = γ_μ(u) (Eq. 7) ↦ x(T) of dx/dt = θx (Eq. 8) ↦ decoder.

    The encoder outputs ``n·nnz_per_row`` numbers, passed through the component-wise "control
    normalisation" (a BatchNorm without affine terms, Table A.1's "Norm") and multiplied by
    ``scale``: at T = 10 the growth e^{T·Re λ(θ)} explodes otherwise. x(0) = 1/√n is fixed.
    """

    def __init__(self, encoder, decoder, n, nnz_per_row=2, T=10.0, scale=0.1):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.n, self.T, self.scale = n, T, scale
        self.offsets = tuple(range(nnz_per_row))
        self.norm = nn.BatchNorm1d(n * nnz_per_row, affine=False)
        self.register_buffer("x0", torch.full((n,), 1.0 / math.sqrt(n)))

    def theta(self, u):
        """The control matrix θ ``[B, n, n]`` of Eq. (7), ``nnz_per_row`` non-zeros per row."""
        return sparse_theta(self.scale * self.norm(self.encoder(u)), self.n, self.offsets)

    def latent(self, u, t=None):
        """The code x(t) (default t = T)."""
        return latent_state(self.theta(u), self.x0, self.T if t is None else t)

    def orbit(self, u, times):
        """x(t) along the controlled orbit at each of ``times``, shape ``[len(times), B, n]`` (Fig. 8)."""
        theta = self.theta(u)
        return torch.stack([latent_state(theta, self.x0, float(t)) for t in times])

    def forward(self, u):
        return self.decoder(self.latent(u))


def fit_latent_gmm(codes, n_components, seed=0, reg_covar=1e-4):
    """Post-hoc density of the codes (Sec. 5.4, A.7): a full-covariance Gaussian mixture fitted by EM
    from one k-means initialisation, tol 1e-3, at most 100 iterations. Fit it on *training* codes."""
    from sklearn.mixture import GaussianMixture

    codes = codes.detach().cpu().double().numpy() if isinstance(codes, torch.Tensor) else np.asarray(codes, dtype=np.float64)
    gmm = GaussianMixture(n_components, covariance_type="full", tol=1e-3, max_iter=100, n_init=1,
                          init_params="kmeans", reg_covar=reg_covar, random_state=seed)
    return gmm.fit(codes)


def sample_latent_gmm(gmm, n, seed=0):
    """``n`` independent draws from a fitted ``GaussianMixture``, in random order: ``(codes [n, d], components [n])``.

    scikit-learn's ``GaussianMixture.sample`` draws the number of points per component and returns
    them *grouped by component* (all draws of component 0 first, then component 1, ...), so its
    first rows all come from one or two components. The draws are i.i.d. only as a set; a random
    permutation (seeded by ``seed``) makes every prefix an i.i.d. sample as well.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}")
    codes, components = gmm.sample(n)
    order = np.random.default_rng(seed).permutation(n)
    return codes[order], components[order]


# ------------------------------------------------------------------------- image classifiers (Sec. 5.2)


def count_parameters(model):
    """The number of trainable scalars of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def match_width(build, target, widths):
    """The width ``w`` in ``widths`` whose model ``build(w)`` has a parameter count closest to ``target``
    (used to compare a static field with an N-CODE model of the same size)."""
    widths = list(widths)
    if not widths:
        raise ValueError("widths is empty")
    return min(widths, key=lambda w: abs(count_parameters(build(w)) - target))


class ImageFlowClassifier(nn.Module):
    """Images ``[B, C, H, W]`` → ``augment`` zero channels appended → a flow → a linear map of the
    flattened final state to class scores (the paper adds a sigmoid; argmax and cross-entropy training
    work on the scores directly)."""

    def __init__(self, flow, in_shape, augment, n_classes=10):
        super().__init__()
        self.flow, self.augment = flow, augment
        self.head = nn.Linear((in_shape[0] + augment) * math.prod(in_shape[1:]), n_classes)

    def forward(self, images):
        return self.head(self.flow(images).flatten(1))


class _ZeroChannels(nn.Module):
    """Append ``augment`` zero channels, then apply ``flow`` (ANODE on images)."""

    def __init__(self, flow, augment):
        super().__init__()
        self.flow, self.augment = flow, augment

    def forward(self, x):
        if self.augment:
            x = torch.cat([x, x.new_zeros(x.shape[0], self.augment, *x.shape[2:])], dim=1)
        return self.flow(x)


def image_classifiers(in_shape=(1, 8, 8), augment=10, width=50, gamma_hidden=10, step_size=0.5, n_classes=10):
    """The three models of Fig. 5 with (nearly) equal parameter counts: ``{"NODE", "ANODE", "N-CODE"}``.

    N-CODE (open loop): θ(0) = γ(image), γ a two-layer perceptron with ``gamma_hidden`` units, θ the
    weights of a :class:`ConvBlockField` of ``width`` channels on the state augmented by ``augment``
    channels. NODE (no augmentation) and ANODE (``augment`` channels) use one static block whose width
    is chosen so that the whole classifier has as many parameters as the N-CODE one.
    """
    from .node import NeuralODE

    channels = in_shape[0] + augment
    field = ParamTemplate(ConvBlockField(channels, width))
    gamma = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), gamma_hidden), nn.Tanh(),
                          nn.Linear(gamma_hidden, field.K))
    ncode = ImageFlowClassifier(NCODE(field, gamma, in_shape, augment=augment, step_size=step_size), in_shape, augment, n_classes)
    target = count_parameters(ncode)

    def static(aug):
        def build(w):
            flow = _ZeroChannels(NeuralODE(ConvBlockField(in_shape[0] + aug, w), step_size=step_size), aug)
            return ImageFlowClassifier(flow, in_shape, aug, n_classes)

        return build(match_width(build, target, range(1, 4 * width + 64)))

    return {"NODE": static(0), "ANODE": static(augment), "N-CODE": ncode}
