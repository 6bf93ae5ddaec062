"""Checkers of the exercise set meta-learned-manifolds (being written)."""
