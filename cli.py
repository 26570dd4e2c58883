"""Run the edgeres CLI from a checkout: `python cli.py --help`."""

from edgeres.cli import main

main()
