"""How each source names a ResNet's weights (one module per layout) and the config files some sources save."""
