"""Plotting helpers shared by the chapters (matplotlib; a leaf of the library)."""

import matplotlib.pyplot as plt
import numpy as np
import torch


def _grid(xlim, ylim, n):
    xs, ys = torch.linspace(*xlim, n), torch.linspace(*ylim, n)
    gx, gy = torch.meshgrid(xs, ys, indexing="xy")
    return gx, gy, torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def _module_device(f):
    try:
        return next(f.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")


@torch.no_grad()
def vector_field(ax, f, xlim=(-2, 2), ylim=(-2, 2), t=0.0, n=21, stream=True, **kwargs):
    """Draw the 2-D vector field ``f(t, x)`` on a grid (streamlines, or arrows if ``stream=False``)."""
    gx, gy, points = _grid(xlim, ylim, n)
    dev = _module_device(f)
    v = f(torch.tensor(float(t), device=dev), points.to(dev)).cpu()
    u, w = v[:, 0].reshape(gx.shape).numpy(), v[:, 1].reshape(gx.shape).numpy()
    if stream:
        kwargs.setdefault("color", "0.6")
        kwargs.setdefault("density", 1.0)
        kwargs.setdefault("linewidth", 0.7)
        ax.streamplot(gx.numpy(), gy.numpy(), u, w, **kwargs)
    else:
        ax.quiver(gx.numpy(), gy.numpy(), u, w, **kwargs)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    return ax


def trajectories(ax, traj, labels=None, cmap="coolwarm", alpha=0.6, lw=0.8, endpoints=True):
    """Draw trajectories ``traj`` of shape ``[T, B, 2]`` (or ``[T, B, 1]`` against time step)."""
    traj = traj.detach().cpu()
    colors = plt.get_cmap(cmap)(np.linspace(0, 1, 2 if labels is None else int(labels.max()) + 1))
    for b in range(traj.shape[1]):
        c = colors[0 if labels is None else int(labels[b])]
        if traj.shape[2] == 1:
            ax.plot(np.arange(traj.shape[0]), traj[:, b, 0], color=c, alpha=alpha, lw=lw)
        else:
            ax.plot(traj[:, b, 0], traj[:, b, 1], color=c, alpha=alpha, lw=lw)
            if endpoints:
                ax.scatter(traj[-1, b, 0], traj[-1, b, 1], color=c, s=6, zorder=3)
    return ax


@torch.no_grad()
def decision_regions(ax, predict, X, y, xlim=None, ylim=None, n=200, cmap="coolwarm"):
    """Shade the classes ``predict(points)`` (labels or scores ``[N, K]``) assigns, and scatter ``(X, y)``."""
    X, y = X.detach().cpu(), y.detach().cpu()
    pad = 0.3
    xlim = xlim or (X[:, 0].min().item() - pad, X[:, 0].max().item() + pad)
    ylim = ylim or (X[:, 1].min().item() - pad, X[:, 1].max().item() + pad)
    gx, gy, points = _grid(xlim, ylim, n)
    out = predict(points).cpu()
    classes = out.argmax(dim=1) if out.dim() == 2 else out
    ax.contourf(gx.numpy(), gy.numpy(), classes.reshape(gx.shape).float().numpy(), alpha=0.25, cmap=cmap)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap=cmap, s=8, edgecolors="k", linewidths=0.2)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    return ax


def training_curve(ax, losses, label=None, logy=True):
    """Plot a loss curve against the optimiser step."""
    ax.plot(np.arange(1, len(losses) + 1), losses, label=label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    return ax
