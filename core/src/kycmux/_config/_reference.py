"""The configuration reference page, written from the schema itself.

Every key comes from the attrs classes the converter structures (``_schema``), and every
description from the "Attributes:" section of the class that documents it, so the page cannot
list a key the loader refuses, nor miss one it takes. A field without a description is an
error here, not a gap on the page: describe it at the source. Vendor keys come from each
plugin's ``VendorSpec.config_fields``.
"""

from __future__ import annotations

import enum
import inspect
import re
from collections.abc import Iterable, Iterator, Mapping
from types import NoneType, UnionType
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import attrs

from kycmux._config._config import EngineSettings, VendorConfig, VendorResilience, _Document
from kycmux._config._tables import (
    _ArmTable,
    _Lockout,
    _PolicySettings,
    _ShadowTable,
    _SplitTable,
)
from kycmux._contract._vendor import ConfigField, VendorSpec
from kycmux._decision._policy import CheckPolicy, Policy, VendorSettings
from kycmux._experiments._experiment import Arm, ShadowExperiment, SplitExperiment
from kycmux._model._evidence import Check
from kycmux._model._secret import Secret
from kycmux._resilience import (
    BreakerSettings,
    LockoutSettings,
    RateLimitSettings,
    RetryBudgetSettings,
    RetryPolicy,
)

__all__ = ["Key", "Table", "attributes_doc", "config_reference", "tables"]

_HEADER = re.compile(r"^(\s*)Attributes:\s*$")
_ENTRY = re.compile(r"^(\w+):\s*(.*)$")

# The private table classes are documented by the public objects they become.
_DOCUMENTED_BY: dict[type, tuple[type, ...]] = {
    _PolicySettings: (Policy,),
    _SplitTable: (SplitExperiment,),
    _ShadowTable: (ShadowExperiment,),
    _ArmTable: (Arm,),
}
# A key whose documented attribute has another name.
_RENAMED: dict[tuple[type, str], str] = {(_ShadowTable, "shadow"): "vendor"}
# Keys whose value is a table the schema types loosely (checked by the table reader).
_TABLE_OF: dict[tuple[type, str], Any] = {(_SplitTable, "arms"): dict[str, _ArmTable]}
# The keys of ``[vendors.<name>]`` that core reads; the rest are the vendor's own.
_VENDOR_CORE = ("plugin", "base_url", "max_response_bytes", "resilience")
_VAR = "`${VAR}`"


@attrs.frozen
class Key:
    """One key of a table, as the reference page shows it.

    Attributes:
        name: The key.
        type: Its TOML type, in words.
        default: Its default as TOML, or "required".
        reference: Whether it may be written as a ``${VAR}`` reference: "yes", "no", or
            "only" (a secret).
        doc: What it means and its rule.
    """

    name: str
    type: str
    default: str
    reference: str
    doc: str


@attrs.frozen
class Table:
    """One TOML table of the configuration file.

    Attributes:
        path: Its dotted header, such as ``vendors.<name>.resilience.breaker``.
        intro: What the table is, one paragraph.
        keys: Its keys, in the order the schema declares them.
        label: Which form of the table, when one header has two (an experiment).
    """

    path: str
    intro: str
    keys: tuple[Key, ...]
    label: str = ""


def attributes_doc(kind: type) -> dict[str, str]:
    """The "Attributes:" section of ``kind``'s docstring, by attribute, joined into lines."""
    found: dict[str, str] = {}
    indent: int | None = None
    current = ""
    for line in inspect.cleandoc(kind.__doc__ or "").splitlines():
        if indent is None:
            if header := _HEADER.match(line):
                indent = len(header.group(1)) + 4
            continue
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            break  # the next section
        text = line[indent:] if len(line) - len(line.lstrip()) == indent else ""
        if text and (entry := _ENTRY.match(text)):
            current = entry.group(1)
            found[current] = entry.group(2)
        elif current and line.strip():
            found[current] += " " + line.strip()
    return found


