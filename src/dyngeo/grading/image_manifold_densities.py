"""Checkers of the exercise set image-manifold-densities (being written)."""
