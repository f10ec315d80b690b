"""Hara et al.'s 3D ResNets (3D-ResNets-PyTorch): depths 10-200, both checkpoint generations: torch-free factories.

``r3d10``, ``r3d18``, ``r3d34`` (BasicBlock) and ``r3d50``, ``r3d101``, ``r3d152``, ``r3d200`` (Bottleneck); the
model is in :mod:`.model`, the known checkpoints and normalisations in :mod:`.checkpoints`. All share the
keys documented on :func:`r3d18`; the defaults follow two profiles:

- 10/18/34: the retrieval repos' copy of Hara's 2017 code (Video-Retrieval-C3D, Video_Retrieval) and the
  CVPR2018 checkpoints: shortcut ``"A"``, normalisation ``"c3d_retrieval"``, init ``"hara2017"``;
- 50/101/152/200: the master branch (Video_Classification_ResNet3D's ``r3d50_K_200ep``): shortcut ``"B"``,
  normalisation ``"kinetics_master"``, init ``"kaiming"``.

A named checkpoint overrides the profile's shortcut (a contradicting ``shortcut`` is a ConfigError) and
its normalisation (unless ``normalization`` is set).
"""
from __future__ import annotations

from typing import Any, Optional

from hashbench.contract import (checkpoints_of, choice, conformance_example, identity_keys, known_checkpoints,
                                positive_int, read_state_dict, resolve_pretrained)
from hashbench.errors import CheckpointError, ConfigError

from .checkpoints import (CHECKPOINTS, NORMALIZATION_NAMES, NORMALIZATIONS, checkpoint_normalization, load_state,
                          owner_of)

#: The two initialisations (the model module holds the code; it is not imported before a build).
INITS = ("hara2017", "kaiming")

__all__ = ["FACTORIES", "NORMALIZATIONS", "NORMALIZATION_NAMES", "PROFILES", "build_hara", "r3d10", "r3d18", "r3d34",
           "r3d50", "r3d101", "r3d152", "r3d200"]

#: depth -> the defaults of unset keys: (shortcut, normalization, init).
PROFILES = {10: ("A", "c3d_retrieval", "hara2017"), 18: ("A", "c3d_retrieval", "hara2017"),
            34: ("A", "c3d_retrieval", "hara2017"), 50: ("B", "kinetics_master", "kaiming"),
            101: ("B", "kinetics_master", "kaiming"), 152: ("B", "kinetics_master", "kaiming"),
            200: ("B", "kinetics_master", "kaiming")}

