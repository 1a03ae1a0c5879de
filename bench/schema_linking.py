"""Schema-linking recall on Defog's 314 PostgreSQL questions, each database
padded with distractor tables to 2,000 and to 10,000 tables: the share of
questions whose gold tables (parsed from the gold SQL with sqlglot) are all
described with their columns in the first model request, and what the schema
part of that request costs in tokens.

The first request is built by the service's own path, without a model:
`system_prompt` (the schema part: the table list on a schema this big) and
`question_context_prepare` (knowledge, value matches, the tables named,
retrieved and referenced), exactly as `agent/llm/runner.py` assembles it.

What is real and what is not:
- The catalog (`SchemaCatalog`) reads a SQLite file holding the padded schema
  (Defog's tables with their columns and primary keys, and the distractors),
  without rows: loading 10,000 tables into PostgreSQL per Defog database would
  take longer than the bench may. Table and column names are folded to lower
  case, as PostgreSQL stores the unquoted names of Defog's DDL. Two of its
  reads are served from the generated metadata instead: the bulk column read
  that ranks tables (one `get_multi_columns` query on PostgreSQL, but one
  reflection per table on SQLite: minutes over 132,000 tables) and the sample
  rows (the tables are empty). Descriptions, keys and the table list are read
  from the file.
- The value index is built from Defog's real rows in PostgreSQL (loaded once by
  `bench.value_recall`), on a connection of the read-only role, as after a
  connect; it is the connection whose knowledge and values are looked up.
- Distractors are generated deterministically (seeded): realistic names from
  other domains (`hr_payroll_run`, `fleet_vehicle_service`, …) with plausible
  columns, and near-duplicates of the database's own tables (`stg_author`,
  `author_archive`, …) with the same or nearly the same columns.

LangChain's SQLDatabaseToolkit agent is given beside it: its first request
holds the tools and the question only (the table list comes back from its
first `sql_db_list_tables` call), so no gold table is described in it; the
list's tokens are what that call returns.

    python -m bench.schema_linking     # prints the figures as JSON
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.value_recall import DEFOG, READER, READER_PASSWORD, database_load, questions

SIZES = (2000, 10000)
SEED = 23
_CREATE = re.compile(r"CREATE TABLE\s+([\w.\"]+)\s*\((.*?)\);", re.I | re.S)


def _words(text: str) -> list[str]:
    return text.split()


# Other domains' nouns and qualifiers: distractor names such as a big
# warehouse holds (`crm_lead_score`, `fleet_vehicle_daily`).
_AREAS = _words(
    "hr crm erp fin ops mkt inv wms fleet iot web app pos lms ehr gis ads sec "
    "billing support legal risk audit tax qa bi dw etl ml"
)
_NOUNS = _words(
    "payroll_run employee_shift leave_request invoice_line purchase_order "
    "shipment_leg warehouse_bin stock_movement vehicle_service fuel_log "
    "sensor_reading device_event page_view click_stream ad_impression "
    "campaign_budget lead_score opportunity_stage ticket_comment sla_breach "
    "contract_clause tax_filing ledger_entry gl_account cost_center budget_line "
    "asset_register maintenance_job work_order bill_of_material supplier_rating "
    "course_enrolment quiz_attempt lab_result prescription_fill claim_line "
    "policy_holder premium_payment parcel_scan route_stop delivery_window "
    "menu_item table_booking loyalty_point gift_card store_visit shelf_audit "
    "price_change promo_code survey_response nps_score churn_signal "
    "feature_flag deploy_event build_job incident_report alert_rule "
    "login_attempt password_reset api_key_usage quota_limit rate_plan "
    "meter_read tariff_band outage_event grid_node pipeline_segment "
    "well_log crop_yield soil_sample weather_obs tide_gauge flight_leg "
    "crew_roster baggage_tag seat_map gate_assignment hotel_stay room_rate "
    "event_ticket venue_section artist_royalty track_play playlist_entry"
)
_QUALIFIERS = _words(
    "daily monthly weekly archive staging history snapshot summary detail log "
    "raw clean agg fact dim map bridge queue backup legacy v2 eu us apac tmp"
)
_COLUMNS = _words(
    "id name code status type category amount quantity price total currency "
    "created_at updated_at deleted_at start_date end_date year month region "
    "country city state email phone description notes owner_id parent_id "
    "external_ref score rating title label is_active version source"
)
_NEAR = _words(
    "stg_{} {}_archive {}_backup old_{} {}_history tmp_{} {}_v2 {}_snapshot raw_{} "
    "{}_staging {}_copy {}_audit"
)


def defog_tables(name: str) -> dict[str, list[tuple[str, str]]]:
    """Return a Defog database's tables and their columns (name, type), as
    PostgreSQL stores them (unquoted names folded to lower case)."""
    import sqlglot
    from sqlglot import exp

    text = (DEFOG / "defog_data" / f"{name}.sql").read_text(encoding="utf-8")
    text = re.sub(r"--[^\n]*", "", text)
    tables: dict[str, list[tuple[str, str]]] = {}
    for match in _CREATE.finditer(text):
        statement = f"CREATE TABLE {match.group(1)} ({match.group(2)})"
        tree = sqlglot.parse_one(statement, read="postgres")
        table = tree.find(exp.Table)
        assert table is not None
        columns = [
            (
                c.name.lower(),
                (c.args["kind"].sql("sqlite") if c.args.get("kind") else ""),
            )
            for c in tree.find_all(exp.ColumnDef)
        ]
        tables[table.name.lower()] = columns
    return tables


def distractors(
    own: dict[str, list[tuple[str, str]]], count: int, seed: int
) -> dict[str, list[tuple[str, str]]]:
    """Return `count` distractor tables: near-duplicates of each own table
    (same or nearly the same columns), then other domains' tables."""
    rng = random.Random(seed)
    made: dict[str, list[tuple[str, str]]] = {}
    for table, columns in own.items():
        for pattern in _NEAR:
            if len(made) >= count:
                return made
            kept = [c for c in columns if rng.random() > 0.15] or columns[:1]
            made[pattern.format(table)] = kept
    names = [
        f"{area}_{noun}{'_' + q if q else ''}"
        for area in _AREAS
        for noun in _NOUNS
        for q in ("", *_QUALIFIERS)
    ]
    rng.shuffle(names)
    for name in names:
        if len(made) >= count:
            break
        if name in own or name in made:
            continue
        stem = name.split("_")[1]
        picked = rng.sample(_COLUMNS, rng.randint(4, 10))
        columns = [("id", "INTEGER"), (f"{stem}_id", "INTEGER")]
        columns += [(c, "TEXT") for c in picked if c != "id"]
        made[name] = columns
    return made


