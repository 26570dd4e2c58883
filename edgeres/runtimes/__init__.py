"""Runtimes for exported files behind the Predictor protocol. None of them imports torch: they run on boards."""
