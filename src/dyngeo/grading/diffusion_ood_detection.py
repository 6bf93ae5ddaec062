"""Checkers of the exercise set diffusion-ood-detection (being written)."""
