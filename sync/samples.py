"""The sample catalogue and division tree shipped inside the package, as plain JSON data."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ("sample_catalog_json", "sample_divisions_json")


def _read(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files("sync").joinpath("data", name).read_text(encoding="utf-8"))
    return data


def sample_catalog_json() -> dict[str, Any]:
    """The 31-item, 3-bundle sample catalogue (``catalog-sample.json``) as parsed JSON."""
    return _read("catalog-sample.json")


def sample_divisions_json() -> dict[str, Any]:
    """The fictional county 349921 (28 townships, 395 villages) as parsed JSON."""
    return _read("divisions-sample.json")
