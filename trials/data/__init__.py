"""Datasets that ship offline: a byte-level LM corpus and a small classification set."""
