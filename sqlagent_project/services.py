"""Write helpers every app's services share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models
from django.utils import timezone


def model_update(
    *, instance: models.Model, fields: Iterable[str], data: Mapping[str, Any]
) -> bool:
    """Set the given `fields` found in `data` that differ, then validate and save
    only those; return whether anything changed.

    Nothing changed means no write at all, so `updated_at` (which the engine cache
    reads as the record's version) moves only when the record did.
    """
    model_fields = {field.name: field for field in instance._meta.get_fields()}
    changed: list[str] = []
    for name in fields:
        if name not in data:
            continue
        if name not in model_fields:
            raise ValueError(f"{name} is not a field of {type(instance).__name__}.")
        if getattr(instance, name) != data[name]:
            setattr(instance, name, data[name])
            changed.append(name)
    if not changed:
        return False
    if "updated_at" in model_fields and "updated_at" not in changed:
        # auto_now is applied only to fields named in update_fields.
        instance.updated_at = timezone.now()  # type: ignore[attr-defined]
        changed.append("updated_at")
    instance.full_clean()
    instance.save(update_fields=changed)
    return True
