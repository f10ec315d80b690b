"""Registry: parameter binding (the factory convention), lookups, metric spec parsing."""
from __future__ import annotations

from typing import Optional

import pytest

import hashbench
from hashbench.errors import ConfigError, PluginError
from hashbench.contract import Component, Registry, bind_parameters


def factory(bits: int, margin: float = 14.0, weighting: str = "original", root: Optional[str] = None,
            num_classes: int = 0):
    """A factory for tests."""
    return dict(bits=bits, margin=margin, weighting=weighting, root=root, num_classes=num_classes)


def test_table_keys_and_context_are_bound_by_parameter_name():
    kwargs = bind_parameters(factory, {"margin": 8}, {"bits": 48, "num_classes": 101, "device": "cpu"},
                             where="loss")
    assert kwargs == {"margin": 8, "bits": 48, "num_classes": 101}  # device not asked for: not passed


def test_a_table_owned_context_value_wins_over_context():
    # the head's own table defines bits (TABLE_OWNED); its value is what the head gets
    assert bind_parameters(factory, {"bits": 16}, {"bits": 48}, where="head", owned=("bits",))["bits"] == 16


@pytest.mark.parametrize("key,origin", [("bits", "head.bits"), ("num_classes", "the dataset")])
def test_context_names_are_not_table_keys_and_the_allowed_list_says_which_are(key, origin):
    with pytest.raises(ConfigError) as info:
        bind_parameters(factory, {key: 3}, {"bits": 48, "num_classes": 3}, where="loss")
    assert str(info.value) == (f"loss.{key}: set by hashbench from {origin}, not a key of [loss]; remove it"
                               " (allowed keys: margin, root, weighting)")


def test_unknown_key_suggests_the_closest_parameter():
    with pytest.raises(ConfigError, match=r"loss\.margn: unknown key \(did you mean 'margin'\?\)"):
        bind_parameters(factory, {"margn": 3}, {"bits": 48}, where="loss")


def test_missing_required_key_is_named():
    with pytest.raises(ConfigError, match=r"head: missing required key 'bits'"):
        bind_parameters(factory, {}, {}, where="head")


@pytest.mark.parametrize("key,value", [("margin", "big"), ("weighting", 3), ("bits", 4.5), ("bits", True),
                                       ("root", 7)])
def test_wrong_simple_types_are_rejected_with_key_and_value(key, value):
    with pytest.raises(ConfigError, match=rf"loss\.{key}: expected .*got {value!r}"):
        bind_parameters(factory, {"bits": 48, key: value} if key != "bits" else {key: value}, {},
                        where="loss", owned=("bits",))


def test_int_is_accepted_where_a_float_is_expected_and_none_for_optional():
    kwargs = bind_parameters(factory, {"margin": 8, "root": None}, {"bits": 4}, where="loss")
    assert kwargs["margin"] == 8 and kwargs["root"] is None


def test_unknown_component_lists_the_available_names():
    registry = Registry()
    registry.components["loss"]["batch_all_triplet"] = Component("loss", "batch_all_triplet", factory,
                                                                 "hashbench", "0")
    with pytest.raises(PluginError, match=r"unknown loss 'batch_all_tripet' \(did you mean "
                                          r"'batch_all_triplet'\?\); available: batch_all_triplet"):
        registry.get("loss", "batch_all_tripet")
    with pytest.raises(PluginError, match="unknown component kind"):
        registry.names("optimizer")


def test_build_requires_a_name():
    with pytest.raises(ConfigError, match=r"\[loss\] needs a `name` key"):
        Registry().build("loss", {"margin": 3})


def test_parametrised_metric_specs_are_parsed():
    seen = {}

    def top_k(k: int):
        """Metric with a cut-off."""
        seen["k"] = k
        return lambda *a: 0.0

    def radius(r: int):
        """Metric with a radius."""
        seen["r"] = r
        return lambda *a: 0.0

    registry = Registry()
    registry.components["metric"]["map@k"] = Component("metric", "map@k", top_k, "x", "1")
    registry.components["metric"]["precision@r"] = Component("metric", "precision@r", radius, "x", "1")
    assert registry.build_metric("map@100")[0] == "map@100" and seen["k"] == 100
    assert registry.build_metric("precision@r2")[0] == "precision@r2" and seen["r"] == 2
    with pytest.raises(PluginError, match="unknown metric 'recall@5'"):
        registry.build_metric("recall@5")


def test_reference_set_is_registered_through_the_entry_point():
    registry = hashbench.registry()
    for kind, name in [("backbone", "r3d18"), ("head", "tanh"), ("loss", "batch_all_triplet"),
                       ("dataset", "moving_digits"), ("metric", "map"), ("metric", "map@k"),
                       ("metric", "map_tie")]:
        component = registry.get(kind, name)
        assert component.dist == "hashbench"
        assert component.summary, f"{kind} {name} has no one-line docstring summary"
    assert not registry.broken


def test_value_errors_of_a_factory_become_config_errors_naming_the_table():
    def picky(width: int = 16):
        """Rejects odd widths like a third-party plugin would (plain ValueError)."""
        if width % 2:
            raise ValueError(f"width must be even, got {width}")
        return width

    registry = Registry()
    registry.components["backbone"]["picky"] = Component("backbone", "picky", picky, "x", "1")
    assert registry.build("backbone", {"name": "picky", "width": 4}) == 4
    with pytest.raises(ConfigError, match=r"^backbone: width must be even, got 3$"):
        registry.build("backbone", {"name": "picky", "width": 3})
