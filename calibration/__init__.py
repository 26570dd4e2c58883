"""Calibration-set recipes (TOML), installed as edgeres._shipped.calibration; see README.md."""
