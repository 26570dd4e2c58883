"""Latency measured in the runtime and precision that ship: conv probe tables, whole networks, the channel
multiple the kernels want, all cached per machine.

Pruning chooses channel counts from it (`edgeres prune --target-latency`, edgeres.prune.latency_target),
because MAC counts do not say what an int8 kernel on a given CPU will do with a 40-channel layer.
"""
