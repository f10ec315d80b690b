"""Hook implementations (the module named by the ``hashbench`` entry point)."""
from __future__ import annotations

from hashbench import hookimpl


@hookimpl
def hashbench_losses():
    """Losses of this package: ``{name: factory}``."""
    from .factories import pairwise_similarity

    return {"pairwise_similarity": pairwise_similarity}
