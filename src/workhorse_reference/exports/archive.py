"""``entity=all`` in a one-table format: the per-entity files in one zip archive."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path


def zip_files(target: Path, files: Sequence[Path]) -> None:
    """Write ``files`` (by their names) into the archive ``target``, compressed,
    streaming each from disk."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, arcname=path.name)
