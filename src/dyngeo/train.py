"""A minimal training loop with a progress bar, shared by every chapter."""

import math

import torch
from tqdm.auto import tqdm


def progress(iterable, desc=None, **kwargs):
    """A progress bar over ``iterable`` (a widget in notebooks, text in a terminal)."""
    return tqdm(iterable, desc=desc, mininterval=0.5, **kwargs)


def fit(model, loss_fn, steps, lr=1e-2, optimizer=torch.optim.Adam, desc="training", callback=None, clip=None,
        schedule=None):
    """Minimise ``loss_fn(model)`` for ``steps`` optimiser steps; return the list of losses.

    ``loss_fn`` draws its own batch (full batch for the toy problems of the book) and returns a
    scalar. ``clip``, if given, rescales the gradient to at most that norm before each step.
    ``schedule(step)``, if given, is the factor multiplying ``lr`` at each step (e.g.
    :func:`cosine_schedule`). ``callback(step, model)``, if given, runs after every step (e.g. to
    project parameters).
    """
    if steps < 0:
        raise ValueError(f"steps must be non-negative; got {steps}")
    opt = optimizer(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule) if schedule is not None else None
    losses = []
    bar = progress(range(steps), desc=desc)
    for step in bar:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model)
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        if sched is not None:
            sched.step()
        if callback is not None:
            callback(step, model)
        losses.append(loss.item())
        if step % 10 == 0:
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
    return losses


def cosine_schedule(steps):
    """The learning-rate factor 0.5 (1 + cos(pi s / steps)): from 1 at step 0 down to 0 at ``steps``."""
    return lambda s: 0.5 * (1 + math.cos(math.pi * s / steps))


@torch.no_grad()
def accuracy(logits, labels):
    """Fraction of rows of ``logits`` whose arg-max equals ``labels``."""
    return (logits.argmax(dim=-1) == labels).float().mean().item()
