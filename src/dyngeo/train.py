"""A minimal training loop with a progress bar, shared by every chapter."""

import torch
from tqdm.auto import tqdm


def progress(iterable, desc=None, **kwargs):
    """A progress bar over ``iterable`` (a widget in notebooks, text in a terminal)."""
    return tqdm(iterable, desc=desc, mininterval=0.5, **kwargs)


def fit(model, loss_fn, steps, lr=1e-2, optimizer=torch.optim.Adam, desc="training", callback=None, clip=None):
    """Minimise ``loss_fn(model)`` for ``steps`` optimiser steps; return the list of losses.

    ``loss_fn`` draws its own batch (full batch for the toy problems of the book) and returns a
    scalar. ``clip``, if given, rescales the gradient to at most that norm before each step.
    ``callback(step, model)``, if given, runs after every step (e.g. to project parameters).
    """
    if steps < 0:
        raise ValueError(f"steps must be non-negative; got {steps}")
    opt = optimizer(model.parameters(), lr=lr)
    losses = []
    bar = progress(range(steps), desc=desc)
    for step in bar:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model)
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        if callback is not None:
            callback(step, model)
        losses.append(loss.item())
        if step % 10 == 0:
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
    return losses


@torch.no_grad()
def accuracy(logits, labels):
    """Fraction of rows of ``logits`` whose arg-max equals ``labels``."""
    return (logits.argmax(dim=-1) == labels).float().mean().item()
