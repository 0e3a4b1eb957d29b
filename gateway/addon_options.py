"""The Home Assistant add-on's options and the gateway's configuration model (deploy/home-assistant/omnipower/).

The add-on's `config.yaml` declares which settings a Home Assistant user sets in the add-on's Configuration tab;
this module reads them back into the gateway's configuration and says where the two disagree.

- An option's key is the path of the gateway setting it sets, joined with dots, below the root or below one item
  of a list (`mqtt.base_topic`; in each of `meters`: `han.keys`). The schema is then at most two levels deep (a
  list of flat mappings), which every Supervisor accepts and whose missing optional keys need no empty mappings.
- The option's schema type is derived from the setting's type and bounds (`ha_type`); inside a list item every
  setting with a default is optional (`?`), at the top only those whose default is "unset".
- Every setting of the model is either an option or listed in `NOT_IN_ADDON` with the reason (`schema_problems`
  checks this, so a setting added to the gateway fails the add-on's test until someone decides which it is).
  Those settings can still be set in the add-on's own `gateway.yaml` (`addon_config`), which the options extend.
"""

from __future__ import annotations

import fnmatch
import json
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from gateway.config import ConfigError, Settings, load_settings

_BROKER = "the broker the Supervisor gives the add-on (services: mqtt:need); the run script passes it on"
_TUNING = "tuning few need: set it in the add-on's gateway.yaml"
_SIMULATOR = "the simulated meter's model, for demonstrations: set it in the add-on's gateway.yaml"
_INGRESS = "the status page is the add-on's ingress panel: on 0.0.0.0 at config.yaml's ingress_port (the Dockerfile)"

NOT_IN_ADDON: dict[str, str] = {
    # path (a pattern where a family of settings shares one reason) → why the add-on offers no option for it
    "data_dir": "the add-on's own storage /data (in Home Assistant's backups), set by the add-on's Dockerfile",
    "web.enabled": _INGRESS,
    "web.host": _INGRESS,
    "web.port": _INGRESS,
    "fleet": "fleets of simulated meters are for load tests, not for a home",
    "mqtt.host": _BROKER,
    "mqtt.port": _BROKER,
    "mqtt.username": _BROKER,
    "mqtt.password": _BROKER,
    "mqtt.tls": _BROKER,
    "mqtt.embedded_broker": "never in the add-on (set by its Dockerfile): the broker is the Supervisor's",
    "mqtt.client_id": _TUNING,
    "mqtt.keepalive": _TUNING,
    "mqtt.protocol": _TUNING,
    "mqtt.outbox_limit": _TUNING,
    "mqtt.state_qos": _TUNING,
    "meters.capacity_tariff": "a rule with its steps, windows or periods (lists of structures the Supervisor's "
                              "options cannot hold): set it in the add-on's gateway.yaml (docs/capacity-tariffs.md)",
    "meters.start": _SIMULATOR,
    "meters.type_number": _SIMULATOR,
    "meters.z*": _SIMULATOR + " (the order form's Z codes)",
    "meters.power_threshold_w": _SIMULATOR,
    "meters.tariff_schedule": _SIMULATOR,
    "meters.tariff_calendar": _SIMULATOR,
    "meters.tariff_command_overrides_any_source": _SIMULATOR,
    "meters.accuracy": _SIMULATOR,
    "meters.power_quality": _SIMULATOR,
    "meters.breaker": _SIMULATOR,
    "meters.smart_disconnect": _SIMULATOR,
    "meters.prepayment": _SIMULATOR,
    "meters.tamper": _SIMULATOR,
    "meters.display": _SIMULATOR,
    "meters.analysis_logger": _SIMULATOR,
    "meters.module_pulse_output_imp_per_kwh": _SIMULATOR,
    "meters.pulse_input_divisor": _SIMULATOR,
    "meters.han_layout": _SIMULATOR + " (its HAN port's layout; a han source's is han.layout)",
    "meters.gsm": _SIMULATOR + " (its GSM8i module; an sms source's settings are sms.*)",
    "meters.firmware": _SIMULATOR + " (its firmware version and key)",
}


@dataclass(frozen=True)
class Setting:
    """One leaf of the configuration model: `path` as the add-on names it (list items under the list's name)."""

    path: str
    field: FieldInfo
    in_list: bool

    @property
    def schema_type(self) -> str | None:
        """The add-on schema type the option must have, or None where the Supervisor has no type for it."""
        base = ha_type(self.field)
        if base is None:
            return None
        optional = not self.field.is_required() and (self.in_list or self.field.default is None)
        return base + "?" if optional else base


