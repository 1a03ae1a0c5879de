"""Shortcuts the in-process tests take past costs they would pay thousands of
times a run. Each leaves what a test can observe unchanged; servers that tests
start as subprocesses read the real settings and take none of them.

- A fast password hasher, as cookiecutter-django's test settings use: PBKDF2 at
  full strength costs about 1.2 s a hash here.
- Static files found once: every test client builds Django's middleware anew,
  and WhiteNoise's (WHITENOISE_USE_FINDERS) walked every app's static folder
  and stat'ed each file each time: some 70 ms a client, a third of the suite's
  CPU. The files found are reused for the same configuration, as one gunicorn
  worker reuses them for every request.
- A transactional test (`django_db(transaction=True)`: the streamed asks, the
  queue, the capacity tests) ends with Django's flush of every table. On
  PostgreSQL that is one TRUNCATE of some 50 tables and their indexes, which
  swaps every file underneath them: 0.6-0.9 s a test here. A DELETE of every
  row, in one transaction with the foreign keys (all DEFERRABLE in Django's
  schema) checked at its commit, leaves the same empty tables in about 0.05 s.
  The content types and permissions stay: the flush's post_migrate would only
  write the same rows back (no test creates either), at 0.15 s a test.
  A flush asked to reset the sequences still truncates.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

# What post_migrate recreates after every flush (rows of its own, never a test's).
KEPT = {"django_content_type", "auth_permission"}
TEST_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def fast_password_hasher(settings: Any) -> None:
    from django.contrib.auth import hashers

    settings.PASSWORD_HASHERS = TEST_PASSWORD_HASHERS
    # Both are lru_cached; the stubs type them as plain functions.
    hashers.get_hashers.cache_clear()  # type: ignore[attr-defined]
    hashers.get_hashers_by_algorithm.cache_clear()  # type: ignore[attr-defined]


def static_files_found_once() -> None:
    """Make WhiteNoise's middleware reuse the files an earlier instance found."""
    from whitenoise.middleware import WhiteNoiseMiddleware

    found: dict[tuple[Any, ...], dict[str, Any]] = {}

    def reusing(scan: Callable[..., None]) -> Callable[..., None]:
        def add(self: WhiteNoiseMiddleware, *args: Any, **kwargs: Any) -> None:
            if self.autorefresh:  # looks files up per request: nothing to reuse
                scan(self, *args, **kwargs)
                return
            given = (*args, *sorted(kwargs.items()))
            key = (scan.__name__, given, *_static_configuration(self, args))
            added = found.get(key)
            if added is None:
                before = dict(self.files)
                scan(self, *args, **kwargs)
                added = {u: f for u, f in self.files.items() if before.get(u) is not f}
                found[key] = added
            self.files.update(added)

        return add

    WhiteNoiseMiddleware.add_files = reusing(WhiteNoiseMiddleware.add_files)
    WhiteNoiseMiddleware.add_files_from_finders = reusing(
        WhiteNoiseMiddleware.add_files_from_finders
    )


def _static_configuration(middleware: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """What the files a WhiteNoise scan finds, and their headers, depend on."""
    from django.conf import settings

    return (
        middleware.static_prefix,
        middleware.max_age,
        middleware.allow_all_origins,
        middleware.charset,
        middleware.index_file,
        repr(getattr(settings, "WHITENOISE_MIMETYPES", None)),
        getattr(settings, "WHITENOISE_ADD_HEADERS_FUNCTION", None),
        getattr(settings, "WHITENOISE_IMMUTABLE_FILE_TEST", None),
        tuple(map(str, settings.STATICFILES_DIRS)),
        tuple(settings.INSTALLED_APPS),
        # A folder (add_files' root) that appears later (collectstatic) is
        # scanned then.
        bool(args) and os.path.isdir(args[0]),
    )


def flush_by_delete() -> None:
    """Make PostgreSQL's flush (a transactional test's teardown) delete rows."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncating = DatabaseOperations.sql_flush

    def sql_flush(
        self: DatabaseOperations,
        style: Any,
        tables: Sequence[str],
        *,
        reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:
        if reset_sequences or not tables:
            return truncating(
                self,
                style,
                tables,
                reset_sequences=reset_sequences,
                allow_cascade=allow_cascade,
            )
        # execute_sql_flush runs the list in one transaction.
        return [
            "SET CONSTRAINTS ALL DEFERRED",
            *(
                f"{style.SQL_KEYWORD('DELETE FROM')} "
                f"{style.SQL_FIELD(self.quote_name(table))}"
                for table in tables
                if table not in KEPT
            ),
        ]

    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign,assignment]
