"""Hook implementations (the module named by the ``hashbench`` entry point)."""
from __future__ import annotations

from hashbench import hookimpl


@hookimpl
def hashbench_backbones():
    """Backbones of this package: ``{name: factory}``."""
    from .factories import c3d_small

    return {"c3d_small": c3d_small}
