"""Typed, strict configuration: one parser for driver options and the server's own config.

A driver declares its options as a frozen dataclass; each field's ``metadata["doc"]`` documents it
(``corestore drivers --options`` prints them). :func:`parse_options` builds that dataclass from a
raw mapping (a TOML table) and refuses what a typo would otherwise hide:

* an unknown key is an error that names the key and lists the known ones;
* a value of the wrong type is an error that names the key and the type expected;
* a missing required key is an error that names the key.

Values may come from the environment as ``CORESTORE_<SECTION>_<KEY>`` (upper case), which is how
secrets such as S3 keys stay out of config files. Environment values are strings, coerced to the
field's type. Sizes accept suffixes (``64MiB``, ``1G``) for fields typed :class:`ByteSize`.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from corestore.errors import ConfigError

__all__ = ["ByteSize", "NoOptions", "describe_options", "option", "parse_options", "parse_size"]

T = TypeVar("T")


class ByteSize(int):
    """An ``int`` of bytes that config may spell with a unit suffix (``4MiB``, ``1.5G``)."""


_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "kib": 1024,
    "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gib": 1024**3,
    "t": 1000**4, "tb": 1000**4, "tib": 1024**4,
}  # fmt: skip
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str | int) -> int:
    """Parse ``"64MiB"``, ``"1G"`` or a plain integer into bytes."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    match = _SIZE_RE.match(str(text))
    unit = match.group(2).lower() if match else None
    if not match or unit not in _SIZE_UNITS:
        raise ValueError(f"not a size: {text!r} (use e.g. 4096, 64MiB, 1G)")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """Options of a driver that takes none."""


def option(default: Any = dataclasses.MISSING, *, doc: str, secret: bool = False) -> Any:
    """A documented dataclass field for an options class; ``secret`` hides its value in listings."""
    if isinstance(default, list | dict | set):
        value = default
        return dataclasses.field(
            default_factory=lambda: type(value)(value), metadata={"doc": doc, "secret": secret}
        )
    return dataclasses.field(default=default, metadata={"doc": doc, "secret": secret})


def _coerce(key: str, value: Any, annotation: Any, from_env: bool) -> Any:
    """Check (and for env strings, convert) ``value`` against a field annotation."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(key, value, arg, from_env)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: invalid value")
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        if value not in choices:
            raise ConfigError(f"{key}: must be one of {', '.join(map(repr, choices))}, got {value!r}")
        return value
    if origin in (list, tuple):
        (item_type, *_) = typing.get_args(annotation) or (str,)
        if from_env and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        items = [_coerce(key, v, item_type, from_env) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict or annotation is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a table, got {type(value).__name__}")
        return dict(value)
    if annotation is ByteSize:
        try:
            return ByteSize(parse_size(value))
        except ValueError as exc:
            raise ConfigError(f"{key}: {exc}") from None
    if annotation is bool:
        if from_env and isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if annotation in (int, float):
        if from_env and isinstance(value, str):
            try:
                return annotation(value)
            except ValueError:
                raise ConfigError(f"{key}: expected {annotation.__name__}, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected {annotation.__name__}, got {value!r}")
        if annotation is int and isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return annotation(value)
    if annotation is Path:
        if not isinstance(value, str | Path):
            raise ConfigError(f"{key}: expected a path, got {value!r}")
        return Path(value).expanduser()
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if annotation is Any:
        return value
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a table, got {type(value).__name__}")
        return parse_options(annotation, value, section=key, environ={})
    raise ConfigError(f"{key}: unsupported option type {annotation!r}")


def parse_options(
    cls: type[T],
    raw: Mapping[str, Any] | None,
    *,
    section: str,
    environ: Mapping[str, str] | None = None,
) -> T:
    """Build the options dataclass ``cls`` from ``raw``, strictly.

    :param section: the name used in error messages and env variables (a driver name, ``server``).
    :param environ: where ``CORESTORE_<SECTION>_<KEY>`` overrides are read (``os.environ`` by
        default; pass ``{}`` to disable them).
    :raises ConfigError: naming the offending key.
    """
    raw = dict(raw or {})
    env = os.environ if environ is None else environ
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields)) or "(none)"
        raise ConfigError(
            f"unknown option {unknown[0]!r} for {section}; known options: {known}"
        )
    hints = typing.get_type_hints(cls)
    prefix = "CORESTORE_" + re.sub(r"\W", "_", section).upper() + "_"
    values: dict[str, Any] = {}
    for name, fld in fields.items():
        if not fld.init:
            continue
        env_value = env.get(prefix + name.upper())
        where = f"{section}.{name}"
        if env_value is not None:
            values[name] = _coerce(where, env_value, hints[name], from_env=True)
        elif name in raw:
            values[name] = _coerce(where, raw[name], hints[name], from_env=False)
        elif fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing required option {name!r} for {section}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{section}: {exc}") from None


def describe_options(cls: type) -> list[tuple[str, str, str, str]]:
    """``(name, type, default, doc)`` rows for documentation and ``corestore drivers``."""
    hints = typing.get_type_hints(cls)
    rows = []
    for fld in dataclasses.fields(cls):
        if fld.default is not dataclasses.MISSING:
            default = "***" if fld.metadata.get("secret") and fld.default else repr(fld.default)
        elif fld.default_factory is not dataclasses.MISSING:
            default = repr(fld.default_factory())
        else:
            default = "(required)"
        type_name = getattr(hints[fld.name], "__name__", None) or str(hints[fld.name])
        rows.append((fld.name, type_name.replace("typing.", ""), default, fld.metadata.get("doc", "")))
    return rows
