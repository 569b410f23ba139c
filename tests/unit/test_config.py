"""core.config: option() with help, help_of(), strict_from_dict() on a small real dataclass."""

from dataclasses import dataclass, fields

import pytest

from core.config import help_of, option, strict_from_dict


@dataclass
class Demo:
    rate: float = option(0.5, "How fast.")
    names: list[str] = option(["a", "b"], "Which ones.")
    extra: dict = option({"k": [1]}, "More.", unit="GB")
    plain: int = 3


def test_option_carries_help_and_extra_metadata():
    meta = {f.name: f.metadata for f in fields(Demo)}
    assert meta["rate"]["help"] == "How fast."
    assert meta["extra"] == {"help": "More.", "unit": "GB"}


def test_mutable_defaults_are_copied_per_instance():
    one, two = Demo(), Demo()
    one.names.append("c")
    one.extra["k"].append(2)
    assert two.names == ["a", "b"] and two.extra == {"k": [1]}
    assert Demo().names == ["a", "b"]


def test_help_of_maps_every_field():
    assert help_of(Demo) == {"rate": "How fast.", "names": "Which ones.", "extra": "More.", "plain": ""}


def test_strict_from_dict_builds_and_refuses_unknown_keys():
    assert strict_from_dict(Demo, {"rate": 1.0}, "demo setting(s)") == Demo(rate=1.0)
    with pytest.raises(ValueError, match=r"^unknown demo setting\(s\): nope, typo$"):
        strict_from_dict(Demo, {"typo": 1, "nope": 2, "rate": 1.0}, "demo setting(s)")
