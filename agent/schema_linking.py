"""Which tables a question's first request describes, on a schema too big for
the prompt: the tables it names, those the knowledge and the value index rank
(a stored value the question names brings its table), then the tables those
reference by foreign key (a fact table brings its dimensions, so the join is
written without a describe_tables call), then the link tables that join two
of them by shared key columns where no foreign key is declared."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.catalog import SchemaCatalog

# "references customers.id" in a catalog description (agent/catalog.py).
# The reason given to a table brought by a foreign key ("orders references it").
REFERENCED = "references it"
_REFERENCES = re.compile(r"references ([^\s;()]+)\.[^\s;()]+")


# Words that make a table a copy of another (`stg_orders`, `orders_archive`):
# dbt's and warehouses' usual prefixes and suffixes.
VARIANT_WORDS = frozenset(
    [
        "stg",
        "staging",
        "raw",
        "tmp",
        "temp",
        "old",
        "archive",
        "archived",
        "backup",
        "bak",
        "copy",
        "history",
        "hist",
        "snapshot",
        "audit",
        "v1",
        "v2",
        "v3",
        "test",
        "dev",
        "legacy",
        "int",
    ]
)
# Bridges described per question at most, and how many tables a key column may
# be shared by before it says nothing of a join (`user_id` everywhere).
BRIDGES_MAX = 3
BRIDGE_KEY_MAX_TABLES = 60


def variant_base(table: str, by_lower: Mapping[str, str], asked: set[str]) -> str:
    """Return the table `table` is a variant of (`stg_orders`: `orders`), when
    the schema has it and the question does not say the variant's word."""
    parts = table.lower().split("_")
    while len(parts) > 1:
        if parts[0] in VARIANT_WORDS and parts[0] not in asked:
            parts = parts[1:]
        elif parts[-1] in VARIANT_WORDS and parts[-1] not in asked:
            parts = parts[:-1]
        else:
            break
        base = by_lower.get("_".join(parts))
        if base is not None:
            return base
    return table


def _key_like(column: str) -> bool:
    """A column that names a key (`aid`, `business_id`), not a bare `id`."""
    name = column.lower()
    return name != "id" and name.endswith("id")


def bridge_tables(
    catalog: SchemaCatalog, chosen: list[str], *, limit: int = BRIDGES_MAX
) -> list[tuple[str, str]]:
    """Return (table, why) for tables not chosen that join two chosen ones by
    a key column shared with each (`writes` (aid, pid) joins `author` and
    `publication`): the link tables a question never names, found without
    foreign keys. Variants (`stg_writes`) stand back for their table; the
    narrowest bridges come first."""
    columns = catalog.columns_all()
    if len(chosen) < 2 or not columns:
        return []
    holders = catalog.tables_by_column()
    by_lower = {name.lower(): name for name in columns}
    taken = set(chosen)
    found: dict[str, tuple[str, str]] = {}
    for first_index, first in enumerate(chosen):
        for second in chosen[first_index + 1 :]:
            for key_a in {c.lower() for c in columns.get(first, []) if _key_like(c)}:
                for key_b in {
                    c.lower() for c in columns.get(second, []) if _key_like(c)
                }:
                    if key_a == key_b:
                        continue
                    both = holders.get(key_a, set()) & holders.get(key_b, set())
                    if len(both) > BRIDGE_KEY_MAX_TABLES:
                        continue
                    for table in both:
                        table = variant_base(table, by_lower, set())
                        if table not in taken and table not in found:
                            found[table] = (first, second)
    # Between the best-ranked tables first, then those named after the tables
    # they join (`domain_publication`), then the narrowest.
    rank = {table: position for position, table in enumerate(chosen)}

    def named_after(bridge: str) -> int:
        name = bridge.lower()
        return sum(side.lower() in name for side in found[bridge])

    ordered = sorted(
        found,
        key=lambda t: (
            rank[found[t][0]] + rank[found[t][1]],
            -named_after(t),
            len(columns.get(t, [])),
            t,
        ),
    )
    return [(t, f"joins {found[t][0]} and {found[t][1]}") for t in ordered[:limit]]


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
    # Link tables between the ranked ones, when no foreign key declares them.
    chosen += bridge_tables(catalog, [t for t, _ in chosen])
    return chosen


def is_brief(why: str) -> bool:
    """Whether a table chosen for this reason is described by its columns only."""
    return why.endswith(REFERENCED) or why.startswith("joins ")


def brief_description(catalog: SchemaCatalog, table: str, why: str) -> str:
    """Return a referenced table's columns and types only (no samples, keys or
    notes): enough to write the join, at a fraction of a full description."""
    columns = ", ".join(
        f"{name} {declared}" for name, declared in catalog.column_types(table).items()
    )
    return f"Table {table} ({why}): {columns}"
