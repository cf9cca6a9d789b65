"""The checkpoint: your own JSON, opaque to the hub, committed with its batch."""

from __future__ import annotations

import json
from typing import Optional

from .errors import BadData


def load(state: Optional[str], default: Optional[dict] = None) -> dict:
    """The saved checkpoint, or ``default`` (``{}``) on a first sync."""
    if state is None:
        return dict(default or {})
    try:
        value = json.loads(state)
    except ValueError:
        raise BadData("the saved checkpoint is not JSON: reset the source's state") from None
    if not isinstance(value, dict):
        raise BadData("the saved checkpoint is not a JSON object: reset the source's state")
    return value


def save(checkpoint: dict) -> str:
    return json.dumps(checkpoint, separators=(",", ":"), sort_keys=True)