def config_reference(specs: Iterable[VendorSpec]) -> str:
    """The Markdown page: every table of a ``kycmux.toml``, the ``specs``' own keys included."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated from the schema by `python scripts/config_reference.py`; do not edit:",
        '     describe a key in its class\'s docstring ("Attributes:") and regenerate. -->',
        "",
        "Every key of `kycmux.toml`, table by table. The file's top-level tables:",
        f"{_top_level()}; any other key, at any level, is refused with its dotted path and",
        "the valid keys.",
        "",
        f"**{_VAR}** says whether a value may be written as a `${{VARIABLE}}` reference to",
        "the environment, resolved once when the file loads (a missing variable is an error",
        'naming the key): "yes" for any scalar (numbers and booleans are parsed from the',
        'variable\'s text), "only" for a secret, which refuses a literal, and "no" for a table',
        "or a list (whose items may each be one).",
        "",
    ]
    for table in tables(specs):
        lines += _render(table)
    return "\n".join(lines).rstrip() + "\n"


def _top_level() -> str:
    """The file's top-level tables, as headers: one ``<name>`` table per entry of a mapping."""
    hints = get_type_hints(_Document)
    shown = [
        f"`[{f.name}]`" if attrs.has(hints[f.name]) else f"`[{f.name}.<name>]`"
        for f in attrs.fields(_Document)
    ]
    return ", ".join(shown)


def tables(specs: Iterable[VendorSpec]) -> Iterator[Table]:
    """Every table of the file, in page order."""
    yield _table("engine", EngineSettings, EngineSettings.__doc__)
    yield _vendor_table()
    yield _table(
        "vendors.<name>.resilience", VendorResilience, VendorResilience.__doc__, subtables=True
    )
    yield _table("vendors.<name>.resilience.breaker", BreakerSettings, BreakerSettings.__doc__)
    yield _table(
        "vendors.<name>.resilience.rate_limit", RateLimitSettings, RateLimitSettings.__doc__
    )
    yield _table(
        "vendors.<name>.resilience.retry_budget", RetryBudgetSettings, RetryBudgetSettings.__doc__
    )
    for spec in sorted(specs, key=lambda s: s.name):
        yield _spec_table(spec)
    yield from _policy_tables()
    yield from _experiment_tables()


def _vendor_table() -> Table:
    documented = attributes_doc(VendorConfig)
    hints = get_type_hints(VendorConfig)
    defaults = {
        "plugin": "the table's name",
        "base_url": "the vendor's",
        "max_response_bytes": "the vendor's (1 MiB)",
    }
    keys = tuple(
        Key(
            name,
            "table" if name == "resilience" else _type_name(hints[name]),
            defaults.get(name, "see below"),
            "no" if name == "resilience" else "yes",
            _sentence(documented[name]),
        )
        for name in _VENDOR_CORE
    )
    intro = (
        "One table per vendor instance, named after the vendor (or any instance name, "
        "with `plugin`): another account or region of a vendor has its own credentials, "
        "base URL, limits, breaker and records. Besides these keys, each vendor takes its "
        "own (below)."
    )
    return Table("vendors.<name>", intro, keys)


def _spec_table(spec: VendorSpec) -> Table:
    intro = (
        f"The keys {spec.display_name} (plugin `{spec.name}`) takes besides the core ones "
        f"above. Default `base_url`: `{spec.default_base_url}`."
    )
    return Table(f"vendors.{spec.name}", intro, tuple(map(_field_key, spec.config_fields)))


def _field_key(field: ConfigField) -> Key:
    if not field.doc:
        raise ValueError(f"ConfigField {field.name} has no doc: describe it in its VendorSpec")
    default = "required" if field.required else _toml(field.default)
    reference = "only" if field.secret else "yes"
    kind = "secret string" if field.secret else _type_name(field.type)
    return Key(field.name, kind, default, reference, _sentence(field.doc))


def _policy_tables() -> Iterator[Table]:
    checks = ", ".join(f"`{c.value}`" for c in Check)
    yield _table("policies.<name>", _PolicySettings, Policy.__doc__)
    yield _table(
        "policies.<name>.<check>",
        CheckPolicy,
        f"One table per check the policy needs ({checks}); a policy needs at least one. "
        + _first_paragraph(CheckPolicy.__doc__),
    )
    yield _table("policies.<name>.vendors.<vendor>", VendorSettings, VendorSettings.__doc__)
    yield _table("policies.<name>.vendors.<vendor>.retry", RetryPolicy, RetryPolicy.__doc__)
    yield _table(
        "policies.<name>.lockout",
        LockoutSettings,
        (_first_paragraph(LockoutSettings.__doc__) or "")
        + " `lockout = false` instead of the table turns it off.",
    )


