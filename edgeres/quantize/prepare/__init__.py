"""Quantization-aware preparation of a PyTorch model before export: folding, equalization, rounding, bias."""
