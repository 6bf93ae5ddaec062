"""Models of the chapters, built on ``dyngeo.ode``."""

from .node import MLPField, NeuralODE

__all__ = ["MLPField", "NeuralODE"]
