"""Helpers for code running inside torchx jobs."""
