"""The configuration's schema: TOML tables structured into typed objects by cattrs.

One converter knows every settings class (policies, their checks and vendor settings, lockout,
retries, breakers, rate limits, the engine table, experiments); the attrs classes themselves
are the schema, so there is no list of keys to keep in step with them. An unknown key is refused
with its dotted path and the valid keys; a value of the wrong type names the type expected,
never the value (it may have come from a secret ``${VAR}``). ``${VAR}`` references are resolved
before structuring, in one place (``resolve``), into ``Reference`` strings that remember their
variable: a ``Secret`` field accepts nothing else.
"""

from __future__ import annotations

import difflib
import enum
import re
import traceback
from collections.abc import Iterable, Mapping
from types import UnionType
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)

from kycmux._model._secret import Secret
from kycmux.exceptions import ConfigError, MissingSecretError

__all__ = [
    "REFERENCE",
    "Reference",
    "choices",
    "converter",
    "resolve",
    "structure",
    "to_bool",
]

T = TypeVar("T")
REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
# ASCII only: str.isdigit() also takes superscripts, which int() refuses.
_WHOLE = re.compile(r"\s*-?[0-9]+\s*")


def choices(given: str, valid: Iterable[str], label: str = "valid") -> str:
    """``" (valid: a, b)"`` to end a rule, after the closest name when ``given`` looks like a
    typo of it: ``", did you mean 'b'? (valid: a, b)"``."""
    names = sorted(valid)
    text = f" ({label}: {', '.join(names) or 'none'})"
    close = difflib.get_close_matches(given, names, n=1, cutoff=0.6)
    return f", did you mean {close[0]!r}?{text}" if close else text


class Reference(str):
    """A value given as ``${VARIABLE}``: the variable's text, which remembers its variable.

    Its repr is the reference, never the value (anyone may point a key at a secret).
    """

    variable: str

    def __new__(cls, value: str, variable: str) -> Reference:
        made = super().__new__(cls, value)
        made.variable = variable
        return made

    def __repr__(self) -> str:
        return f"${{{self.variable}}}"


def resolve(data: Any, env: Mapping[str, str], path: str = "") -> Any:
    """``data`` with every ``${VAR}`` string replaced by the variable's ``Reference``."""
    if isinstance(data, Reference):
        return data  # resolved already
    if isinstance(data, Mapping):
        return {k: resolve(v, env, f"{path}.{k}" if path else str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [resolve(v, env, f"{path}[{i}]") for i, v in enumerate(data)]
    if isinstance(data, str) and (ref := REFERENCE.match(data)):
        if ref.group(1) not in env:
            raise MissingSecretError(path, ref.group(1))
        return Reference(env[ref.group(1)], ref.group(1))
    return data


class _Invalid(ValueError):
    """A value that is not what its field takes: the rule only, never the value."""

    def __init__(self, rule: str) -> None:
        self.rule = rule
        super().__init__(rule)


def _float(value: Any, _: Any) -> float:
    if isinstance(value, bool):
        raise _Invalid("must be of type float (a number)")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, Reference):
        try:
            return float(value)
        except ValueError:
            pass
    raise _Invalid("must be of type float (a number)")


def _int(value: Any, _: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Reference) and _WHOLE.fullmatch(value):
        return int(value)
    raise _Invalid("must be of type int (a whole number)")


def to_bool(value: Any, _: Any = None) -> bool:
    """A TOML bool, or a ``${VAR}`` holding true/false, 1/0 or yes/no."""
    if isinstance(value, bool):
        return value
    if isinstance(value, Reference) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    raise _Invalid("must be of type bool (true or false)")


def _str(value: Any, kind: Any) -> Any:
    if isinstance(kind, type) and issubclass(kind, enum.Enum):  # a StrEnum dispatches here
        return _enum(value, kind)
    if isinstance(value, str):
        return value
    raise _Invalid("must be of type str (a string)")


def _secret(value: Any, _: Any) -> Secret:
    if not isinstance(value, Reference):
        raise _Invalid("is secret: write it as a ${ENV_VAR} reference, not a literal")
    if not value:
        raise _Invalid(f"environment variable {value.variable} is empty")
    return Secret(str(value))


def _enum(value: Any, kind: type[enum.Enum]) -> enum.Enum:
    try:
        return kind(value)
    except ValueError:
        pass
    valid = ", ".join(str(m.value) for m in kind)
    given = "" if isinstance(value, Reference) else f"{value!r} is not valid: "
    raise _Invalid(f"{given}must be one of {valid}")


_LITERAL = get_origin(Literal[""])


def _literal(value: Any, kind: Any) -> Any:
    if isinstance(value, str) and value in get_args(kind):
        return value
    valid = ", ".join(map(str, get_args(kind)))
    given = "" if isinstance(value, Reference) or not isinstance(value, str) else f"{value!r}: "
    raise _Invalid(f"{given}must be one of {valid}")


def converter() -> cattrs.Converter:
    """The converter every configuration table goes through (extra keys are errors)."""
    made = cattrs.Converter(forbid_extra_keys=True)
    made.register_structure_hook(float, _float)
    made.register_structure_hook(int, _int)
    made.register_structure_hook(bool, to_bool)
    made.register_structure_hook(str, _str)
    made.register_structure_hook(Secret, _secret)
    made.register_structure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), _enum
    )
    made.register_structure_hook_func(lambda t: get_origin(t) is _LITERAL, _literal)
    return made


