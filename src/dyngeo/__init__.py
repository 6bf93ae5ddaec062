"""Dynamics and Geometry of Learning: the library behind the executable textbook.

Layers, bottom to top: ``dyngeo.ode`` (solvers), ``dyngeo.models`` and ``dyngeo.geometry``
(the methods of each chapter), ``dyngeo.grading`` (exercise checkers). ``dyngeo.data``,
``dyngeo.plot``, ``dyngeo.metrics``, ``dyngeo.rng``, ``dyngeo.ssl`` and ``dyngeo.segment`` are
leaves that any layer may use.
"""

import os

import torch

__version__ = "0.1.0"


def device():
    """The device chapters run on: CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def scale():
    """Experiment scale chosen by the ``DYNGEO_SCALE`` environment variable: ``"book"`` (default,
    a few seconds on two CPU cores) or ``"paper"`` (the paper's protocol; meant for a GPU)."""
    value = os.environ.get("DYNGEO_SCALE", "book").lower()
    if value not in ("book", "paper"):
        raise ValueError(f"DYNGEO_SCALE must be 'book' or 'paper'; got {value!r}")
    return value
