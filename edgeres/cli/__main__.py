"""`python -m edgeres.cli`, as torchrun runs it."""

from .app import main

main()
