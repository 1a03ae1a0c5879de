"""Create `.env` from `.env.example` with freshly generated secrets.

Run by `make run` on a fresh checkout: `python -m sqlagent_project.envfile SRC DEST`.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet

PLACEHOLDER = "change-me"


def render(example: str) -> str:
    """Return the example with every secret placeholder filled."""
    lines = []
    for line in example.splitlines():
        if line == f"SECRET_KEY={PLACEHOLDER}":
            line = f"SECRET_KEY={secrets.token_urlsafe(50)}"
        elif line == f"FIELD_ENCRYPTION_KEY={PLACEHOLDER}":
            line = f"FIELD_ENCRYPTION_KEY={Fernet.generate_key().decode()}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    source, destination = Path(argv[1]), Path(argv[2])
    if destination.exists():
        print(f"{destination} exists; leaving it alone.")
        return 0
    destination.write_text(render(source.read_text()))
    destination.chmod(0o600)
    print(f"Created {destination} with a fresh SECRET_KEY and FIELD_ENCRYPTION_KEY.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
