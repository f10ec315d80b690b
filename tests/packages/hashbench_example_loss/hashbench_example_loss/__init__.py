"""hashbench-example-loss: a third-party-style plugin package adding the ``pairwise_similarity`` loss.

The hook is in ``hashbench_example_loss.plugin``, the torch-free factory in
``hashbench_example_loss.factories`` and the loss in ``hashbench_example_loss.loss`` (imported when
the loss is built). Check it against the plugin contract with
``hashbench check-plugins --dist hashbench-example-loss``.
"""
__version__ = "0.1.0"
