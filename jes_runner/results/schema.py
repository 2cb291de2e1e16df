"""The results file's JSON Schema (``schemas/results.schema.json``) and validation against it."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    text = (resources.files("jes_runner.results") / "schemas" / "results.schema.json").read_text(
        encoding="utf-8"
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_results(results: dict[str, Any]) -> list[str]:
    """Schema errors as `path: message` lines (empty when valid)."""
    import jsonschema  # imported here: only tests and `validate` paths need it

    validator = jsonschema.Draft202012Validator(load_schema())
    return [
        "/".join(str(p) for p in err.absolute_path) + ": " + err.message
        for err in sorted(validator.iter_errors(results), key=lambda e: list(e.absolute_path))
    ]
