"""Proxy models (plain PyTorch) whose layers carry a parametrization role."""
