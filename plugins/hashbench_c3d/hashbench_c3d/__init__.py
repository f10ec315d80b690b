"""hashbench-c3d: an example third-party hashbench plugin adding a small C3D backbone, ``c3d_small``.

The hook lives in ``hashbench_c3d.plugin``, the torch-free factory in ``hashbench_c3d.factories``
and the network in ``hashbench_c3d.model`` (imported only when a model is built).
"""
__version__ = "0.2.0"