def _experiment_tables() -> Iterator[Table]:
    yield _table(
        "experiments.<name>",
        _SplitTable,
        "An experiment with `arms` splits traffic. " + _first_paragraph(SplitExperiment.__doc__),
        label="split traffic",
    )
    yield _table("experiments.<name>.arms.<arm>", _ArmTable, Arm.__doc__)
    yield _table(
        "experiments.<name>",
        _ShadowTable,
        "An experiment with `shadow` asks a candidate vendor alongside. "
        + _first_paragraph(ShadowExperiment.__doc__),
        label="shadow a candidate",
    )


def _table(
    path: str, kind: type, intro: str | None, *, subtables: bool = False, label: str = ""
) -> Table:
    documented: dict[str, str] = {}
    for source in (*_DOCUMENTED_BY.get(kind, ()), kind):
        documented |= attributes_doc(source)
    hints = get_type_hints(kind)
    keys = []
    for field in attrs.fields(kind):
        if not field.init or field.name == "name":  # a name is the table's, not a key
            continue
        doc = documented.get(_RENAMED.get((kind, field.name), field.name))
        if not doc:
            raise ValueError(f"{kind.__name__}.{field.name} has no description in Attributes:")
        hint = _TABLE_OF.get((kind, field.name), hints[field.name])
        keys.append(Key(field.name, *_describe(hint, field, subtables=subtables), _sentence(doc)))
    return Table(path, _first_paragraph(intro), tuple(keys), label)


def _describe(hint: Any, field: attrs.Attribute[Any], *, subtables: bool) -> tuple[str, str, str]:
    """A field's type, default and ``${VAR}`` answer."""
    kind = _type_name(hint)
    scalar = not (kind.startswith(("table", "list")) or "table" in kind)
    secret = hint is Secret or Secret in get_args(hint)
    reference = "only" if secret else ("yes" if scalar else "no")
    if field.default is attrs.NOTHING:
        return kind, "required", reference
    default = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        made = default.factory()  # type: ignore[union-attr]
        default = "see its table" if subtables or attrs.has(type(made)) else made
    if isinstance(default, _Lockout):
        default = "see its table" if default.settings else False
    return kind, _toml(default), reference


def _type_name(hint: Any) -> str:
    origin = get_origin(hint)
    if origin in (UnionType, Union):
        members = [a for a in get_args(hint) if a is not NoneType]
        return " or ".join(_type_name(a) for a in members)
    if origin is Literal:
        return "one of " + ", ".join(f'`"{a}"`' for a in get_args(hint))
    if origin in (tuple, list):
        return f"list of {_type_name(get_args(hint)[0])}"
    if origin in (dict, Mapping) or (isinstance(origin, type) and issubclass(origin, Mapping)):
        inner = _type_name(get_args(hint)[-1])
        return "table of tables" if inner == "table" else f"table of {inner}"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(f'`"{m.value}"`' for m in hint)
    if hint is _Lockout:
        return "table or `false`"
    if hint is Secret:
        return "secret string"
    if attrs.has(hint):
        return "table"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(hint, "any")


def _toml(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, enum.Enum):
        return f'`"{value.value}"`'
    if isinstance(value, str):
        return value if value == "see its table" else f'`"{value}"`'
    if isinstance(value, Mapping | tuple | list):
        return "empty" if not value else f"`{value!r}`"
    return f"`{value!r}`"


def _first_paragraph(doc: str | None) -> str:
    return " ".join(inspect.cleandoc(doc or "").split("\n\n")[0].split())


def _sentence(text: str) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if text.endswith((".", "...", ")")) else text + "."


def _render(table: Table) -> list[str]:
    label = f" ({table.label})" if table.label else ""
    lines = [f"## `[{table.path}]`{label}", "", table.intro, ""]
    lines += [f"| Key | Type | Default | {_VAR} | Description |", "| --- | --- | --- | --- | --- |"]
    lines += [
        f"| `{k.name}` | {k.type} | {k.default} | {k.reference} | {k.doc} |" for k in table.keys
    ]
    return [*lines, ""]