def padded_schema_write(
    path: Path, own: dict[str, list[tuple[str, str]]], size: int, seed: int
) -> dict[str, list[str]]:
    """Write a SQLite file of Defog's tables and distractors up to `size`
    tables; return every table's column names."""
    tables = {**own, **distractors(own, size - len(own), seed)}
    statements = []
    for table, columns in tables.items():
        defs = ", ".join(f'"{c}" {t or "TEXT"}' for c, t in columns)
        statements.append(f'CREATE TABLE "{table}" ({defs});')
    db = sqlite3.connect(path)
    try:
        db.executescript("BEGIN;\n" + "\n".join(statements) + "\nCOMMIT;")
    finally:
        db.close()
    return {table: [c for c, _ in columns] for table, columns in tables.items()}


def _padded_catalog(engine: Any, columns: dict[str, list[str]]) -> Any:
    """Return a SchemaCatalog of the padded file whose bulk column read is the
    schema's own metadata (what PostgreSQL's one `get_multi_columns` query
    returns; SQLite's reflection reads each of 10,000 tables one by one) and
    whose tables have no rows to sample."""
    from agent.catalog import SchemaCatalog

    class PaddedCatalog(SchemaCatalog):
        def columns_all(self) -> dict[str, list[str]]:
            return columns

        def _samples(self, table: str, names: list[str]) -> dict[str, list[str]]:
            return {}

    return PaddedCatalog(engine, "sqlite")


