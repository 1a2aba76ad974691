"""``python -m satchel.cli``: the same as the ``satchel`` script."""

from satchel.cli.app import main

main()
