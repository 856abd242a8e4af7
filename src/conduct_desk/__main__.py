"""``python -m conduct_desk`` runs the ``conduct`` command."""

from conduct_desk.cli import main

main()
