"""What the command line costs to start: every command is a process of its own."""

from __future__ import annotations

import subprocess
import sys


def test_commands_start_without_the_web_framework_or_alembic() -> None:
    # Importing FastAPI and alembic cost ~0.3 s each on every `keys` or `users` command, though
    # only `serve` and `migrate` use them; those two import them when they run.
    probe = (
        "import sys, billabled.cli.main; "
        "print(sorted(m for m in ('fastapi', 'alembic', 'uvicorn') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"
