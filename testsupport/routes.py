"""Every route of the project, read from Django's URL resolver (never a hand list).

A test that must hold on every route (a body limit, a 401 for anonymous callers)
iterates `project_routes()`: a route added later is covered without editing it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.urls import URLResolver, get_resolver

# Every method a route may answer; OPTIONS and HEAD follow GET.
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
SAMPLE_UUID = uuid.UUID("00000000-0000-4000-8000-000000000001")


@dataclass(frozen=True)
class Route:
    """One URL pattern with sample values filled in, and its view."""

    path: str
    pattern: str
    # The view function's name (`view` for every `as_view()`).
    view_name: str | None
    callback: Callable[..., Any]

    @property
    def view_class(self) -> type | None:
        """Return the class behind `as_view()`, or None for a function view."""
        return getattr(self.callback, "cls", None) or getattr(
            self.callback, "view_class", None
        )

    @property
    def is_api(self) -> bool:
        """Tell a DRF view (the JSON API) from a page or the admin."""
        from rest_framework.views import APIView

        cls = self.view_class
        return isinstance(cls, type) and issubclass(cls, APIView)

    @property
    def methods(self) -> tuple[str, ...]:
        """Return the methods the view implements (all of them for a function)."""
        cls = self.view_class
        if cls is None:
            return METHODS
        return tuple(m for m in METHODS if hasattr(cls, m.lower()))

    def __str__(self) -> str:
        return f"/{self.path}"


def _sample(name: str, converter: Any, sample_id: int) -> str:
    kind = type(converter).__name__ if converter is not None else ""
    if kind == "UUIDConverter":
        return str(SAMPLE_UUID)
    if kind == "IntConverter" or name.endswith("id"):
        return str(sample_id)
    if name == "app_label":
        return "accounts"
    return "x"


def _walk(
    resolver: URLResolver, prefix: str, sample_id: int
) -> Iterator[tuple[str, str, str | None, Callable[..., Any]]]:
    seen: set[tuple[str, int]] = set()
    reverse = resolver.reverse_dict
    for key in list(reverse):
        if isinstance(key, str):
            continue
        for possibilities, pattern, _defaults, converters in reverse.getlist(key):
            for template, params in possibilities:
                values = {p: _sample(p, converters.get(p), sample_id) for p in params}
                path = prefix + (template % values)
                if (path, id(key)) in seen:
                    continue
                seen.add((path, id(key)))
                name = getattr(key, "__name__", None)
                yield path, prefix + pattern, name, key
    for namespace_prefix, sub in resolver.namespace_dict.values():
        yield from _walk(sub, prefix + namespace_prefix, sample_id)


def project_routes(*, sample_id: int = 999_999) -> list[Route]:
    """Return every route of the root URLconf, ids replaced by `sample_id`."""
    routes: dict[str, Route] = {}
    for path, pattern, name, callback in _walk(get_resolver(), "", sample_id):
        routes.setdefault(path, Route(path, pattern, name, callback))
    return sorted(routes.values(), key=lambda r: r.path)
