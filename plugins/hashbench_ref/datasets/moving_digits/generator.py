"""moving_digits' generator: procedurally generated videos of real handwritten digits whose class is a motion.

Each clip shows one 8x8 digit image from scikit-learn's bundled ``digits`` set (1797 images, no
download), upscaled with bilinear sampling onto a black square canvas that wraps around at its edges
(a torus). The clip's motion pattern is its class. Geometry is stated in canvas units: the canvas spans
[-1, 1) on each axis, so 1.0 is half the frame side; motion amounts are totals over the whole clip, so
the same pattern is drawn whatever ``num_frames``.

Why a single frame cannot tell the classes apart:
- the digit's position is uniform on the torus in every frame, whatever its motion;
- every time-varying quantity (position along the path, circle phase, scale, angle) is sampled at the
  clip's MIDDLE and the motion is symmetric around it, so opposite classes (left/right, up/down,
  clockwise/counter-clockwise, zoom in/out, rotations) have identical distributions of the unordered
  set of frames: only the order of frames separates them;
- when zoom (or rotation) classes are present, the other classes get a static scale (angle) drawn from
  the zoom classes' per-frame distribution, so the scale of one frame does not reveal "zooming".

Generation is vectorised numpy (inverse affine map + bilinear sampling), deterministic from the
seed: same parameters -> byte-identical clips.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .config import MOTIONS, NUM_DIGITS, MovingDigitsConfig

__all__ = ["digit_images", "split_images", "GeneratedSplit", "render", "generate_split"]

# Geometry, in canvas units (the canvas is [-1, 1), i.e. 1.0 = half the frame side).
TRAVEL = 1.0                    # straight motions: distance covered over the clip (half the frame)
CIRCLE_RADIUS = 0.4             # circles: radius (a fifth of the frame side)
CIRCLE_ARC = 1.5 * np.pi        # circles: angle swept over the clip (three quarters of a turn)
ZOOM = float(np.log(1.6))       # zooms: log of the scale ratio between last and first frame
ROTATION = 0.5 * np.pi          # rotations: angle turned over the clip (a quarter turn)
SCALE_RANGE = (0.22, 0.55)      # glyph half-size at mid-clip, log-uniform (glyph width / frame side)
TILT = 0.15                     # every glyph gets a random tilt in [-TILT, TILT] radians
_CHUNK = 1 << 21                # samples rendered at once (bounds memory for large sizes)


@lru_cache(maxsize=1)
def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits: images ``(1797, 8, 8)`` float32 in 0-255, targets ``(1797,)`` int64."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images.astype(np.float32) * np.float32(255.0 / 16.0))
    images.setflags(write=False)
    targets = digits.target.astype(np.int64)
    targets.setflags(write=False)
    return images, targets


def split_images(targets: np.ndarray, query_fraction: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of image indices into (database pool, query pool), disjoint, sorted."""
    db, query = [], []
    for digit in range(NUM_DIGITS):
        members = rng.permutation(np.flatnonzero(targets == digit))
        n_query = min(max(1, int(round(query_fraction * len(members)))), len(members) - 1)
        query.append(members[:n_query])
        db.append(members[n_query:])
    return np.sort(np.concatenate(db)), np.sort(np.concatenate(query))


@dataclass(frozen=True)
class GeneratedSplit:
    """One generated split: clips uint8 ``(N, 3, T, S, S)``, per-clip motion and digit class ids
    ``(N,)``, the index of the digit image used ``(N,)`` (into :func:`digit_images`), and the labels
    (``(N,)`` int64, or ``(N, C)`` float32 multi-hot in ``both`` mode)."""

    clips: np.ndarray
    motion: np.ndarray
    digit: np.ndarray
    image: np.ndarray
    labels: np.ndarray


