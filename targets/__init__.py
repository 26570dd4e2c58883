"""Board profiles (TOML), installed as edgeres._shipped.targets; see README.md."""
