"""``python -m vertebra`` runs the command line."""

from __future__ import annotations

from vertebra.cli import main

main()
