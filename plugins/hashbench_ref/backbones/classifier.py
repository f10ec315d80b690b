"""The source classifier a backbone may keep (``keep_classifier = true``): one mixin for every family.

A backbone's ``forward`` always returns its features ``(B, feature_dim)``; a kept classifier is never part
of it (a hashing loss gives it no gradient). :meth:`SourceClassifier.logits` gives the source's class
scores ``(B, classes)`` for clips, and a backbone built without its classifier refuses in one line.
Torch-free: the mixin only calls the model's own modules.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

from hashbench.errors import ConfigError

__all__ = ["SourceClassifier"]


class SourceClassifier:
    """Mixin of an ``nn.Module`` backbone that may keep its source's classifier.

    The subclass sets ``name`` (the backbone's registered name, for messages), keeps the classifier as
    the submodule named ``classifier_name`` (absent or None when it was not kept) and lists in
    ``repr_fields`` the attributes its ``repr`` shows. Override :meth:`has_classifier` when the
    classifier lives elsewhere, and :meth:`classify` when it is not simply applied to the features.
    """

    name: str = ""
    classifier_name: str = "fc"
    repr_fields: Tuple[str, ...] = ("feature_dim", "normalization")

    def has_classifier(self) -> bool:
        """Whether the source classifier was kept."""
        return getattr(self, self.classifier_name, None) is not None

    def classify(self, features: Any) -> Any:
        """The kept classifier's scores ``(B, classes)`` for features ``(B, feature_dim)``."""
        module: Optional[Any] = getattr(self, self.classifier_name, None)
        return module(features)  # type: ignore[misc]

    def logits(self, clips: Any) -> Any:
        """The source's class scores ``classify(forward(clips))``; ConfigError without a kept classifier."""
        if not self.has_classifier():
            raise ConfigError(f"backbone {self.name}: no source classifier was kept; build it with"
                              " keep_classifier = true to get its scores")
        return self.classify(self(clips))  # type: ignore[operator]

    def extra_repr(self) -> str:
        return ", ".join(f"{field}={getattr(self, field)!r}" for field in self.repr_fields)
