"""Geometric tools of Part II (polyhedra of ReLU networks, subspaces, manifolds)."""

from . import local_linear, relu  # ReLU polyhedra and local linear maps (chapter 06)
