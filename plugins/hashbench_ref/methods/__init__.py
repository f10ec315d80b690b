"""Methods of the reference set: components that own how codes are made (``encode``) and how they learn
(an optional ``fit`` stage over the training split, an optional ``training_loss``).

``classic/`` holds the closed-form unsupervised baselines of the self-supervised video hashing tables
(LSH, PCAH, ITQ, SH, SpH, AGH) as plain numerical classes: ``fit(features (N, D))``, ``encode(features
(B, D)) -> (B, bits)`` real (the code is the sign), ``state_dict()`` / ``load_state_dict()``, deterministic
from ``seed``. They are not registered yet; the ``method`` contract will wrap them.
"""
