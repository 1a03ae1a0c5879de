"""Chart choice from a result's shape and types (Vega-Lite v5 specs)."""

from __future__ import annotations

import json

import pytest

from agent.charts import VEGA_LITE_SCHEMA, ChartRequest, chart_for


def _result(columns, types, rows):
    return {
        "columns": columns,
        "column_types": types,
        "rows": rows,
        "row_count": len(rows),
        "truncated": False,
    }


MONTHLY = _result(
    ["month", "revenue"],
    ["date", "decimal"],
    [["2026-01-01", "155.50"], ["2026-02-01", "134.99"], ["2026-03-01", "265.25"]],
)


def test_a_date_column_and_a_number_make_a_line_chart():
    spec = chart_for(MONTHLY)

    assert spec["$schema"] == VEGA_LITE_SCHEMA
    assert spec["mark"]["type"] == "line"
    assert spec["encoding"]["x"] == {
        "field": "c0",
        "type": "temporal",
        "title": "month",
    }
    assert spec["encoding"]["y"]["type"] == "quantitative"
    assert spec["data"]["values"][0] == {"c0": "2026-01-01", "c1": 155.5}


def test_dates_stored_as_text_as_sqlite_does_are_read_as_dates():
    result = _result(
        ["created", "n"], ["text", "integer"], [["2026-01-05", 1], ["2026-02-11", 2]]
    )

    assert chart_for(result)["encoding"]["x"]["type"] == "temporal"


def test_one_category_and_one_number_make_a_bar_chart_sorted_by_value():
    result = _result(
        ["country", "customers"],
        ["text", "integer"],
        [["France", 1], ["Germany", 3], ["USA", 1]],
    )

    spec = chart_for(result)

    assert spec["mark"]["type"] == "bar"
    assert spec["data"]["values"][0]["c0"] == "Germany"
    assert spec["encoding"]["x"]["sort"] == "-y"


def test_many_categories_are_cut_to_the_top_n_and_the_rest_is_noted(settings):
    settings.CHART_MAX_CATEGORIES = 5
    rows = [[f"c{i}", i] for i in range(30)]

    spec = chart_for(_result(["name", "value"], ["text", "integer"], rows))

    assert len(spec["data"]["values"]) == 5
    assert spec["data"]["values"][0] == {"c0": "c29", "c1": 29.0}
    assert spec["title"] == "Top 5 of 30 by value"


def test_two_numbers_make_a_scatter_plot():
    result = _result(["x", "y"], ["float", "decimal"], [[1.5, "2.0"], [2.5, "3.5"]])

    assert chart_for(result)["mark"]["type"] == "point"


@pytest.mark.parametrize(
    "result",
    [
        _result(["n"], ["integer"], [[42]]),
        _result(["n", "m"], ["integer", "integer"], [[1, 2]]),
        _result(["a", "b"], ["text", "text"], [["x", "y"], ["z", "w"]]),
        _result(["name", "n"], ["text", "integer"], [["a", 1], ["a", 2]]),
        None,
        _result(["n"], ["integer"], []),
    ],
    ids=["single-value", "one-row", "no-number", "repeated-category", "none", "empty"],
)
def test_shapes_without_a_fitting_chart_get_none(result):
    assert chart_for(result) is None


def test_too_many_rows_get_no_chart(settings):
    settings.CHART_MAX_POINTS = 10
    rows = [[i, i * 2] for i in range(11)]

    assert chart_for(_result(["a", "b"], ["integer", "integer"], rows)) is None


def test_decimals_as_postgresql_and_mysql_return_them_are_numbers():
    result = _result(
        ["country", "total"], ["text", "decimal"], [["DE", "120.50"], ["FR", "99.99"]]
    )

    spec = chart_for(result)

    assert spec["mark"]["type"] == "bar"
    assert spec["data"]["values"][0]["c1"] == 120.5


def test_the_model_may_choose_another_type_and_axes_among_the_columns():
    result = _result(
        ["month", "orders", "revenue"],
        ["date", "integer", "decimal"],
        [["2026-01-01", 2, "155.50"], ["2026-02-01", 2, "134.99"]],
    )

    spec = chart_for(result, request=ChartRequest(type="bar", x="month", y="revenue"))

    assert spec["mark"]["type"] == "bar"
    assert spec["encoding"]["y"]["title"] == "revenue"


def test_the_model_may_ask_for_no_chart():
    assert chart_for(MONTHLY, request=ChartRequest(type="none")) is None


@pytest.mark.parametrize(
    "request_",
    [
        ChartRequest(type="pie", x="month", y="revenue"),
        ChartRequest(type="bar", x="month", y="no_such_column"),
        ChartRequest(type="bar", x="javascript:alert(1)", y="revenue"),
        ChartRequest(type="scatter", x="month", y="revenue"),
        ChartRequest(type="line", x="revenue", y="month"),
    ],
    ids=[
        "unknown-type",
        "unknown-axis",
        "url-axis",
        "scatter-of-dates",
        "y-not-number",
    ],
)
def test_chart_requests_outside_the_allowed_set_are_ignored(request_):
    spec = chart_for(MONTHLY, request=request_)

    assert spec == chart_for(MONTHLY)
    assert "javascript" not in json.dumps(spec)


def test_column_names_are_titles_never_field_paths_or_expressions():
    result = _result(
        ["a.b[0]", "datum.x + 1"], ["text", "integer"], [["p", 1], ["q", 2]]
    )

    spec = chart_for(result)

    assert spec["encoding"]["x"]["field"] == "c0"
    assert spec["encoding"]["x"]["title"] == "a.b[0]"
    assert spec["encoding"]["y"]["title"] == "datum.x + 1"


def test_id_columns_are_labels_not_measures():
    result = _result(
        ["id", "created"], ["integer", "date"], [[1, "2026-01-01"], [2, "2026-01-02"]]
    )

    assert chart_for(result) is None


@pytest.mark.django_db
@pytest.mark.parametrize("db_type", ["postgresql", "mysql", "sqlite"])
def test_chart_choice_reads_each_engines_own_types(alice, make_connection, db_type):
    from agent.querying import result_as_dict
    from agent.sql_guard import query_run
    from connections.engines import engine_create

    engine = engine_create(make_connection(alice, db_type))
    try:
        over_time = query_run(
            engine,
            db_type=db_type,
            sql="SELECT created, total FROM orders ORDER BY created",
            max_rows=100,
            timeout_s=10,
        )
        per_country = query_run(
            engine,
            db_type=db_type,
            sql="SELECT c.country, SUM(o.total) AS revenue FROM customers c "
            "JOIN orders o ON o.customer_id = c.id GROUP BY c.country",
            max_rows=100,
            timeout_s=10,
        )
    finally:
        engine.dispose()

    line = chart_for(result_as_dict(over_time))
    bar = chart_for(result_as_dict(per_country))

    assert line["mark"]["type"] == "line"
    assert line["encoding"]["x"]["type"] == "temporal"
    assert line["data"]["values"][0]["c1"] == 120.5
    assert bar["mark"]["type"] == "bar"
    assert bar["data"]["values"][0] == {"c0": "USA", "c1": 250.0}
    assert {"c0": "Germany", "c1": 212.85} in bar["data"]["values"]
