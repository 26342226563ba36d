"""Readable metadata for the pipeline's checks (Dagster asset checks and the audit page).

Dagster shows an asset check's history without the partition of the asset it checks, and a nested
dict as one stringified blob. :func:`readable` gives every result the wave label ("meting") first,
and flattens nested values into one plain "key: value" entry each (texts and numbers only).
Texts follow the current language of :mod:`socialquality.i18n` (the assets set it from the
configuration): "meting"/"wave", "ja"/"yes".
"""

from __future__ import annotations

import json
from typing import Any

from socialquality.i18n import _


def _plain(value: Any) -> Any:
    if isinstance(value, bool):
        return _("ja") if value else _("nee")
    if isinstance(value, (int, float, str)) or value is None:
        return "" if value is None else value
    if isinstance(value, (list, tuple)):
        return ", ".join(str(_plain(v)) for v in value)
    return json.dumps(value, ensure_ascii=False, default=str)


def readable(wave: str, metadata: dict[str, Any], limit: int = 60) -> dict[str, Any]:
    out: dict[str, Any] = {_("meting"): str(wave)}
    for key, value in (metadata or {}).items():
        if isinstance(value, dict):
            for sub, v in value.items():
                if len(out) >= limit:
                    break
                out[f"{key} · {sub}"] = _plain(v)
        else:
            out[str(key)] = _plain(value)
        if len(out) >= limit:
            out["…"] = _("%(n)s gegevens; zie het auditoverzicht", n=len(metadata))
            break
    return out


def description(wave: str, text: str) -> str:
    return _("Meting %(wave)s: %(text)s", wave=wave, text=text)