def gold_tables(sql: str) -> set[str] | None:
    """Return the tables the first gold query reads (CTE names left out), or
    None when it cannot be parsed. `{a, b}` (any subset) is read as `a, b`."""
    import sqlglot
    from sqlglot import exp

    first = sql.split(";")[0]
    first = re.sub(r"\{\s*\}", "1", re.sub(r"\{([^}]*)\}", r"\1", first))
    try:
        tree = sqlglot.parse_one(first, read="postgres")
    except sqlglot.errors.ParseError:
        return None
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    return {
        t.name.lower() for t in tree.find_all(exp.Table) if t.name.lower() not in ctes
    } or None


# Tokens are counted as for this model (o200k_base, shipped in agent/tokenizers),
# not the bench stub's four-characters estimate.
TOKEN_MODEL = "gpt-4.1-mini"


def measure(sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    """Return recall and schema tokens per padded size, with the misses."""
    from django.test.utils import override_settings

    with override_settings(OPENAI_MODEL=TOKEN_MODEL):
        return _measure(sizes)


def _measure(sizes: tuple[int, ...]) -> dict[str, Any]:
    from sqlalchemy import create_engine

    from agent.llm.prompt import question_context_prepare
    from agent.tokens import count_tokens, schema_token_budget
    from bench.common import user_with_token
    from connections.services import connection_create
    from knowledge.values import value_index_build

    user, _ = user_with_token("bench-linking")
    by_db: dict[str, list[dict[str, str]]] = {}
    for item in questions():
        by_db.setdefault(item["db_name"], []).append(item)
    work = Path(tempfile.mkdtemp(prefix="sqlagent-linking-"))
    results: dict[str, Any] = {}
    connections = {}
    for name in sorted(by_db):
        connections[name] = connection_create(
            owner=user,
            db_type="postgresql",
            host="127.0.0.1",
            port=5432,
            database_name=database_load(name),
            username=READER,
            password=READER_PASSWORD,
        )
        value_index_build(connection=connections[name])
    for size in sizes:
        found = total = unparsed = 0
        tokens: list[int] = []
        described_tokens: list[int] = []
        seconds: list[float] = []
        missed: list[dict[str, Any]] = []
        list_tokens: list[int] = []
        for name, asked in sorted(by_db.items()):
            own = defog_tables(name)
            path = work / f"{name}-{size}.sqlite3"
            columns = padded_schema_write(path, own, size, SEED)
            engine = create_engine(f"sqlite:///{path}")
            catalog = _padded_catalog(engine, columns)
            listed = catalog.prompt(token_budget=schema_token_budget())
            list_tokens.append(count_tokens(", ".join(catalog.table_names())))
            for item in asked:
                gold = gold_tables(item["query"])
                if gold is None:
                    unparsed += 1
                    continue
                started = time.perf_counter()
                prepared = question_context_prepare(
                    connection_id=connections[name].pk,
                    question=item["question"],
                    catalog=catalog,
                )
                seconds.append(time.perf_counter() - started)
                described = {d["table"].lower() for d in prepared.described}
                total += 1
                tokens.append(listed.tokens + prepared.schema_tokens)
                described_tokens.append(prepared.schema_tokens)
                if listed.inlined or gold <= described:
                    found += 1
                else:
                    missed.append(
                        {
                            "db": name,
                            "question": item["question"][:120],
                            "missed": sorted(gold - described),
                            "described": [d["table"] for d in prepared.described],
                        }
                    )
            engine.dispose()
        tokens.sort()
        described_tokens.sort()
        seconds.sort()
        results[str(size)] = {
            "questions": total,
            "unparsed": unparsed,
            "all_gold_described": found,
            "recall": found / total if total else None,
            "schema_tokens_median": tokens[len(tokens) // 2],
            "schema_tokens_max": tokens[-1],
            "described_tokens_median": described_tokens[len(described_tokens) // 2],
            "linking_ms_median": round(seconds[len(seconds) // 2] * 1000, 1),
            "toolkit_recall": 0.0,
            "toolkit_list_tokens_median": sorted(list_tokens)[len(list_tokens) // 2],
            "missed": missed,
        }
    return results


def main() -> int:
    from bench.common import django_setup

    work = Path(tempfile.mkdtemp(prefix="sqlagent-linking-"))
    django_setup(sqlite_dir=work, llm_base_url="http://127.0.0.1:9/v1")
    started = time.perf_counter()
    result = measure()
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
