"""Models of the chapters, built on ``dyngeo.ode``."""

from .node import MLPField, NeuralODE
from .sanode import SANODE
from .snf import EnergyMLP, FlowClassifier, NegativeDefinite, SecondOrderFlow, StableNeuralFlow

__all__ = ["MLPField", "NeuralODE", "SANODE", "EnergyMLP", "FlowClassifier", "NegativeDefinite", "SecondOrderFlow", "StableNeuralFlow"]
