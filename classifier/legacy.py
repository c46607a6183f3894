"""Model files saved before the stages became sub-packages of ``narrative_tracker``.

Such a file names its own types by their old module paths (``classifier.model.NarrativeClassifier``).
Those names are never imported: an installation may hold an unrelated package called ``classifier``.
Instead the file's schema is read with each old module path mapped to the one it became, and the
mapped names go through the same trusted-types check as any other file.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

SCHEMA = "schema.json"
#: Module paths of the first release's model files -> where those modules live now.
RENAMED_MODULES = {
    "classifier.model": "narrative_tracker.classifier.model",
    "classifier.features": "narrative_tracker.classifier.features",
}


def _rename(node: Any) -> tuple[Any, bool]:
    """``node`` with every ``__module__`` of ``RENAMED_MODULES`` renamed, and whether any was."""
    if isinstance(node, list):
        pairs = [_rename(item) for item in node]
        return [item for item, _ in pairs], any(changed for _, changed in pairs)
    if not isinstance(node, dict):
        return node, False
    renamed, changed = {}, False
    for key, value in node.items():
        if key == "__module__" and value in RENAMED_MODULES:
            renamed[key], changed = RENAMED_MODULES[value], True
        else:
            renamed[key], inner = _rename(value)
            changed = changed or inner
    return renamed, changed


def upgrade_model_bytes(data: bytes) -> bytes:
    """The bytes of a skops file whose old module paths are mapped to the current ones
    (``data`` itself when it names none)."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        schema, changed = _rename(json.loads(source.read(SCHEMA)))
        if not changed:
            return data
        target = io.BytesIO()
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as upgraded:
            for info in source.infolist():
                payload = json.dumps(schema).encode() if info.filename == SCHEMA else source.read(info)
                upgraded.writestr(info.filename, payload)
    return target.getvalue()
