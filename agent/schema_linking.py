"""Which tables a question's first request describes, on a schema too big for
the prompt: the tables it names, those the knowledge and the value index rank
(a stored value the question names brings its table), and then the tables
those reference by foreign key (a fact table brings its dimensions, so the
join is written without a describe_tables call)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.catalog import SchemaCatalog

# "references customers.id" in a catalog description (agent/catalog.py).
# The reason given to a table brought by a foreign key ("orders references it").
REFERENCED = "references it"
_REFERENCES = re.compile(r"references ([^\s;()]+)\.[^\s;()]+")


def referenced_tables(catalog: SchemaCatalog, table: str) -> list[str]:
    """Return the tables `table` references by foreign key, in column order
    (read from its cached description: no second catalog read)."""
    found: list[str] = []
    for name in _REFERENCES.findall(catalog.describe([table])):
        resolved = catalog.table_resolve(name)
        if resolved is not None and resolved != table and resolved not in found:
            found.append(resolved)
    return found


def tables_to_describe(
    catalog: SchemaCatalog,
    ranked: list[str],
    *,
    top_k: int,
    why: dict[str, str] | None = None,
) -> list[tuple[str, str]]:
    """Return (table, why) for the first `top_k` ranked tables, followed by the
    tables they reference that are not among them."""
    why = why or {}
    chosen = [(table, why.get(table, "ranked")) for table in ranked[:top_k]]
    names = {table for table, _ in chosen}
    for table, _ in list(chosen):
        for referenced in referenced_tables(catalog, table):
            if referenced not in names:
                names.add(referenced)
                chosen.append((referenced, f"{table} {REFERENCED}"))
    return chosen


def brief_description(catalog: SchemaCatalog, table: str, why: str) -> str:
    """Return a referenced table's columns and types only (no samples, keys or
    notes): enough to write the join, at a fraction of a full description."""
    columns = ", ".join(
        f"{name} {declared}" for name, declared in catalog.column_types(table).items()
    )
    return f"Table {table} ({why}): {columns}"
