"""Checkers of the exercise set data-topology-generative-models (being written)."""
