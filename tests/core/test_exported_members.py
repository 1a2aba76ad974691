"""The public API is exactly what ``satchel/__init__.py`` lists in a sorted ``__all__``.

Modelled on httpx's ``tests/test_exported_members.py``.
"""

from __future__ import annotations
import __future__

import importlib.metadata
import inspect
import types

import satchel
import satchel.errors
import satchel.models


def test_all_is_sorted_and_unique() -> None:
    assert satchel.__all__ == sorted(satchel.__all__)
    assert len(set(satchel.__all__)) == len(satchel.__all__)


def test_every_name_in_all_exists() -> None:
    missing = [name for name in satchel.__all__ if not hasattr(satchel, name)]
    assert missing == []


def test_every_public_member_is_in_all() -> None:
    """Nothing public sneaks out without being listed (submodules and __future__ aside)."""
    public = {
        name
        for name, value in vars(satchel).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType | __future__._Feature)
    }
    assert public == {name for name in satchel.__all__ if not name.startswith("_")}


def test_error_classes_are_re_exported() -> None:
    classes = [
        name for name in satchel.errors.__all__ if inspect.isclass(getattr(satchel.errors, name))
    ]
    assert "SatchelError" in classes
    assert "NotFoundError" in classes
    for name in classes:
        assert name in satchel.__all__, f"satchel.{name} is not exported"
        assert getattr(satchel, name) is getattr(satchel.errors, name)


def test_every_error_class_is_listed_in_errors_all() -> None:
    def subclasses(cls: type) -> set[type]:
        found = {cls}
        for sub in cls.__subclasses__():
            found |= subclasses(sub)
        return found

    defined = {
        cls.__name__
        for cls in subclasses(satchel.errors.SatchelError)
        if cls.__module__ == "satchel.errors"
    }
    assert defined <= set(satchel.errors.__all__)
    assert sorted(satchel.errors.__all__) == satchel.errors.__all__


def test_value_types_are_re_exported() -> None:
    for name in ("Artifact", "ArtifactFile", "Occurrence", "Run"):
        assert getattr(satchel, name) is getattr(satchel.models, name)


def test_version_matches_the_installed_distribution() -> None:
    assert satchel.__version__ == importlib.metadata.version("satchel")
