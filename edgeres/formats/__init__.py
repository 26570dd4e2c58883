"""Export formats, one module each, registered in registry.py."""
