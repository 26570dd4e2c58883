"""Residual-aware structured pruning: a smaller dense ResNet that every later stage treats like any other.

`structured.prune_model` prunes a loaded model in memory (by channel ratio or to a fraction of its MACs);
`latency_target.prune_to_latency` to a fraction of its latency measured on this machine or a board;
`job.prune_checkpoint` is the whole `edgeres prune` job (settings.PruneSettings): load, prune, optionally
fine-tune, save, report. Options, settings and latency goals import no torch.
"""
