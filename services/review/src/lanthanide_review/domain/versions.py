"""What changed between two versions of an application: a field-level diff.

Computed when a resubmission makes a new application version (`Case.on_screening`) and kept in
that version's AMENDED case event, so a reviewer (and the audit timeline) sees what moved
between the version they reviewed and the one in front of them without a copy of every version.
Plain Python over the applications' JSON form.
"""

from __future__ import annotations

from typing import Any

#: At most this many changed fields are listed per version (the event must stay small); the
#: count of the rest is given.
MAX_CHANGES = 40
#: A changed value is shown up to this many characters.
MAX_VALUE_CHARS = 200


def _shown(value: Any) -> Any:
    if isinstance(value, (dict, list)) or (isinstance(value, str) and len(value) > MAX_VALUE_CHARS):
        text = value if isinstance(value, str) else repr(value)
        return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"
    return value


def _walk(path: str, old: Any, new: Any, out: list[dict[str, Any]]) -> None:
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                out.append({"field": sub, "change": "added", "to": _shown(new[key])})
            elif key not in new:
                out.append({"field": sub, "change": "removed", "from": _shown(old[key])})
            else:
                _walk(sub, old[key], new[key], out)
        return
    if isinstance(old, list) and isinstance(new, list):
        for i in range(max(len(old), len(new))):
            sub = f"{path}[{i}]"
            if i >= len(old):
                out.append({"field": sub, "change": "added", "to": _shown(new[i])})
            elif i >= len(new):
                out.append({"field": sub, "change": "removed", "from": _shown(old[i])})
            else:
                _walk(sub, old[i], new[i], out)
        return
    out.append({"field": path, "change": "changed", "from": _shown(old), "to": _shown(new)})


def application_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The fields that differ between two applications (JSON form), in document order of keys:
    `{"fields": [{"field": "items[0].quantity", "change": "changed", "from": "10", "to": "11"}, ...],
    "more": n}` where `more` counts the changes left out beyond MAX_CHANGES."""
    found: list[dict[str, Any]] = []
    _walk("", old, new, found)
    return {"fields": found[:MAX_CHANGES], "more": max(0, len(found) - MAX_CHANGES)}
