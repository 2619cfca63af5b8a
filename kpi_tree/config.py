"""What the project's config models share: unknown keys refused, strict values, and errors that
name the key's place and say what to do.

Config files (``kpi.yaml``, plan files) are read into pydantic models derived from
:class:`ConfigModel`. A model refuses a key it does not know (a misspelt key would otherwise be
ignored without a word) and a value of the wrong kind (``"40%"`` is not a number, ``"yes"`` is
not true). A rule over several keys names the key it blames with :func:`problem`.

:func:`describe` turns pydantic's ``ValidationError`` into one line per problem,
``place: what is wrong; what to do``, with the place written as it is in the file
(``alerts.channels.marketing[1].url_env``); callers prefix the file and raise their own error
type. Values are echoed only where they cannot be secrets.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

#: a number written as a number (``0.05``, ``3``), finite; not ``"0.05"`` or ``true``
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
#: a whole number written as one (``7``, not ``7.0`` or ``"7"``)
Integer = Annotated[int, Strict()]
#: ``true`` or ``false``
Flag = Annotated[bool, Strict()]
#: text that is not empty
Text = Annotated[str, Strict(), Field(min_length=1)]

#: the error type of :func:`problem`
PROBLEM = "config_problem"


class ConfigModel(BaseModel):
    """A section of a config file: every key known, every value checked, frozen once read."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        # a config may hold a misplaced secret: pydantic's own text of an error never shows it
        hide_input_in_errors=True,
    )


def blank(empty: Any, accepts: Any) -> BeforeValidator:
    """A blank section (a key with nothing under it, which YAML reads as null) is ``empty``;
    ``accepts`` is what the key takes, for the JSON schema."""
    return BeforeValidator(
        lambda value: empty if value is None else value, json_schema_input_type=accepts | None
    )


def problem(at: str | Sequence[str | int], message: str) -> PydanticCustomError:
    """An error of a rule over several keys, blamed on the key ``at`` (a path below the model
    that raises it, e.g. ``"growth"`` or ``("units", 2, "weight")``)."""
    path = (at,) if isinstance(at, str) else tuple(at)
    return PydanticCustomError(PROBLEM, "{message}", {"message": message, "at": path})


