"""Golden files: what a generated script or manifest must be, byte for byte.

``TORCHX_UPDATE_GOLDEN=1`` (exactly ``1``) rewrites them; review the diff before committing.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


def check_golden(path: Path, text: str) -> None:
    """Assert ``text`` equals the golden file at ``path`` (rewritten first when asked)."""
    if os.environ.get("TORCHX_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}: run with TORCHX_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{path} differs (TORCHX_UPDATE_GOLDEN=1 rewrites it)"
