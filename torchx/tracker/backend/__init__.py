"""Tracker backends shipped with torchx (each imported on use)."""