def place_text(parts: Sequence[str | int]) -> str:
    """A place as written in the file: ``("alerts", "channels", "marketing", 1, "url_env")`` is
    ``alerts.channels.marketing[1].url_env``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def describe(
    model: Any,
    error: ValidationError,
    *,
    quiet: Callable[[tuple[str | int, ...]], bool] = lambda place: False,
) -> list[str]:
    """One line per problem in ``error`` (raised validating ``model``, a model class or type):
    ``place: what is wrong; what to do``. ``quiet(place)`` says where a value must not be
    echoed (it may be a secret)."""
    lines: list[str] = []
    for err in error.errors(include_url=False):
        where = _Where(model, err["loc"])
        kind, ctx = err["type"], err.get("ctx") or {}
        place = list(where.place)
        if kind == PROBLEM:
            place += list(ctx.get("at", ()))
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            place.append(str(ctx.get("discriminator", "type")).strip("'"))
        text = _what(kind, ctx, err, where)
        shown = kind not in ("missing", "extra_forbidden", PROBLEM, "value_error")
        value = err.get("input")
        if shown and not quiet(tuple(place)) and _echoable(value):
            text += f" (got {value!r})"
        line = f"{place_text(place)}: {text}" if place else text
        if line not in lines:
            lines.append(line)
    return lines


def _echoable(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= 60
    return value is None or isinstance(value, bool | int | float)


_KIND = {
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "finite_number": "must be a finite number",
    "dict_type": "must be a mapping of keys to values",
    "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "date_type": "must be a date, YYYY-MM-DD",
    "date_parsing": "must be a date, YYYY-MM-DD",
    "date_from_datetime_parsing": "must be a date, YYYY-MM-DD",
    "date_from_datetime_inexact": "must be a date, YYYY-MM-DD",
}


def _what(kind: str, ctx: Mapping[str, Any], err: Mapping[str, Any], where: _Where) -> str:
    if kind == PROBLEM:
        return str(ctx["message"])
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", err["msg"]))
    if kind == "missing":
        about = f" ({where.field.description})" if where.field and where.field.description else ""
        return f"is required{about}: add it"
    if kind == "extra_forbidden":
        known = where.keys_of_parent()
        hint = f" (the keys here: {', '.join(known)})" if known else ""
        return f"unknown key: remove it or correct its spelling{hint}"
    if kind in _KIND:
        return _KIND[kind]
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = ", ".join(where.tags) or str(ctx.get("expected_tags", ""))
        return (
            f"must be one of {tags}"
            if kind == "union_tag_invalid"
            else f"is required: one of {tags}"
        )
    bounds = {
        "greater_than_equal": ">=",
        "greater_than": ">",
        "less_than_equal": "<=",
        "less_than": "<",
    }
    if kind in bounds:
        limit = next(iter(ctx.values()))
        return (
            f"must be {bounds[kind]} {limit:g}"
            if isinstance(limit, float)
            else (f"must be {bounds[kind]} {limit}")
        )
    if kind in ("too_short", "too_long"):
        about = where.field.description if where.field and where.field.description else None
        if kind == "too_short":
            text = f"needs at least {ctx.get('min_length')} item(s), got {ctx.get('actual_length')}"
        else:
            text = f"takes at most {ctx.get('max_length')} item(s), got {ctx.get('actual_length')}"
        return f"{text} ({about})" if about else text
    return str(err["msg"])


class _Where:
    """Walks a model's types along an error's location: the place as written in the file
    (a tagged union's tag, which pydantic puts in the location, is not part of it), the field
    the error is about, and the model that holds it."""

    def __init__(self, model: Any, loc: Sequence[str | int]):
        self.place: list[str | int] = []
        self.field: FieldInfo | None = None
        self.parent: type[BaseModel] | None = None
        self.tags: list[str] = []
        tp: Any = model
        for item in loc:
            tp = _unwrap(tp)
            members = _union_members(tp)
            if members and isinstance(item, str) and item in _tags(members):
                tp = _tags(members)[item]  # the member chosen by its tag: not a key of the file
                continue
            self.field, self.tags = None, _union_tags(tp)
            if item == "[key]":  # the key itself is wrong: the place is the key
                tp = Any
            elif isinstance(tp, type) and issubclass(tp, BaseModel):
                self.parent = tp
                self.field = _field(tp, item)
                tp = self.field.annotation if self.field else Any
                self.tags = _union_tags(_unwrap(tp))
                self.place.append(item)
            elif get_origin(tp) in (dict, Mapping):
                tp = get_args(tp)[1] if get_args(tp) else Any
                self.place.append(item)
            elif get_origin(tp) in (list, tuple, Sequence):
                tp = get_args(tp)[0] if get_args(tp) else Any
                self.place.append(item)
            else:
                tp = Any
                self.place.append(item)
        if self.field is None:
            self.tags = self.tags or _union_tags(_unwrap(tp))

    def keys_of_parent(self) -> list[str]:
        if self.parent is None:
            return []
        return [f.alias or name for name, f in self.parent.model_fields.items() if not f.exclude]


def _unwrap(tp: Any) -> Any:
    """``Annotated[X, ...]`` -> X, ``X | None`` -> X; other unions stay unions."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
            continue
        if get_origin(tp) in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
                continue
        return tp


def _union_members(tp: Any) -> list[Any]:
    if get_origin(tp) in (Union, types.UnionType):
        return [_unwrap(a) for a in get_args(tp) if a is not type(None)]
    return []


def _tags(members: list[Any]) -> dict[str, Any]:
    """A tagged union's members by tag (their ``type`` literal)."""
    out = {}
    for member in members:
        if isinstance(member, type) and issubclass(member, BaseModel):
            field = member.model_fields.get("type")
            if field is not None and get_origin(field.annotation) is Literal:
                out.update({str(tag): member for tag in get_args(field.annotation)})
    return out


def _union_tags(tp: Any) -> list[str]:
    return list(_tags(_union_members(tp)))


def _field(model: type[BaseModel], key: str | int) -> FieldInfo | None:
    for name, field in model.model_fields.items():
        if key in (field.alias, name):
            return field
    return None


def report(source: str | None, lines: Sequence[str]) -> str:
    """The problems as one text, each line prefixed with the file they are in."""
    return "\n".join(f"{source}: {line}" if source else line for line in lines)