def excluded(path: str) -> bool:
    """The setting at `path`, or a block it belongs to, is listed in NOT_IN_ADDON."""
    parts = path.split(".")
    return any(fnmatch.fnmatchcase(".".join(parts[:n]), pattern)
               for n in range(1, len(parts) + 1) for pattern in NOT_IN_ADDON)


def settings(model: type[BaseModel] = Settings, prefix: str = "", in_list: bool = False) -> Iterator[Setting]:
    """Every leaf setting of `model` that NOT_IN_ADDON does not cover, depth first."""
    for name, info in model.model_fields.items():
        path = prefix + name
        if excluded(path):
            continue
        sub, item = _sub_model(info.annotation), _item_model(info.annotation)
        if sub is not None:
            yield from settings(sub, path + ".", in_list)
        elif item is not None:
            yield from settings(item, path + ".", True)
        else:
            yield Setting(path, info, in_list)


def model_paths(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[str]:
    """Every path of the model, blocks and leaves (to find NOT_IN_ADDON entries that name nothing)."""
    for name, info in model.model_fields.items():
        path = prefix + name
        yield path
        inner = _sub_model(info.annotation) or _item_model(info.annotation)
        if inner is not None:
            yield from model_paths(inner, path + ".")


def ha_type(info: FieldInfo) -> str | None:
    """The Supervisor's schema type for a setting (supervisor/addons/options.py, RE_SCHEMA_ELEMENT), without the
    optional mark. Its ranges are inclusive and unsigned: an exclusive bound becomes inclusive and a negative one is
    left out (the gateway still enforces both, with its own message)."""
    annotation, metadata = _unwrap(info)
    if annotation is bool:
        return "bool"
    if annotation is SecretStr:
        return "password"
    if get_origin(annotation) is Literal:
        return "list(" + "|".join(str(v) for v in get_args(annotation)) + ")"
    if annotation in (int, float):
        low = next((_bound(m) for m in metadata if isinstance(m, annotated_types.Ge | annotated_types.Gt)), None)
        high = next((_bound(m) for m in metadata if isinstance(m, annotated_types.Le | annotated_types.Lt)), None)
        low = None if low is None or low.startswith("-") else low
        high = None if high is None or high.startswith("-") else high
        name = "int" if annotation is int else "float"
        return name if low is None and high is None else f"{name}({low or ''},{high or ''})"
    if annotation is str:
        pattern = next((getattr(m, "pattern", None) for m in metadata if getattr(m, "pattern", None)), None)
        return f"match({pattern})" if pattern else "str"
    if annotation in (Path, datetime):
        return "str"
    return None


def schema_problems(schema: Mapping[str, Any], options: Mapping[str, Any],
                    root: type[BaseModel] = Settings) -> list[str]:
    """Where the add-on's `schema` and `options` (config.yaml) disagree with the configuration model."""
    problems: list[str] = []
    offered = _flat_schema(schema, problems)
    model = {s.path: s for s in settings(root)}
    for path, typ in offered.items():
        if excluded(path):
            problems.append(f"option {path} is also listed in NOT_IN_ADDON")
        elif path not in model:
            problems.append(f"option {path} is no setting of the gateway")
        elif model[path].schema_type is None:
            problems.append(f"option {path}: the Supervisor has no type for {model[path].field.annotation}")
        elif typ != (wanted := model[path].schema_type):
            problems.append(f"option {path} has type {typ!r}; the gateway's setting makes it {wanted!r}")
    for path in model.keys() - offered.keys():
        problems.append(f"setting {path} is neither an add-on option nor listed in NOT_IN_ADDON (with the reason)")
    every = set(model_paths(root))
    for pattern in NOT_IN_ADDON:
        if not fnmatch.filter(every, pattern):
            problems.append(f"NOT_IN_ADDON names {pattern}, which is no setting of the gateway")
    for key in options.keys() - schema.keys():
        problems.append(f"default option {key} is not in the schema")
    for key, typ in schema.items():
        if key not in options and not (isinstance(typ, str) and typ.endswith("?")):
            problems.append(f"required option {key} has no default in `options`")
    return problems


def options_to_config(options: Mapping[str, Any]) -> dict[str, Any]:
    """The gateway configuration that the add-on's options (the Supervisor's /data/options.json) set."""
    return _nest(Settings, options, "")


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`: mappings merge key by key, lists of items with an `id` (meters) item by item."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            out[key] = merge(old, value)
        elif isinstance(value, list) and isinstance(old, list) and _all_have_ids(value) and _all_have_ids(old):
            by_id = {item["id"]: item for item in value}
            out[key] = [merge(item, by_id.pop(item["id"])) if item["id"] in by_id else item for item in old]
            out[key] += list(by_id.values())
        else:
            out[key] = value
    return out


def addon_config(options_file: Path, extra_file: Path | None = None) -> dict[str, Any]:
    """The add-on's options over its own gateway.yaml (if any), checked as the gateway will check them."""
    try:
        options = json.loads(options_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"add-on options {options_file}: {exc}") from None
    if not isinstance(options, dict):
        raise ConfigError(f"add-on options {options_file}: a JSON object is expected")
    base: Any = {}
    if extra_file is not None:
        try:
            base = yaml.safe_load(extra_file.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{extra_file}: {exc}") from None
        if not isinstance(base, dict):
            raise ConfigError(f"{extra_file} must hold a mapping of settings at the top")
    doc = merge(base, options_to_config(options))
    load_settings(None, **doc)  # ConfigError naming the key, as the gateway would at start-up
    return doc


# --- the walk through the model -------------------------------------------------------------------------------

_ABSENT = object()


def _nest(model: type[BaseModel], flat: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        info = _field(model, key, where)
        item = _item_model(info.annotation)
        if item is not None:
            if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
                raise ConfigError(f"add-on option {where}{key}: a list of mappings is expected")
            value = [_nest(item, v, f"{where}{key}[{n}].") for n, v in enumerate(value)]
        else:
            value = _coerce(info, value)
            if value is _ABSENT:
                continue
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def _field(model: type[BaseModel], key: str, where: str) -> FieldInfo:
    """The setting an option key names, through the blocks its dots cross."""
    current: type[BaseModel] | None = model
    info: FieldInfo | None = None
    for part in key.split("."):
        info = current.model_fields.get(part) if current is not None else None
        if info is None:
            raise ConfigError(f"add-on option {where}{key} is no setting of this gateway")
        current = _sub_model(info.annotation)
    assert info is not None  # split() gives at least one part
    return info


def _coerce(info: FieldInfo, value: Any) -> Any:
    """The Supervisor hands `list(…)` choices over as strings: back to the setting's own values (tariff numbers,
    client SAPs); an emptied optional text is no value."""
    if value == "" and info.default is None:
        return _ABSENT
    annotation, _ = _unwrap(info)
    if get_origin(annotation) is Literal and isinstance(value, str):
        return next((choice for choice in get_args(annotation) if str(choice) == value), value)
    return value


def _unwrap(info: FieldInfo) -> tuple[Any, list[Any]]:
    """The annotation without `| None` and `Annotated`, and every constraint found on the way."""
    annotation, metadata = info.annotation, list(info.metadata)
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [a for a in get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            annotation = rest[0]
    if get_origin(annotation) is Annotated:
        annotation, *extra = get_args(annotation)
        for item in extra:
            metadata.extend(item.metadata if isinstance(item, FieldInfo) else [item])
    return annotation, metadata


def _sub_model(annotation: Any) -> type[BaseModel] | None:
    """The block a setting holds (a model, or an optional one)."""
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [a for a in get_args(annotation) if a is not type(None)]
        annotation = rest[0] if len(rest) == 1 else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _item_model(annotation: Any) -> type[BaseModel] | None:
    """The model of a list of blocks (meters)."""
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        return item if isinstance(item, type) and issubclass(item, BaseModel) else None
    return None


def _bound(constraint: Any) -> str:
    value = next(getattr(constraint, name) for name in ("ge", "gt", "le", "lt") if hasattr(constraint, name))
    return str(int(value)) if float(value).is_integer() else str(value)


def _flat_schema(schema: Mapping[str, Any], problems: list[str]) -> dict[str, str]:
    """The schema's options by path: a list of mappings contributes `<list>.<key>` for each of its item's keys."""
    flat: dict[str, str] = {}
    for key, typ in schema.items():
        if isinstance(typ, str):
            flat[key] = typ
        elif isinstance(typ, list) and len(typ) == 1 and isinstance(typ[0], Mapping):
            for inner, inner_typ in typ[0].items():
                if isinstance(inner_typ, str):
                    flat[f"{key}.{inner}"] = inner_typ
                else:
                    problems.append(f"option {key}.{inner}: nested deeper than a list of flat mappings")
        else:
            problems.append(f"option {key}: a type, or a list of one flat mapping, is expected")
    return flat


def _all_have_ids(items: list[Any]) -> bool:
    return all(isinstance(item, Mapping) and "id" in item for item in items)
