"""One exception tree: everything sitewatch raises on purpose is a SitewatchError,
so a caller (the CLI, the web layer, a supervisor) can tell "refused on purpose"
from "a bug"."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import sitewatch
from sitewatch.errors import SitewatchError


def test_every_exception_class_of_sitewatch_is_a_sitewatch_error() -> None:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(sitewatch.__path__, "sitewatch."):
        if ".migrations" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = value
    assert len(found) >= 15, sorted(found)  # the walk really found them
    strays = sorted(name for name, cls in found.items() if not issubclass(cls, SitewatchError))
    assert strays == []
