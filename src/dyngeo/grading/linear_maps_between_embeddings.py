"""Checkers of the exercise set linear-maps-between-embeddings (being written)."""
