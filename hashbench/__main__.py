"""``python -m hashbench`` == the ``hashbench`` command."""
from .cli import main

main()
