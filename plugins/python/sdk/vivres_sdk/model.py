"""The contract's types, with constructors that leave optional fields empty.

The generated dataclasses (``wit_world.imports.types``) require every field;
``new(types.Household, person=...)`` fills the optional ones with ``None`` and the
lists with ``[]``, and the short helpers below cover what every connector writes.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Iterable, List, Optional

from wit_world.imports import types
from wit_world.imports.types import (  # noqa: F401  (re-exported for connectors)
    AidKind,
    Answer,
    Batch,
    Channel,
    Composition,
    ConnectorSpec,
    Date,
    Diagnostic,
    Distribution,
    DistributionStatus,
    Enrolment,
    EntityKind,
    ExitCategory,
    Household,
    IncomeBand,
    Item,
    Location,
    OrderLine,
    Participation,
    Pathway,
    PersonId,
    Product,
    Reject,
    RejectReason,
    Score,
    ScoreLevel,
    Site,
    SiteKind,
    StreamInfo,
    Supply,
    SurveyResponse,
)

from . import fr


def _empty(annotation):
    origin = typing.get_origin(annotation)
    if origin is typing.Union and type(None) in typing.get_args(annotation):
        return None
    if origin in (list, List):
        return []
    raise KeyError


_SHAPES = {}


def _shape(cls):
    """Field names, and which are optional (``None``) or lists (``[]``), once per class."""
    shape = _SHAPES.get(cls)
    if shape is None:
        hints = typing.get_type_hints(cls)
        shape = []
        for f in dataclasses.fields(cls):
            try:
                shape.append((f.name, True, _empty(hints[f.name])))
            except KeyError:
                shape.append((f.name, False, None))
        _SHAPES[cls] = shape
    return shape


def new(cls, **fields):
    """An instance of a contract record with every optional field left empty;
    a required field not given is a ``TypeError`` naming it."""
    values = {}
    for name, optional, empty in _shape(cls):
        if name in fields:
            values[name] = fields.pop(name)
        elif optional:
            # A fresh list each time: never share a mutable default.
            values[name] = [] if isinstance(empty, list) else empty
        else:
            raise TypeError(f"{cls.__name__}: field `{name}` is required")
    if fields:
        raise TypeError(f"{cls.__name__}: no field {', '.join(sorted(fields))}")
    return cls(**values)


def date(d) -> Optional[types.Date]:
    """The contract's date from ``fr.Date`` (or ``None``/``MISSING``)."""
    if d is None or d is fr.MISSING:
        return None
    return types.Date(year=d.year, month=d.month, day=d.day)


def person(scope: str, local_id: str) -> types.PersonId:
    """A person identifier, exactly as the partner writes it, with the site that
    issued it: the hub pseudonymises it; connectors never hash it themselves."""
    return types.PersonId(scope=scope, local_id=local_id)


def location(postcode: Optional[str] = None, commune: Optional[str] = None, insee: Optional[str] = None) -> types.Location:
    return types.Location(postcode=postcode, commune=commune, insee=insee)


_ENTITY = {
    types.Household: types.Entity_Household,
    types.Site: types.Entity_Site,
    types.Product: types.Entity_Product,
    types.Distribution: types.Entity_Distribution,
    types.OrderLine: types.Entity_OrderLine,
    types.Supply: types.Entity_Supply,
    types.Diagnostic: types.Entity_Diagnostic,
    types.Participation: types.Entity_Participation,
    types.Pathway: types.Entity_Pathway,
    types.SurveyResponse: types.Entity_SurveyResponse,
}


def item(
    key: str, record, origin: Optional[str] = None, line: Optional[int] = None, cell: Optional[str] = None
) -> types.Item:
    """An item of any record of the model; ``key`` is the partner's key (an upsert key).
    ``origin``, ``line`` and ``cell`` say where it was read (a file, its 1-based line, a
    workbook cell): a record the hub refuses is quarantined with them."""
    wrap = _ENTITY.get(type(record))
    if wrap is None:
        raise TypeError(f"item: {type(record).__name__} is not a record of the model")
    return types.Item(key=key, origin=origin, line=line, cell=cell, entity=wrap(record))


def reject(
    reason: types.RejectReason,
    field: str,
    detail: str,
    key: Optional[str] = None,
    origin: Optional[str] = None,
    line: Optional[int] = None,
    raw: bytes = b"",
    cell: Optional[str] = None,
) -> types.Reject:
    """A refused record: ``detail`` without the value; ``raw`` is only hashed by the hub."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    return types.Reject(key=key, origin=origin, line=line, cell=cell, reason=reason, field=field, detail=detail, raw=bytes(raw))


def batch(
    items: Iterable[types.Item] = (),
    rejects: Iterable[types.Reject] = (),
    state: Optional[str] = None,
    more: bool = False,
    replace_origins: Iterable[str] = (),
) -> types.Batch:
    return types.Batch(
        items=list(items), rejects=list(rejects), state=state, replace_origins=list(replace_origins), more=more
    )


def stream(
    name: str,
    entity: types.EntityKind,
    primary_key: Iterable[str],
    cursor_field: Optional[str],
    description: str,
) -> types.StreamInfo:
    return types.StreamInfo(
        name=name, entity=entity, primary_key=list(primary_key), cursor_field=cursor_field, description=description
    )
