"""Checkers of the exercise set manifold-adversarial-risk (being written)."""
