"""hashbench-example-method: a third-party-style plugin package adding the ``binary_autoencoder`` method.

The hook is in ``hashbench_example_method.plugin``, the torch-free factory in
``hashbench_example_method.factories`` and the method in ``hashbench_example_method.method`` (imported
when the method is built). Check it against the plugin contract with
``hashbench check-plugins --dist hashbench-example-method``.
"""
__version__ = "0.1.0"
