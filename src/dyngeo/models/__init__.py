"""Models of the chapters, built on ``dyngeo.ode``."""

from .akorn import AKOrNBlock, AKOrNClassifier, KuramotoLayer, SudokuAKOrN
from .ncode import NCODE, AutoNCODE, ParamTemplate
from .node import MLPField, NeuralODE
from .sanode import SANODE
from .snf import EnergyMLP, FlowClassifier, NegativeDefinite, SecondOrderFlow, StableNeuralFlow

__all__ = ["AKOrNBlock", "AKOrNClassifier", "KuramotoLayer", "SudokuAKOrN", "NCODE", "AutoNCODE", "ParamTemplate", "MLPField", "NeuralODE", "SANODE", "EnergyMLP", "FlowClassifier", "NegativeDefinite", "SecondOrderFlow", "StableNeuralFlow"]
