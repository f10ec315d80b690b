"""How a factory's table keys enter the experiment identity: the :func:`identity_keys` declaration.

The identity (see :mod:`hashbench.results.identity`) is what the leaderboard compares: runs whose
identities are equal differ only in their seed. By default every key of a component table, with the
factory's default when it is not set, is part of it; a factory declares the exceptions.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence, TypeVar

__all__ = ["identity_keys", "key_modes", "identity_resolver", "IDENTITY_ATTRIBUTE", "RESOLVE_ATTRIBUTE", "KEY_MODES"]

F = TypeVar("F", bound=Callable[..., Any])
#: The attribute :func:`identity_keys` sets on a factory: ``{key: mode}`` with a mode of KEY_MODES.
IDENTITY_ATTRIBUTE = "__hashbench_identity__"
#: ``ignore``: not in the identity; ``basename``: compared by file name; ``weights``: a weight file
#: that initialises the model (compared by file name, and left out when a trained model is rebuilt).
KEY_MODES = ("ignore", "basename", "weights")
#: The attribute :func:`identity_keys` sets on a factory for its ``resolve`` callable.
RESOLVE_ATTRIBUTE = "__hashbench_identity_resolve__"


def identity_keys(ignore: Sequence[str] = (), basename: Sequence[str] = (), weights: Sequence[str] = (),
                  resolve: Optional[Callable[[Mapping[str, Any]], Mapping[str, Any]]] = None) -> Callable[[F], F]:
    """Declare how a factory's table keys enter the experiment identity (what the leaderboard compares).

    ``ignore``: keys that say where things are, not what is measured (a dataset's ``root`` or
    ``cache``): runs that differ only in them are the same experiment. ``basename``: file paths whose
    file name identifies the content: only the name is compared. ``weights``: like ``basename``, for a
    file of weights that only initialises the model before training (a ``pretrained`` checkpoint):
    when hashbench rebuilds a trained model from its run directory (``hashbench search --video``), it
    leaves these keys out, since the run's own weights replace them. Every other key, with the
    factory's default when it is not set, is part of the identity.

    ``resolve``: for keys whose default is ``None`` meaning "derived" (a backbone's normalisation taken
    from its checkpoint), a callable receiving the table's values (defaults filled in, without
    ``name``) and returning the values those keys resolve to, so that a run that leaves the key unset
    and a run that sets it to what it resolves to are the same experiment. It must be cheap and
    read no files; a key it cannot resolve (returns None or leaves out) stays as given.
    """

    def mark(factory: F) -> F:
        modes = {key: "ignore" for key in ignore}
        modes.update({key: "basename" for key in basename})
        modes.update({key: "weights" for key in weights})
        setattr(factory, IDENTITY_ATTRIBUTE, modes)
        if resolve is not None:
            setattr(factory, RESOLVE_ATTRIBUTE, resolve)
        return factory

    return mark


def identity_resolver(factory: Any) -> Optional[Callable[[Mapping[str, Any]], Mapping[str, Any]]]:
    """The ``resolve`` callable a factory declared with :func:`identity_keys` (None when it declared none)."""
    return getattr(factory, RESOLVE_ATTRIBUTE, None)


def key_modes(factory: Any) -> Mapping[str, str]:
    """The ``{key: mode}`` a factory declared with :func:`identity_keys` (empty when it declared none)."""
    return getattr(factory, IDENTITY_ATTRIBUTE, {})
