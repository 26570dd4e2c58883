"""Quantization-aware fine-tuning: train the PyTorch model while it computes on the int8 grid its engine uses."""
