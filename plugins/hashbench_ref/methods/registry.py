"""The reference set's methods: each classic baseline of :mod:`.classic` that exists, registered as a
method (torch-free: the factory imports the baseline and the adapter when it builds).

A factory's keys are the baseline's constructor parameters (``bits`` and ``seed`` come from the
experiment: ``[method] bits`` and the top-level seed), plus ``backbone``: an inline backbone table
(``backbone = { name = "r3d18", pretrained = "..." }``) that makes the baseline read clips through that
frozen backbone's pooled features (:mod:`.frozen`; ``num_frames`` reaches the backbone from the
dataset). What each baseline computes is documented in its module; :class:`~.adapter.ClassicMethod`
says how it is fed.
"""
from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path
from typing import Any, Callable, Optional

from hashbench.contract import conformance_example

__all__ = ["FACTORIES", "CLASSIC"]

#: method name -> (module under .classic, class name), in the order of the papers' tables.
CLASSIC = {"lsh": ("lsh", "LSH"), "pcah": ("pcah", "PCAH"), "itq": ("itq", "ITQ"), "sh": ("sh", "SH"),
           "sph": ("sph", "SpH"), "agh": ("agh", "AGH")}
_PACKAGE = __name__.rsplit(".", 1)[0] + ".classic"
#: Tables the conformance kit checks a baseline with, where its defaults need more data than the kit's.
EXAMPLES = {"agh": {"anchors": 16}}
_KEYWORD = inspect.Parameter.POSITIONAL_OR_KEYWORD
_SIMPLE = {"int": int, "float": float, "bool": bool, "str": str}
#: The keys every baseline adds to its class's: the frozen backbone's table, and its context ``num_frames``.
_FROZEN = (inspect.Parameter("backbone", _KEYWORD, default=None, annotation=Optional[dict]),
           inspect.Parameter("num_frames", _KEYWORD, default=None, annotation=Optional[int]))


def _factory(module: str, class_name: str) -> Callable[..., Any]:
    """A factory building ``ClassicMethod(<class_name>(**params))``, through a frozen backbone when
    ``backbone`` is given (imports the baseline, and builds the backbone, when called)."""
    def build(backbone: Optional[dict] = None, num_frames: Optional[int] = None, **params: Any) -> Any:
        from .adapter import ClassicMethod

        cls = getattr(importlib.import_module(f"{_PACKAGE}.{module}"), class_name)
        hasher = cls(**params)
        if backbone is None:
            return ClassicMethod(hasher)
        from .frozen import build_frozen

        return ClassicMethod(hasher, build_frozen(backbone, params.get("seed", 0), num_frames))

    build.__name__ = module
    return build


def _class_node(path: Path, class_name: str) -> ast.ClassDef | None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name), None)


def _init_signature(node: ast.ClassDef) -> inspect.Signature:
    """The keyword parameters of the class's ``__init__`` (read from its source: no torch import), with
    literal defaults and simple annotations; a class without its own ``__init__`` has ``bits, seed``."""
    init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is None:
        return inspect.Signature([inspect.Parameter("bits", _KEYWORD, annotation=int),
                                  inspect.Parameter("seed", _KEYWORD, default=0, annotation=int)])
    args = init.args.args[1:]
    defaults = [inspect.Parameter.empty] * (len(args) - len(init.args.defaults)) + \
        [ast.literal_eval(d) for d in init.args.defaults]
    return inspect.Signature([inspect.Parameter(
        a.arg, _KEYWORD, default=d, annotation=_SIMPLE.get(ast.unparse(a.annotation) if a.annotation else "",
                                                           inspect.Parameter.empty))
        for a, d in zip(args, defaults)])


def _signed(module: str, class_name: str) -> Callable[..., Any] | None:
    """:func:`_factory` with the baseline's signature and summary, or None when the class is not there."""
    path = Path(__file__).resolve().parent / "classic" / f"{module}.py"
    node = _class_node(path, class_name) if path.is_file() else None
    if node is None:
        return None
    factory = _factory(module, class_name)
    signature = _init_signature(node)
    signature = signature.replace(parameters=[*signature.parameters.values(), *_FROZEN])
    factory.__signature__ = signature  # type: ignore[attr-defined]
    factory.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()
                               if p.annotation is not inspect.Parameter.empty}
    summary = (ast.get_docstring(node) or class_name).splitlines()[0]
    factory.__doc__ = f"{summary} (classic baseline, fit only; `backbone` runs it on clips)"
    return factory


def _available() -> dict[str, Callable[..., Any]]:
    found = {}
    for name, (module, class_name) in CLASSIC.items():
        factory = _signed(module, class_name)
        if factory is not None:
            found[name] = conformance_example(EXAMPLES[name])(factory) if name in EXAMPLES else factory
    return found


@conformance_example({"backbone": {"name": "r3d18", "width": 4}, "head": {"name": "tanh"},
                      "loss": {"name": "batch_all_triplet", "margin": 2}})
def deep_hashing(backbone: dict, head: dict, loss: dict, bits: int, seed: int = 0, device: str = "cpu",
                 num_classes: int | None = None, multi_label: bool = False, num_frames: int | None = None,
                 num_train: int | None = None, feature_dim: int | None = None) -> Any:
    """Backbone + head + loss as one method (what a [backbone]/[head]/[loss] TOML runs); each table as in a
    TOML, built by hashbench.build_deep_hashing with these context values."""
    import hashbench

    context = {"bits": bits, "seed": seed, "device": device, "multi_label": multi_label, "num_classes": num_classes,
               "num_frames": num_frames, "num_train": num_train, "feature_dim": feature_dim}
    return hashbench.build_deep_hashing(backbone, head, loss, **{k: v for k, v in context.items() if v is not None})


deep_hashing.needs_labels = True  # type: ignore[attr-defined]  # as DeepHashing: the leaderboard's family


def _self_supervised() -> dict[str, Callable[..., Any]]:
    from .selfsupervised import FACTORIES as SELF_SUPERVISED

    return SELF_SUPERVISED


def _unsupervised() -> dict[str, Callable[..., Any]]:
    from .unsupervised import FACTORIES as UNSUPERVISED

    return UNSUPERVISED


FACTORIES = {"deep_hashing": deep_hashing, **_available(), **_self_supervised(), **_unsupervised()}
