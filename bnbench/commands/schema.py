"""The JSON Schema of scenario files, from the pydantic models that validate them.

Editors that read JSON Schema for TOML (taplo, Even Better TOML) complete and check keys as they are typed. The
schema knows each key's type, default and bounds; what only a validator can say (decay and momentum that
contradict each other, a baseline no variant is named) is left to `bnbench validate`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from pydantic.json_schema import models_json_schema

from bnbench.scenario import _SECTIONS, _SLUG, VARIANT_KEYS

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a scenario file as TOML parses it."""
    _, top = models_json_schema([(model, "validation") for model in _SECTIONS.values()],
                                ref_template="#/$defs/{model}")
    defs: dict[str, Any] = top["$defs"]
    properties: dict[str, Any] = {section: {"$ref": f"#/$defs/{model.__name__}"}
                                  for section, model in _SECTIONS.items()}
    properties["variant"] = {
        "type": "array",
        "description": "The variants compared: each names itself and overrides keys of [model], [train] and "
                       "[task].",
        "items": {"$ref": "#/$defs/Variant"},
    }
    defs["Variant"] = _variant_schema(defs)
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "bnbench scenario",
        "description": "A bnbench scenario file: a control and its variants, trained over seeds and metered.",
        "type": "object",
        "properties": properties,
        "required": ["scenario"],
        "additionalProperties": False,
        "$defs": defs,
    }


def _variant_schema(defs: dict[str, Any]) -> dict[str, Any]:
    """A [[variant]] table: its name, and any overridable key with the type and bounds of its section's field.
    A variant's default is its section's value, so the sections' defaults are left out here."""
    properties: dict[str, Any] = {
        "name": {"type": "string", "pattern": _SLUG, "description": "The variant's name, e.g. control, bn."},
    }
    for key, section in VARIANT_KEYS.items():
        field = copy.deepcopy(defs[_SECTIONS[section].__name__]["properties"][key])
        field.pop("default", None)
        field["description"] = f"Overrides [{section}] {key}. {field.get('description', '')}".strip()
        properties[key] = field
    return {
        "type": "object",
        "title": "Variant",
        "properties": properties,
        "required": ["name"],
        "additionalProperties": False,
    }


def schema_text() -> str:
    """The schema as `bnbench schema` prints it: indented JSON, keys in definition order, a final newline."""
    return json.dumps(scenario_schema(), indent=2) + "\n"
