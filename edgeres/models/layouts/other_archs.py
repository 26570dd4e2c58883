"""Other architectures recognized by their keys, so that refusing one says what it is instead of "no ResNet"."""

from __future__ import annotations

import re

from .layout import StateDict

# (what it is, a pattern one of its keys matches), most specific first; for timm, torchvision, Hugging Face and
# the original repositories' names.
_SIGNATURES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("a Swin Transformer", r"relative_position_bias_table$"),
        ("a Vision Transformer (ViT/DeiT)", r"(^|\.)(cls_token|pos_embed|position_embeddings)$|patch_embed\.proj\."),
        (
            "an EfficientNet or MobileNet",
            r"^conv_stem\.weight$|^blocks\.\d+\.\d+\.conv_(pw|dw)\.|^features\.\d+\.block",
        ),
        ("a ConvNeXt", r"^stages\.\d+\.blocks\.\d+\.conv_dw\.|\.dwconv\.|^convnext\.|downsample_layers\.0\.0\."),
        ("a RegNet", r"^regnet\.|^s1\.b1\.conv1\.conv\.weight$|^trunk_output\."),
        ("a DenseNet", r"denseblock\d|^features\.denseblock"),
        ("a MobileNet", r"^features\.\d+\.conv\.\d+\.\d+\.weight$"),
        ("an SENet/SE-ResNet with a `layer0` stem (Cadene's, timm's legacy_seresnet*)", r"^layer0\.conv1\.weight$"),
        ("a VGG", r"^features\.\d+\.weight$"),
        ("a Hugging Face ResNetModel (the backbone without its classifier)", r"^embedder\.embedder\.convolution\."),
    )
)


def recognize(sd: StateDict) -> str | None:
    """What kind of network these weights are, when their keys say; None when they do not."""
    for name, pattern in _SIGNATURES:
        if any(pattern.search(key) for key in sd):
            return name
    return None
