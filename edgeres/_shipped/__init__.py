"""Data files shipped inside the package: the repository's top-level calibration/ and targets/ folders, read
through edgeres.shipped_files."""
