"""hashbench's reference plugin set: the Video-Retrieval-C3D method and its datasets and metrics.

Registered through the ``hashbench`` entry-point group exactly like a third-party plugin package.
"""
