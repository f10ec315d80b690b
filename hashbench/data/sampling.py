"""Frame sampling of the original repo: ``round(i * n / T)`` for ``i = 0 .. T-1``."""
from __future__ import annotations


def sample_indices(n: int, num_frames: int) -> list[int]:
    """Indices of the ``num_frames`` frames taken from a video of ``n`` frames (0-based).

    Uses Python's ``round`` (banker's rounding on .5), spreading the picks uniformly over the whole
    video, the same every epoch. With ``n < num_frames`` frames repeat. An index can only reach ``n``
    when ``n <= num_frames / 2`` (the original would then fail); it is clamped to ``n - 1``.
    """
    if n < 1:
        raise ValueError(f"a video needs at least one frame, got n={n}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    return [min(round(i * n / num_frames), n - 1) for i in range(num_frames)]
