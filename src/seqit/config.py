"""Strict YAML configs: YAML -> frozen dataclasses, dotted CLI overrides, errors naming file and key.

    cfg = load_config(TrainConfig, "configs/train/tiny-cpu.yaml", ["optim.lr=1e-4"])

Only `yaml.safe_load` is used: a config can never execute code. Unknown keys, wrong types and
missing required keys raise ConfigError("<file>: <dotted.key>: <problem>").
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from seqit.errors import ConfigError

T = TypeVar("T")
_MISSING = dataclasses.MISSING


# A config is a few hundred values; aliases that expand past this many nodes are an alias bomb ("billion laughs"),
# refused at load time instead of being expanded by the overrides' copy (205 s and 19 GB for 9 levels).
MAX_EXPANDED_NODES = 100_000


class _StrictLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses duplicate keys in a mapping (naming line and key)."""

    source = "<yaml>"

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(
                    f"{self.source}:{line}: duplicate key {key!r} (first at line {seen[key]}); each key once per section"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def safe_load_strict(text: str, source: str = "<yaml>") -> Any:
    """yaml.safe_load, plus: duplicate keys are an error, and alias expansion is bounded."""
    loader = _StrictLoader(text)
    loader.source = source
    try:
        data = loader.get_single_data()
    finally:
        loader.dispose()
    if expanded_size(data, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES:
        raise ConfigError(
            f"{source}: YAML aliases expand to more than {MAX_EXPANDED_NODES:,} values (an alias bomb?); refused"
        )
    return data


def expanded_size(data: Any, limit: int) -> int:
    """How many nodes `data` has when every shared (aliased) value is counted each time it appears;
    stops counting past `limit`, so a billion-laughs tree (or a cyclic one) costs O(limit)."""
    count = 0
    stack = [data]
    while stack:
        node = stack.pop()
        count += 1
        if count > limit:
            return count
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
    return count


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a YAML mapping safely; syntax errors name file, line and column; duplicate keys and alias bombs
    are refused."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = safe_load_strict(path.read_text(encoding="utf-8"), str(path))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: invalid YAML: {getattr(e, 'problem', e)}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """'a.b=3' -> (['a', 'b'], 3); the value is read as a YAML scalar/flow value."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override '{text}': expected dotted.key=value")
    try:
        value = safe_load_strict(raw, f"override '{text}'") if raw.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"override '{text}': value is not valid YAML ({e})") from None
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of `data` with dotted `key=value` overrides applied (creating nested maps)."""
    out = _deepcopy(data)
    for text in overrides:
        keys, value = parse_override(text)
        node = out
        for i, k in enumerate(keys[:-1]):
            nxt = node.get(k)
            if nxt is None:
                nxt = node[k] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"override '{text}': '{'.'.join(keys[: i + 1])}' is not a section")
            node = nxt
        node[keys[-1]] = value
    return out


def _deepcopy(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _deepcopy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deepcopy(v) for v in d]
    return d


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Build a `cls` dataclass from a YAML file plus overrides, strictly."""
    data = read_yaml(path) if path is not None else {}
    data = apply_overrides(data, overrides or [])
    source = str(path) if path is not None else "<overrides>"
    return from_dict(cls, data, source)


def from_dict(cls: type[T], data: Any, source: str = "<config>", prefix: str = "") -> T:
    """Build dataclass `cls` from a mapping; every problem names `source` and the dotted key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {prefix or '<root>'}: expected a mapping, got {_describe(data)}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = _join(prefix, str(unknown[0]))
        raise ConfigError(f"{source}: {key}: unknown key (known keys here: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, f in fields.items():
        key = _join(prefix, name)
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], source, key)
        elif f.default is _MISSING and f.default_factory is _MISSING:
            raise ConfigError(f"{source}: {key}: required key is missing")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:  # __post_init__ range checks
        raise ConfigError(f"{source}: {_dotted_problem(prefix, str(e), set(fields))}") from None


def _dotted_problem(prefix: str, message: str, fields: set[str]) -> str:
    """'lr must be > 0' under 'optim' -> 'optim.lr: lr must be > 0' (the dotted key named, when the message
    starts with one of this section's fields), else '<prefix>: message'."""
    first = re.split(r"[\s:]", message, maxsplit=1)[0]
    if first in fields:
        return f"{_join(prefix, first)}: {message.removeprefix(first + ': ')}"
    return f"{prefix or '<root>'}: {message}"


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _describe(v: Any) -> str:
    if v is None:
        return "null"
    text = repr(v)
    return f"{type(v).__name__} {text if len(text) < 40 else text[:37] + '...'}"


def _convert(tp: Any, v: Any, source: str, key: str) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if v is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(a, v, source, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{source}: {key}: expected {_tname(tp)}, got {_describe(v)}")
    if origin is Literal:
        if v in get_args(tp):
            return v
        choices = ", ".join(repr(a) for a in get_args(tp))
        raise ConfigError(f"{source}: {key}: must be one of {choices}, got {_describe(v)}")
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, v, source, key)
    if origin in (list, tuple, typing.Sequence):
        if not isinstance(v, list):
            raise ConfigError(f"{source}: {key}: expected a list, got {_describe(v)}")
        args = get_args(tp)
        item_tp = args[0] if args else Any
        items = [_convert(item_tp, x, source, f"{key}[{i}]") for i, x in enumerate(v)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(v, dict):
            raise ConfigError(f"{source}: {key}: expected a mapping, got {_describe(v)}")
        _, vt = get_args(tp) or (str, Any)
        return {str(k): _convert(vt, x, source, f"{key}.{k}") for k, x in v.items()}
    return _convert_scalar(tp, v, source, key)


def _convert_scalar(tp: Any, v: Any, source: str, key: str) -> Any:
    if tp is Any:
        return v
    if tp is bool:
        if isinstance(v, bool):
            return v
    elif tp is int:
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    elif tp is float:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        if isinstance(v, str):  # YAML 1.1 reads "1e-4" as a string; accept numeric strings for floats
            try:
                return float(v)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(v, str):
            return v
    elif tp is Path:
        if isinstance(v, str) and v:
            return Path(v)
    else:
        raise ConfigError(f"{source}: {key}: unsupported field type {tp!r}")
    raise ConfigError(f"{source}: {key}: expected {_tname(tp)}, got {_describe(v)}")


def _tname(tp: Any) -> str:
    if tp is Path:
        return "a path string"
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def to_dict(cfg: Any) -> Any:
    """A dataclass config as plain YAML-able data (paths as strings, tuples as lists)."""
    if dataclasses.is_dataclass(cfg):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(x) for x in cfg]
    if isinstance(cfg, dict):
        return {str(k): to_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, Path):
        return str(cfg)
    return cfg


def dump_yaml(cfg: Any) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True)
