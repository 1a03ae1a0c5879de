"""Import files that cannot be read, or are too long, are a 400 with the reason.

Each shape goes through the three ways in: the API, the page's upload and the
import_examples command; none imports anything.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from knowledge.models import Example, GoldenSet

pytestmark = pytest.mark.django_db

GOOD = '{"question": "How many orders?", "sql": "SELECT COUNT(*) FROM orders"}'

DIGITS = (
    "Exceeds the limit (4300 digits) for integer string conversion: value has "
    "5000 digits; use sys.set_int_max_str_digits() to increase the limit"
)
DEEP_ARRAY = "[" * 50_000 + "]" * 50_000
BIG_CSV_FIELD = "question,sql\nHow many?," + '"SELECT 1 AS ' + "a" * 140_000 + '"\n'

UNREADABLE = {
    "json_nested_50000_deep": (
        "deep.json",
        DEEP_ARRAY,
        "The JSON array is nested too deeply to read: each item must be a flat object.",
    ),
    "csv_field_over_128_kb": (
        "big.csv",
        BIG_CSV_FIELD,
        "The CSV file cannot be read at line 2: field larger than field limit "
        "(131072); nothing was imported.",
    ),
    "json_number_of_5000_digits": (
        "digits.json",
        '[{"question": "q", "sql": "SELECT 1", "n": ' + "9" * 5000 + "}]",
        f"The JSON array is not valid JSON: {DIGITS}",
    ),
}


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.mark.parametrize("shape", UNREADABLE)
def test_an_unreadable_file_is_a_400_with_the_reason_on_the_api(
    alice_client, alice, make_connection, shape
):
    name, text, reason = UNREADABLE[shape]
    connection = make_connection(alice, "sqlite")

    response = alice_client.post(
        f"/databases/{connection.id}/knowledge/import",
        {"file": SimpleUploadedFile(name, text.encode())},
    )

    assert response.status_code == 400
    assert response.json() == {"detail": reason, "code": "import_file_invalid"}
    assert not Example.objects.exists()


@pytest.mark.parametrize("shape", UNREADABLE)
def test_an_unreadable_file_is_a_message_on_the_page(
    alice_page, alice, make_connection, settings, shape
):
    name, text, reason = UNREADABLE[shape]
    connection = make_connection(alice, "sqlite")

    response = alice_page.post(
        f"/knowledge/{connection.id}/import/",
        {"file": SimpleUploadedFile(name, text.encode()), "set": "gold"},
        follow=True,
    )

    assert response.status_code == 200
    assert _messages(response) == [reason]
    assert not GoldenSet.objects.exists()


@pytest.mark.parametrize("shape", UNREADABLE)
def test_an_unreadable_file_fails_the_import_command(
    alice, make_connection, tmp_path, shape
):
    name, text, reason = UNREADABLE[shape]
    connection = make_connection(alice, "sqlite")
    path = tmp_path / name
    path.write_text(text)

    with pytest.raises(CommandError) as raised:
        call_command("import_examples", str(connection.id), str(path))

    assert str(raised.value) == reason
    assert not Example.objects.exists()


def test_a_jsonl_line_nested_too_deeply_is_reported_and_the_others_kept(
    alice_client, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    text = f"{GOOD}\n" + '{"question": ' + "[" * 50_000 + "\n" + GOOD + "\n"

    response = alice_client.post(
        f"/databases/{connection.id}/knowledge/import",
        {"file": SimpleUploadedFile("e.jsonl", text.encode())},
    )

    assert response.status_code == 200
    assert response.json() == {
        "created": 2,
        "errors": [{"line": 2, "error": "nested too deeply to read"}],
    }


REFUSED_LINES = [
    ('{"question": ["a"], "sql": "SELECT 1"}', "question is not text"),
    ('{"question": "q", "sql": {"x": 1}}', "sql is not text"),
    (
        '{"question": "q", "sql": "SELECT 1", "instructions": true}',
        "instructions is not text",
    ),
    (
        '{"question": "' + "q" * 2001 + '", "sql": "SELECT 1"}',
        "question is longer than 2,000 characters",
    ),
    (
        '{"question": "q", "sql": "SELECT \'' + "a" * 20000 + "'\"}",
        "sql is longer than 20,000 characters",
    ),
    (
        '{"question": "q\\u0000", "sql": "SELECT 1"}',
        "question contains a NUL character",
    ),
    (
        '{"question": "q", "sql": "SELECT 1", "n": ' + "9" * 5000 + "}",
        f"not valid JSON ({DIGITS})",
    ),
]


@pytest.mark.parametrize(("line", "error"), REFUSED_LINES)
def test_a_line_the_api_would_refuse_is_reported_and_the_others_kept(
    alice_client, alice, make_connection, line, error
):
    connection = make_connection(alice, "postgresql")

    response = alice_client.post(
        f"/databases/{connection.id}/knowledge/import",
        {"file": SimpleUploadedFile("e.jsonl", f"{line}\n{GOOD}\n".encode())},
    )

    assert response.status_code == 200
    assert response.json() == {"created": 1, "errors": [{"line": 1, "error": error}]}
    assert list(Example.objects.values_list("question", flat=True)) == [
        "How many orders?"
    ]


def test_a_csv_line_with_a_nul_character_is_reported_not_a_500(
    alice_client, alice, make_connection
):
    connection = make_connection(alice, "postgresql")
    text = "question,sql\nq\x00,SELECT 1\nHow many?,SELECT COUNT(*) FROM orders\n"

    response = alice_client.post(
        f"/databases/{connection.id}/knowledge/import",
        {"file": SimpleUploadedFile("e.csv", text.encode())},
    )

    assert response.json() == {
        "created": 1,
        "errors": [{"line": 2, "error": "question contains a NUL character"}],
    }


# ---------------------------------------------------------------------------
# The bound on an import's lines
# ---------------------------------------------------------------------------

TOO_LONG = (
    "The file has more than 3 lines, the most one import takes: split it. "
    "Nothing was imported."
)


def _files(lines: int) -> dict[str, str]:
    pair = ("How many?", "SELECT COUNT(*) FROM orders")
    return {
        "e.jsonl": "".join(
            f'{{"question": "{pair[0]}", "sql": "{pair[1]}"}}\n' for _ in range(lines)
        ),
        "e.json": "["
        + ", ".join(
            f'{{"question": "{pair[0]}", "sql": "{pair[1]}"}}' for _ in range(lines)
        )
        + "]",
        "e.csv": "question,sql\n" + f"{pair[0]},{pair[1]}\n" * lines,
    }


@pytest.mark.parametrize("name", ["e.jsonl", "e.json", "e.csv"])
def test_a_file_over_the_line_bound_is_refused_whole_on_the_api(
    alice_client, alice, make_connection, settings, name
):
    settings.KNOWLEDGE_IMPORT_MAX_LINES = 3
    connection = make_connection(alice, "sqlite")
    url = f"/databases/{connection.id}/knowledge/import"

    refused = alice_client.post(
        url, {"file": SimpleUploadedFile(name, _files(4)[name].encode())}
    )
    taken = alice_client.post(
        url, {"file": SimpleUploadedFile(name, _files(3)[name].encode())}
    )

    assert refused.status_code == 400
    assert refused.json() == {"detail": TOO_LONG, "code": "import_too_long"}
    assert taken.json() == {"created": 3, "errors": []}
    assert Example.objects.count() == 3


def test_a_file_over_the_line_bound_is_a_message_on_the_page(
    alice_page, alice, make_connection, settings
):
    settings.KNOWLEDGE_IMPORT_MAX_LINES = 3
    connection = make_connection(alice, "sqlite")

    response = alice_page.post(
        f"/knowledge/{connection.id}/import/",
        {"file": SimpleUploadedFile("e.csv", _files(4)["e.csv"].encode())},
        follow=True,
    )

    assert _messages(response) == [TOO_LONG]
    assert not Example.objects.exists()


def test_a_file_over_the_line_bound_fails_the_import_command(
    alice, make_connection, settings, tmp_path
):
    settings.KNOWLEDGE_IMPORT_MAX_LINES = 3
    connection = make_connection(alice, "sqlite")
    path = tmp_path / "e.jsonl"
    path.write_text(_files(4)["e.jsonl"])

    with pytest.raises(CommandError, match="more than 3 lines"):
        call_command("import_examples", str(connection.id), str(path))

    assert not Example.objects.exists()
