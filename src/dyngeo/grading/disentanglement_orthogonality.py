"""Checkers of the exercise set disentanglement-orthogonality (being written)."""
