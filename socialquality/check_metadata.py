"""Readable metadata for the pipeline's checks (Dagster asset checks and the audit page).

Dagster shows an asset check's history without the partition of the asset it checks, and a nested
dict as one stringified blob. :func:`readable` gives every result the wave label ("meting") first,
and flattens nested values into one plain "key: value" entry each (texts and numbers only).
"""

from __future__ import annotations

import json
from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, bool):
        return "ja" if value else "nee"
    if isinstance(value, (int, float, str)) or value is None:
        return "" if value is None else value
    if isinstance(value, (list, tuple)):
        return ", ".join(str(_plain(v)) for v in value)
    return json.dumps(value, ensure_ascii=False, default=str)


def readable(wave: str, metadata: dict[str, Any], limit: int = 60) -> dict[str, Any]:
    out: dict[str, Any] = {"meting": str(wave)}
    for key, value in (metadata or {}).items():
        if isinstance(value, dict):
            for sub, v in value.items():
                if len(out) >= limit:
                    break
                out[f"{key} · {sub}"] = _plain(v)
        else:
            out[str(key)] = _plain(value)
        if len(out) >= limit:
            out["…"] = f"{len(metadata)} entries; see the audit page"
            break
    return out


def description(wave: str, text: str) -> str:
    return f"Meting {wave}: {text}"
