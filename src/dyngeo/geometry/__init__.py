"""Geometric tools of Part II (polyhedra of ReLU networks, subspaces, manifolds)."""