_KEYS = """
    Input float clips ``(B, 3, T, H, W)``, any T, H, W (Hara trained on 16x112x112); output the mean over
    the last stage's positions, ``(B, feature_dim)``: 512 (BasicBlock) or 2048 (Bottleneck) at full width.
    Keys:

    - ``pretrained``: a known checkpoint name (``hashbench weights list``; the file is looked for in
      ``$HASHBENCH_WEIGHTS`` then torch's hub cache) or the path of a file in Hara's format (either
      generation, or any state dict with the same names), read with ``weights_only=True`` and loaded
      strictly: missing / unexpected / mis-shaped keys are a CheckpointError listing them (BatchNorm
      ``num_batches_tracked`` may be absent). Default: random init.
    - ``normalization``: ``"c3d_retrieval"`` (Video-Retrieval-C3D's mean/std (0.434, 0.405, 0.378) /
      (0.152, 0.149, 0.157) of 0-1 pixels), ``"kinetics"`` (CVPR2018 weights: 0-255 minus the ActivityNet
      mean (114.7748, 107.7354, 99.4750), std 1) or ``"kinetics_master"`` (master-branch weights: 0-1
      pixels, mean (0.4345, 0.4051, 0.3775), std (0.2768, 0.2713, 0.2737)). Unset: a named checkpoint's,
      else the depth's default ({normalization!r}); a path picks nothing by its file name. Exposed as
      ``input_mean``/``input_std`` in 0-255 units.
    - ``keep_classifier``: keep the checkpoint's classifier as ``fc`` (frozen, sized from the checkpoint);
      ``model.logits(clips)`` gives its logits, while the features stay the pooled penultimate ones.
      The classifier is not trained (``requires_grad`` False). Default: ``fc.*`` is dropped. Without
      ``pretrained`` (a trained run's model rebuilt by ``hashbench search --video``) ``fc`` is created by
      the first weights loaded that hold one.
    - ``shortcut``: ``"A"`` (parameter-free: strided subsample + zero channels) or ``"B"`` (1x1x1 conv + BN,
      keys ``downsample.0``/``.1``). Unset: a named checkpoint's; a file's (B when it holds
      ``downsample`` keys, else A); else {shortcut!r}.
    - ``shortcut_grad``: let gradients flow through type-A shortcuts (Hara's code detached them).
    - ``width``: base width (64 = the real model; smaller only for quick tests, not loadable from Hara).
    - ``widen_factor``: master's ``--resnet_widen_factor``: stage widths ``int(w * widen_factor)``.
    - ``conv1_t_size`` / ``conv1_t_stride``: conv1's temporal kernel / stride (master's options; 7 / 1).
    - ``no_max_pool``: drop the max pooling after conv1 (master's ``--no_max_pool``).
    - ``init``: ``"hara2017"`` (N(0, sqrt(2 / (k_t * k_h * C_out))), the 2017 code the retrieval repos
      copied) or ``"kaiming"`` (``kaiming_normal_`` fan_out, the CVPR2018 and master code); default {init!r}.
"""


def _factory_of(depth: int) -> Any:
    return FACTORIES[f"r3d{depth}"]


def build_hara(depth: int, pretrained: Optional[str], normalization: Optional[str], keep_classifier: bool,
               shortcut: Optional[str], shortcut_grad: bool, width: int, widen_factor: float, conv1_t_size: int,
               conv1_t_stride: int, no_max_pool: bool, init: str) -> Any:
    """Validate the keys, resolve ``pretrained``, build ``r3d<depth>`` and load its weights (see r3d18)."""
    name = f"r3d{depth}"
    if normalization is not None:
        choice("backbone.normalization", normalization, NORMALIZATION_NAMES)
    if shortcut is not None:
        choice("backbone.shortcut", shortcut, ("A", "B"))
    positive_int("backbone.width", width)
    if not widen_factor > 0 or int(width * widen_factor) < 1:
        raise ConfigError(f"backbone.widen_factor: must leave at least one channel (width {width} x"
                          f" {widen_factor!r} < 1)")
    positive_int("backbone.conv1_t_size", conv1_t_size)
    positive_int("backbone.conv1_t_stride", conv1_t_stride)
    choice("backbone.init", init, INITS)

    checkpoint = None
    state = None
    file = None
    if pretrained is not None:
        if not pretrained.strip():
            raise ConfigError("backbone.pretrained: empty path (was an environment variable unset?);"
                              " give the weight file or remove the key")
        owner = owner_of(pretrained)
        if owner is not None and owner != depth:
            raise ConfigError(f"backbone.pretrained: {pretrained!r} is a checkpoint of r3d{owner}, not of {name};"
                              f" use name = \"r3d{owner}\"")
        file, known = resolve_pretrained(pretrained, checkpoints_of(_factory_of(depth)))
        checkpoint = known if known is not None and known.name == pretrained else None
        implied = checkpoint.options.get("shortcut") if checkpoint is not None else None
        if implied is not None:
            if shortcut is not None and shortcut != implied:
                raise ConfigError(f"backbone.shortcut: {shortcut!r} contradicts the checkpoint {checkpoint.name!r}"
                                  f" (trained with shortcut {implied!r}); remove the key")
            shortcut = implied
        state = read_state_dict(file)
        if shortcut is None:  # a file: its keys say which shortcut it was trained with
            shortcut = "B" if any(".downsample." in key for key in state) else "A"
    default_shortcut, default_normalization, _ = PROFILES[depth]
    shortcut = shortcut or default_shortcut
    if normalization is None:
        normalization = (checkpoint_normalization(checkpoint) if checkpoint is not None else None) \
            or default_normalization
    if shortcut_grad and shortcut != "A":
        raise ConfigError("backbone.shortcut_grad: applies to type-A shortcuts only (this model has shortcut 'B',"
                          " whose convolutions always get gradients); remove the key")

    classes = None
    if keep_classifier and state is not None:
        if checkpoint is not None and checkpoint.classes:
            classes = checkpoint.classes
        else:
            fc = state.get("fc.weight")
            if fc is None or fc.dim() != 2:
                raise CheckpointError(f"backbone.keep_classifier: {file} holds no classifier (fc.weight);"
                                      " remove the key to load it without one")
            classes = int(fc.shape[0])

    from .model import resnet3d

    model = resnet3d(depth, width=width, normalization=normalization, shortcut_grad=shortcut_grad,
                     shortcut=shortcut, widen_factor=widen_factor, conv1_t_size=conv1_t_size,
                     conv1_t_stride=conv1_t_stride, no_max_pool=no_max_pool, init=init, classes=classes,
                     adopt_classifier=keep_classifier)
    model.checkpoint = checkpoint.name if checkpoint is not None else None
    if state is not None:
        load_state(model, state, file, drop_prefixes=() if keep_classifier else ("fc.",))
    return model


