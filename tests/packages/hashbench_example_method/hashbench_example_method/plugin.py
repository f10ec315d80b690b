"""Hook implementations (the module named by the ``hashbench`` entry point)."""
from __future__ import annotations

from hashbench import hookimpl


@hookimpl
def hashbench_methods():
    """Methods of this package: ``{name: factory}``."""
    from .factories import binary_autoencoder

    return {"binary_autoencoder": binary_autoencoder}
