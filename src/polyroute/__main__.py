"""``python -m polyroute``: the command line."""

from polyroute.cli import main

main()
