"""Data files (the catalogue, the jurisdictions) read as validated models, with errors
that name the file and the place that is wrong."""

from __future__ import annotations

from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def parse_yaml_model(model: type[M], text: str, *, origin: str, error: type[ValueError]) -> M:
    """`text` (YAML) as `model`; raises `error` listing every problem found."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{origin}: not valid YAML: {exc}") from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise error(f"{origin}: {problems}") from exc