_CONVERTER = converter()


def structure(data: Any, kind: type[T], key: str, conv: cattrs.Converter | None = None) -> T:
    """``data`` as a ``kind``; the first problem as a ``ConfigError`` naming its dotted key."""
    try:
        made: T = (conv or _CONVERTER).structure(data, kind)
        return made
    except Exception as exc:
        error: Exception = exc
    # Raised outside the handler: the cattrs errors quote values, which may be secrets.
    raise _problem(error, key, kind, data)


def _problem(error: Exception, key: str, kind: Any, data: Any) -> ConfigError:
    steps, leaf, owner = _first(error, kind)
    path = ".".join([key, *map(str, steps)]).strip(".")
    if isinstance(leaf, MissingSecretError):
        return leaf
    if isinstance(leaf, ConfigError):  # a validator's rule: its key is the attribute's name
        where = leaf.key if key and leaf.key.startswith(key) else f"{path}.{leaf.key}"
        return type(leaf)(where.strip("."), leaf.rule)
    if isinstance(leaf, ValueError) and _ours(leaf):  # our validators name no values
        return ConfigError(path, str(leaf))
    if isinstance(leaf, ForbiddenExtraKeysError):
        extra = sorted(leaf.extra_fields)[0]
        rule = f"unknown key{choices(extra, _fields(leaf.cl))}"
        return ConfigError(f"{path}.{extra}".strip("."), rule)
    if isinstance(leaf, _Invalid):
        return ConfigError(path, leaf.rule)
    if isinstance(leaf, KeyError):
        return ConfigError(path, "is required")
    expected = _kind_along(kind, steps)
    if _is_table(expected) and not isinstance(_value_at(data, steps), Mapping):
        return ConfigError(path, "must be a table")
    if _is_list(expected):
        return ConfigError(path, "must be a list")
    return ConfigError(path, f"is not a valid {_name(owner)}")


def _first(error: BaseException, owner: Any) -> tuple[list[str | int], BaseException, Any]:
    """The steps to the first leaf problem inside a cattrs exception group."""
    steps: list[str | int] = []
    while isinstance(error, ClassValidationError | IterableValidationError):
        with_notes, without = error.group_exceptions()
        owner = error.cl
        if with_notes:
            error, note = with_notes[0]
            steps.append(_step(note))
        elif without:
            error = without[0]
        else:  # pragma: no cover - cattrs always fills one of them
            break
    return steps, error, owner


def _kind_along(kind: Any, steps: list[str | int]) -> Any:
    """The type expected at ``steps`` below ``kind`` (``None``: not known)."""
    for step in steps:
        kinds = get_args(kind) if isinstance(kind, UnionType) else (kind,)
        kind = next((k for k in kinds if k is not type(None)), None)
        try:
            if isinstance(step, str) and attrs.has(kind):
                kind = get_type_hints(kind).get(step)
            elif get_origin(kind) in (dict, Mapping, tuple, list):
                kind = get_args(kind)[-1 if get_origin(kind) in (dict, Mapping) else 0]
            else:
                return None
        except (NameError, TypeError):  # an annotation not importable at run time
            return None
    return kind


def _is_table(kind: Any) -> bool:
    kinds = get_args(kind) if isinstance(kind, UnionType) else (kind,)
    return any(attrs.has(k) or k is dict or get_origin(k) in (dict, Mapping) for k in kinds)


def _is_list(kind: Any) -> bool:
    return get_origin(kind) in (tuple, list)


def _value_at(data: Any, steps: list[str | int]) -> Any:
    for step in steps:
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _ours(error: BaseException) -> bool:
    """Raised by a kycmux validator (whose messages never quote the value)."""
    frames = list(traceback.walk_tb(error.__traceback__))
    module = str(frames[-1][0].f_globals.get("__name__", "")) if frames else ""
    return module.startswith("kycmux.")


def _step(note: AttributeValidationNote | IterableValidationNote) -> str | int:
    if isinstance(note, AttributeValidationNote):
        return note.name
    index: str | int = note.index
    return index


def _fields(kind: type) -> list[str]:
    return [f.alias or f.name for f in attrs.fields(kind) if f.init]


def _name(kind: Any) -> str:
    return getattr(kind, "__name__", str(kind))
