"""Strict YAML configs: YAML -> frozen dataclasses, dotted CLI overrides, errors naming file and key.

    cfg = load_config(TrainConfig, "configs/train/tiny-cpu.yaml", ["optim.lr=1e-4"])

Only `yaml.safe_load` is used: a config can never execute code. Unknown keys, wrong types and
missing required keys raise ConfigError("<file>: <dotted.key>: <problem>").

Paths: a relative path in a field typed `InputPath` (a file or dir the run reads) or `LocalOrName` (a local
model dir, or else a hub id / model name / version) is looked up, when the value comes from the config file,
next to that file, then in seqit's bundled resources (the sample data the shipped configs use),
then in the current directory, and becomes the first path that exists. A value from a command-line override
is relative to the current directory. `hf:owner/name` is never a path. Outputs (`out_dir`) are always
relative to the current directory. A config argument that does not exist here may name a shipped config
(`configs/train/x.yaml` or `train/x.yaml`), found in the checkout seqit is installed from.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from seqit.errors import ConfigError

T = TypeVar("T")
_MISSING = dataclasses.MISSING
log = logging.getLogger(__name__)

INPUT = "input path"  # a file or dir the run reads: from a config file, relative to that file
LOCAL_OR_NAME = "local path or name"  # a path where one exists next to the config file; else kept as a name
InputPath = Annotated[str, INPUT]
LocalOrName = Annotated[str, LOCAL_OR_NAME]


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


class MissingInput(ConfigError):
    """An input path of a config (or an override) that does not exist."""


class _FileText(str):
    """A string that came from a config file (not an override): relative paths in it are relative to `base`."""

    base: Path


def _mark(data: Any, base: Path) -> Any:
    """Every string value of a config file's data, marked with the file's directory."""
    if isinstance(data, dict):
        return {k: _mark(v, base) for k, v in data.items()}
    if isinstance(data, list):
        return [_mark(v, base) for v in data]
    if isinstance(data, str):
        marked = _FileText(data)
        marked.base = base
        return marked
    return data


def _plain(v: Any) -> Any:
    """`v` without file marks (Any-typed values keep plain strings only: YAML dumps and hashes stay plain)."""
    if isinstance(v, dict):
        return {_plain(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return str(v) if isinstance(v, str) else v


def bundled_resources() -> Path:
    """seqit's bundled data (sample seeds, SeqEval-V items), where a config's input paths are looked up last."""
    return Path(__file__).resolve().parent / "resources"


def shipped_configs() -> Path | None:
    """The `configs/` dir of the checkout seqit runs from (an editable install), or None (a wheel has none)."""
    root = Path(__file__).resolve().parents[2] / "configs"
    return root if (root / "train").is_dir() else None


def find_config(path: str | Path) -> Path:
    """`path` when it exists; else the shipped config it names (`configs/train/x.yaml` or `train/x.yaml`)."""
    p = Path(path)
    if p.is_file() or p.is_absolute():
        return p
    shipped = shipped_configs()
    if shipped is not None:
        rel = p.relative_to("configs") if p.parts[:1] == ("configs",) else p
        if (shipped / rel).is_file():
            log.info("%s: not here; using the shipped config %s", p, shipped / rel)
            return shipped / rel
    return p


def resolve_path(value: str, kind: str, key: str, source: str, missing: list[str] | None = None) -> str:
    """A config path field's value as the run will use it (see the module docstring). An input that exists
    nowhere is appended to `missing` as a message naming the key and every path tried."""
    if value.startswith("hf:") or not value.strip():
        return str(value)
    p = Path(value).expanduser()
    tried = [p]
    if isinstance(value, _FileText) and not p.is_absolute():
        tried = [value.base / p, bundled_resources() / p, p]
    found = next((t for t in tried if t.exists()), None)
    if found is not None:
        return str(found)
    if missing is not None and kind == INPUT:
        where = " or ".join(str(t.resolve()) for t in tried)
        why = ("a relative path in a config file is looked up next to that file, then in seqit's bundled "
               "resources, then in the current directory" if len(tried) > 1 else
               "a relative path on the command line is relative to the current directory")
        missing.append(f"{source}: {key}: {str(value)!r} not found (tried {where}; {why})")
    return str(value)


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None,
                check_inputs: bool = False) -> T:
    """Build a `cls` dataclass from a YAML file plus overrides, strictly. Paths: see the module docstring;
    `check_inputs`: every `InputPath` must exist (the CLI checks before any model loads)."""
    data: Any = {}
    if path is not None:
        path = find_config(path)
        data = _mark(read_yaml(path), path.resolve().parent)
    data = apply_overrides(data, overrides or [])
    source = str(path) if path is not None else "<overrides>"
    missing: list[str] = []
    cfg = from_dict(cls, data, source, missing=missing)
    if check_inputs and missing:  # after the whole config is known good: a bad key is named first
        raise MissingInput(missing[0])
    return cfg


def from_dict(cls: type[T], data: Any, source: str = "<config>", prefix: str = "",
              missing: list[str] | None = None) -> T:
    """Build dataclass `cls` from a mapping; every problem names `source` and the dotted key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {prefix or '<root>'}: expected a mapping, got {_describe(data)}")
    hints = get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = _join(prefix, str(unknown[0]))
        raise ConfigError(f"{source}: {key}: unknown key (known keys here: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, f in fields.items():
        key = _join(prefix, name)
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], source, key, missing)
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
    v = _plain(v)
    if v is None:
        return "null"
    text = repr(v)
    return f"{type(v).__name__} {text if len(text) < 40 else text[:37] + '...'}"


def _convert(tp: Any, v: Any, source: str, key: str, missing: list[str] | None = None) -> Any:
    origin = get_origin(tp)
    if origin is Annotated:
        inner, kind = get_args(tp)[0], get_args(tp)[1]
        out = _convert(inner, v, source, key, missing)
        return resolve_path(v, kind, key, source, missing) if kind in (INPUT, LOCAL_OR_NAME) else out
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if v is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(a, v, source, key, missing)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{source}: {key}: expected {_tname(tp)}, got {_describe(v)}")
    if origin is Literal:
        if v in get_args(tp):
            return _plain(v)
        choices = ", ".join(repr(a) for a in get_args(tp))
        raise ConfigError(f"{source}: {key}: must be one of {choices}, got {_describe(v)}")
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, v, source, key, missing)
    if origin in (list, tuple, typing.Sequence):
        if not isinstance(v, list):
            raise ConfigError(f"{source}: {key}: expected a list, got {_describe(v)}")
        args = get_args(tp)
        item_tp = args[0] if args else Any
        items = [_convert(item_tp, x, source, f"{key}[{i}]", missing) for i, x in enumerate(v)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(v, dict):
            raise ConfigError(f"{source}: {key}: expected a mapping, got {_describe(v)}")
        _, vt = get_args(tp) or (str, Any)
        return {str(k): _convert(vt, x, source, f"{key}.{k}", missing) for k, x in v.items()}
    return _convert_scalar(tp, v, source, key)


def _convert_scalar(tp: Any, v: Any, source: str, key: str) -> Any:
    if tp is Any:
        return _plain(v)
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
            return str(v)
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