def _identity_of(depth: int):
    """What unset ``normalization``/``shortcut`` resolve to, for the experiment identity (no file read):
    a named checkpoint's, else the depth's profile; a weight file's shortcut stays unset (its keys decide)."""

    def resolve(values: dict) -> dict:
        pretrained = values.get("pretrained")
        named = next((c for c in CHECKPOINTS[depth] if c.name == pretrained), None) if pretrained else None
        default_shortcut, default_normalization, _ = PROFILES[depth]
        normalization = (checkpoint_normalization(named) if named is not None else None) or default_normalization
        if pretrained is None:
            shortcut = default_shortcut
        else:
            shortcut = named.options.get("shortcut") if named is not None else None
        return {"normalization": values.get("normalization") or normalization,
                "shortcut": values.get("shortcut") or shortcut}

    return resolve


def _doc(title: str, depth: int) -> str:
    shortcut, normalization, init = PROFILES[depth]
    return title + "\n" + _KEYS.format(shortcut=shortcut, normalization=normalization, init=init)


@known_checkpoints(*CHECKPOINTS[10])
@conformance_example({"width": 8})
@identity_keys(weights=("pretrained",), resolve=_identity_of(10))
def r3d10(pretrained: Optional[str] = None, normalization: Optional[str] = None, keep_classifier: bool = False,
          shortcut: Optional[str] = None, shortcut_grad: bool = False, width: int = 64, widen_factor: float = 1.0,
          conv1_t_size: int = 7, conv1_t_stride: int = 1, no_max_pool: bool = False, init: str = "hara2017") -> Any:
    return build_hara(10, **locals())


@known_checkpoints(*CHECKPOINTS[18])
@conformance_example({"width": 8})
@identity_keys(weights=("pretrained",), resolve=_identity_of(18))
def r3d18(pretrained: Optional[str] = None, normalization: Optional[str] = None, keep_classifier: bool = False,
          shortcut: Optional[str] = None, shortcut_grad: bool = False, width: int = 64, widen_factor: float = 1.0,
          conv1_t_size: int = 7, conv1_t_stride: int = 1, no_max_pool: bool = False, init: str = "hara2017") -> Any:
    return build_hara(18, **locals())


