"""Models of the chapters, built on ``dyngeo.ode``."""

from .node import MLPField, NeuralODE
from .snf import EnergyMLP, FlowClassifier, NegativeDefinite, SecondOrderFlow, StableNeuralFlow

__all__ = ["MLPField", "NeuralODE", "EnergyMLP", "FlowClassifier", "NegativeDefinite", "SecondOrderFlow", "StableNeuralFlow"]