def render(images: np.ndarray, image_index: np.ndarray, cx: np.ndarray, cy: np.ndarray,
           log_scale: np.ndarray, angle: np.ndarray, size: int) -> np.ndarray:
    """Draw glyphs on a wrap-around canvas by inverse affine mapping with bilinear sampling.

    ``images``: ``(K, 8, 8)`` float32; ``image_index`` ``(N,)``; glyph centre ``cx, cy``, log half-size
    and clockwise angle (radians) ``(N, T)`` in canvas units. Returns float32 ``(N, T, size, size)``.
    """
    n, t = cx.shape
    padded = np.zeros((images.shape[0], 10, 10), np.float32)
    padded[:, 1:9, 1:9] = images
    flat = padded.reshape(-1)
    grid = ((np.arange(size, dtype=np.float32) + 0.5) * np.float32(2.0 / size) - 1.0)
    out = np.empty((n, t, size, size), np.float32)
    step = max(1, _CHUNK // (t * size * size))
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        sl = slice(lo, hi)
        dx = grid[None, None, None, :] - cx[sl, :, None, None].astype(np.float32)
        dy = grid[None, None, :, None] - cy[sl, :, None, None].astype(np.float32)
        dx = np.mod(dx + 1.0, 2.0) - 1.0       # wrap: shortest offset on the torus
        dy = np.mod(dy + 1.0, 2.0) - 1.0
        inv = np.exp(-log_scale[sl]).astype(np.float32)[:, :, None, None]
        cos = np.cos(angle[sl]).astype(np.float32)[:, :, None, None] * inv
        sin = np.sin(angle[sl]).astype(np.float32)[:, :, None, None] * inv
        # glyph coordinates in [-1, 1] -> padded pixel coordinates 4u + 4.5 (pixel i's centre is i + 1)
        fx = np.clip((cos * dx + sin * dy) * 4.0 + 4.5, 0.0, 9.0)
        fy = np.clip((cos * dy - sin * dx) * 4.0 + 4.5, 0.0, 9.0)
        x0 = np.minimum(fx.astype(np.int32), 8)
        y0 = np.minimum(fy.astype(np.int32), 8)
        wx = fx - x0
        wy = fy - y0
        base = (image_index[sl].astype(np.int64) * 100)[:, None, None, None] + y0 * 10 + x0
        top = flat[base] * (1.0 - wx) + flat[base + 1] * wx
        bottom = flat[base + 10] * (1.0 - wx) + flat[base + 11] * wx
        out[sl] = top * (1.0 - wy) + bottom * wy
    return out


def _hsv_tints(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random saturated colours ``(n, 3)`` in [0, 1] with max channel 1 (hue uniform, saturation 0.5-1)."""
    hue = rng.random(n) * 6.0
    sat = 0.5 + 0.5 * rng.random(n)
    k = (np.array([5.0, 3.0, 1.0])[None, :] + hue[:, None]) % 6.0
    return 1.0 - sat[:, None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def generate_split(cfg: MovingDigitsConfig, pool: np.ndarray, per_class: int,
                   rng: np.random.Generator) -> GeneratedSplit:
    """Generate ``per_class`` clips for every label class from the digit images in ``pool``."""
    images, targets = digit_images()
    motions = cfg.motions
    m, t = len(motions), cfg.num_frames
    n = per_class * (NUM_DIGITS if cfg.labels == "digit" else m)
    if cfg.labels == "digit":
        digit = np.arange(n) % NUM_DIGITS
        motion = rng.permutation(np.arange(n) % m)
    else:
        motion = np.arange(n) % m
        digit = rng.permutation(np.arange(n) % NUM_DIGITS)
    # each digit class cycles through a shuffled list of its images in the pool
    image = np.empty(n, np.int64)
    for d in range(NUM_DIGITS):
        slots = np.flatnonzero(digit == d)
        members = rng.permutation(pool[targets[pool] == d])
        image[slots] = members[np.arange(len(slots)) % len(members)]

    kinds = [MOTIONS[name][0] for name in motions]
    speed = cfg.speed
    tau = (np.arange(t) / (t - 1) - 0.5)[None, :]          # (1, T) in [-0.5, 0.5], 0 at mid-clip
    # state at mid-clip: position uniform on the torus, log-uniform scale, small tilt
    cx = rng.uniform(-1.0, 1.0, n)[:, None] + 0.0 * tau
    cy = rng.uniform(-1.0, 1.0, n)[:, None] + 0.0 * tau
    log_scale = rng.uniform(np.log(SCALE_RANGE[0]), np.log(SCALE_RANGE[1]), n)[:, None] + 0.0 * tau
    angle = rng.uniform(-TILT, TILT, n)[:, None] + 0.0 * tau
    phase = rng.uniform(0.0, 2.0 * np.pi, n)[:, None]
    u = rng.uniform(-0.5, 0.5, n)[:, None]                 # static offsets matching moving marginals
    kind_of = np.array(kinds)[motion]
    params = [MOTIONS[name][1] for name in motions]
    for k, (kind, par) in enumerate(zip(kinds, params)):
        rows = motion == k
        if kind == "translate":
            cx[rows] += par[0] * TRAVEL * speed * tau
            cy[rows] += par[1] * TRAVEL * speed * tau
        elif kind == "circle":
            phi = phase[rows] + par[0] * CIRCLE_ARC * speed * tau
            cx[rows] += CIRCLE_RADIUS * np.cos(phi)
            cy[rows] += CIRCLE_RADIUS * np.sin(phi)
        elif kind == "zoom":
            log_scale[rows] += par[0] * ZOOM * speed * tau
        elif kind == "rotate":
            angle[rows] += par[0] * ROTATION * speed * tau
    if "zoom" in kinds:
        log_scale[kind_of != "zoom"] += ZOOM * speed * u[kind_of != "zoom"]
    if "rotate" in kinds:
        angle[kind_of != "rotate"] += ROTATION * speed * u[kind_of != "rotate"]

    intensity = render(images, image, cx, cy, log_scale, angle, cfg.size)
    for _ in range(cfg.distractor):
        # a second digit from the same image pool, drifting on a random walk (no consistent motion)
        other = pool[rng.integers(0, len(pool), n)]
        steps = rng.normal(size=(n, t - 1, 2))
        steps *= (TRAVEL * speed / (t - 1)) / np.maximum(np.linalg.norm(steps, axis=2, keepdims=True), 1e-9)
        path = np.concatenate([np.zeros((n, 1, 2)), np.cumsum(steps, axis=1)], axis=1)
        path += rng.uniform(-1.0, 1.0, (n, 1, 2)) - path.mean(axis=1, keepdims=True)
        d_scale = rng.uniform(np.log(SCALE_RANGE[0]), np.log(SCALE_RANGE[1]), n)[:, None] + 0.0 * tau
        d_angle = rng.uniform(-TILT, TILT, n)[:, None] + 0.0 * tau
        np.maximum(intensity, render(images, other, path[..., 0], path[..., 1], d_scale, d_angle, cfg.size),
                   out=intensity)

    tint = np.asarray(cfg.tint, np.float32)[None, :] if cfg.tint is not None else _hsv_tints(rng, n)
    tint = np.broadcast_to(tint, (n, 3)).astype(np.float32)
    clips = intensity[:, None] * tint[:, :, None, None, None]      # (N, 3, T, S, S)
    if cfg.noise > 0:
        clips += rng.standard_normal(clips.shape, dtype=np.float32) * np.float32(cfg.noise)
    clips = np.clip(np.rint(clips), 0, 255).astype(np.uint8)

    if cfg.labels == "motion":
        labels = motion.astype(np.int64)
    elif cfg.labels == "digit":
        labels = digit.astype(np.int64)
    else:
        labels = np.zeros((n, m + NUM_DIGITS), np.float32)
        labels[np.arange(n), motion] = 1.0
        labels[np.arange(n), m + digit] = 1.0
    return GeneratedSplit(clips=clips, motion=motion.astype(np.int64), digit=digit.astype(np.int64),
                          image=image, labels=labels)
