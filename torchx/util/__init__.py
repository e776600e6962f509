"""Small pure helpers shared by the layers (standard library only)."""
