"""Name -> landscape factory registry (the catalogue registers itself here).

The package ``descentlab.landscapes`` imports the catalogue after this module, so the registry
is full whenever it can be reached; it never imports the catalogue itself (that would be a
cycle: the catalogue imports ``register`` from here)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from descentlab.errors import InvalidParameterError, UnknownNameError, normalize_name
from descentlab.landscapes.base import Landscape


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    factory: Callable[..., Landscape]
    summary: str
    any_dim: bool  # True when the factory takes ``dim``

    def parameters(self) -> dict[str, Any]:
        """The factory's keyword parameters and their defaults."""
        return {
            p.name: p.default
            for p in inspect.signature(self.factory).parameters.values()
            if p.default is not inspect.Parameter.empty
        }


_REGISTRY: dict[str, CatalogEntry] = {}


def register(
    name: str, summary: str = ""
) -> Callable[[Callable[..., Landscape]], Callable[..., Landscape]]:
    """Decorator: register a landscape factory under ``name``.

    ``summary`` (one sentence, for the catalogue listing and the web page) defaults to the
    first paragraph of the factory's docstring.
    """

    def deco(factory: Callable[..., Landscape]) -> Callable[..., Landscape]:
        key = normalize_name(name)
        any_dim = "dim" in inspect.signature(factory).parameters
        doc = summary or _first_paragraph(inspect.getdoc(factory) or "")
        _REGISTRY[key] = CatalogEntry(key, factory, doc, any_dim)
        return factory

    return deco


def _first_paragraph(doc: str) -> str:
    # The docstring's first sentence may wrap over several lines: take the whole paragraph.
    return " ".join(doc.split("\n\n")[0].split())


def list_landscapes() -> list[CatalogEntry]:
    """Every registered landscape, sorted by name."""
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def landscape_names() -> list[str]:
    return sorted(_REGISTRY)


def get_landscape(name: str | Landscape, **params: Any) -> Landscape:
    """Build a catalogue landscape by name, e.g. ``get_landscape("rosenbrock", dim=5)``.

    Unknown names list the valid ones; unknown parameters list the accepted ones.
    """
    if isinstance(name, Landscape):
        if params:
            raise InvalidParameterError("parameters cannot be applied to an existing Landscape")
        return name
    key = normalize_name(name)
    if key not in _REGISTRY:
        raise UnknownNameError("landscape", str(name), _REGISTRY)
    entry = _REGISTRY[key]
    accepted = entry.parameters()
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        valid = ", ".join(f"{k}={v!r}" for k, v in accepted.items()) or "none"
        raise InvalidParameterError(
            f"landscape {key!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"accepted: {valid}",
            param=unknown[0],
        )
    return entry.factory(**params)
