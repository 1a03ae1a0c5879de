"""Re-encrypt every stored connection password under the first FIELD_ENCRYPTION_KEY.

Rotation: put the new key first in FIELD_ENCRYPTION_KEY (keep the old one after
it), run this command, then drop the old key.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from connections.services import connections_reencrypt


class Command(BaseCommand):
    help = "Re-encrypt every stored connection password under the first key."

    def handle(self, *args: Any, **options: Any) -> None:
        count = connections_reencrypt()
        self.stdout.write(
            self.style.SUCCESS(f"Re-encrypted {count} connection password(s).")
        )