@known_checkpoints(*CHECKPOINTS[34])
@conformance_example({"width": 8})
@identity_keys(weights=("pretrained",), resolve=_identity_of(34))
def r3d34(pretrained: Optional[str] = None, normalization: Optional[str] = None, keep_classifier: bool = False,
          shortcut: Optional[str] = None, shortcut_grad: bool = False, width: int = 64, widen_factor: float = 1.0,
          conv1_t_size: int = 7, conv1_t_stride: int = 1, no_max_pool: bool = False, init: str = "hara2017") -> Any:
    return build_hara(34, **locals())


@known_checkpoints(*CHECKPOINTS[50])
@conformance_example({"width": 8})
@identity_keys(weights=("pretrained",), resolve=_identity_of(50))
def r3d50(pretrained: Optional[str] = None, normalization: Optional[str] = None, keep_classifier: bool = False,
          shortcut: Optional[str] = None, shortcut_grad: bool = False, width: int = 64, widen_factor: float = 1.0,
          conv1_t_size: int = 7, conv1_t_stride: int = 1, no_max_pool: bool = False, init: str = "kaiming") -> Any:
    return build_hara(50, **locals())


@known_checkpoints(*CHECKPOINTS[101])
@conformance_example({"width": 4})
@identity_keys(weights=("pretrained",), resolve=_identity_of(101))
def r3d101(pretrained: Optional[str] = None, normalization: Optional[str] = None, keep_classifier: bool = False,
           shortcut: Optional[str] = None, shortcut_grad: bool = False, width: int = 64, widen_factor: float = 1.0,
           conv1_t_size: int = 7, conv1_t_stride: int = 1, no_max_pool: bool = False, init: str = "kaiming") -> Any:
    return build_hara(101, **locals())


@known_checkpoints(*CHECKPOINTS[152])
@conformance_example({"width": 4})
@identity_keys(weights=("pretrained",), resolve=_identity_of(152))
def r3d152(pretrained: Optional[str] = None, normalization: Optional[str] = None, keep_classifier: bool = False,
           shortcut: Optional[str] = None, shortcut_grad: bool = False, width: int = 64, widen_factor: float = 1.0,
           conv1_t_size: int = 7, conv1_t_stride: int = 1, no_max_pool: bool = False, init: str = "kaiming") -> Any:
    return build_hara(152, **locals())


@known_checkpoints(*CHECKPOINTS[200])
@conformance_example({"width": 4})
@identity_keys(weights=("pretrained",), resolve=_identity_of(200))
def r3d200(pretrained: Optional[str] = None, normalization: Optional[str] = None, keep_classifier: bool = False,
           shortcut: Optional[str] = None, shortcut_grad: bool = False, width: int = 64, widen_factor: float = 1.0,
           conv1_t_size: int = 7, conv1_t_stride: int = 1, no_max_pool: bool = False, init: str = "kaiming") -> Any:
    return build_hara(200, **locals())


_TITLES = {
    10: "3D ResNet-10 of Hara et al. (BasicBlock [1, 1, 1, 1]); no published checkpoint.",
    18: "3D ResNet-18 of Hara et al. (BasicBlock [2, 2, 2, 2]), the Video-Retrieval-C3D backbone.",
    34: "3D ResNet-34 of Hara et al. (BasicBlock [3, 4, 6, 3]).",
    50: "3D ResNet-50 of Hara et al. (Bottleneck [3, 4, 6, 3]), Video_Classification_ResNet3D's backbone.",
    101: "3D ResNet-101 of Hara et al. (Bottleneck [3, 4, 23, 3]).",
    152: "3D ResNet-152 of Hara et al. (Bottleneck [3, 8, 36, 3]).",
    200: "3D ResNet-200 of Hara et al. (Bottleneck [3, 24, 36, 3]).",
}
FACTORIES: dict = {}
for _depth, _factory in ((10, r3d10), (18, r3d18), (34, r3d34), (50, r3d50), (101, r3d101), (152, r3d152),
                         (200, r3d200)):
    _factory.__doc__ = _doc(_TITLES[_depth], _depth)
    FACTORIES[f"r3d{_depth}"] = _factory
