"""{{name}}: a Vivres connector, in Python.

It reads the partner's CSV exports that a coordinator adds to the source's inbox
(``parcels*.csv``, ``;``-separated, UTF-8 or Windows-1252): one food parcel per row,
``ref;date;household;postcode;amount;name``. The ``name`` column is a person's name:
it is never read. Change the mapping in ``parcel()`` to your partner's format, and the
spec's stream to your entity.

Config: ``{"team": "<the team issuing household numbers>", "batch_rows": 500}``.
"""

import json

import vivres_sdk
from vivres_sdk import BadConfig, fr, inbox, log, model, state
from vivres_sdk.model import AidKind, Distribution, EntityKind, RejectReason

STREAM = "parcels"
COLUMNS = ("ref", "date", "household", "postcode", "amount")
SCHEMA = json.dumps({
    "type": "object",
    "required": ["team"],
    "properties": {
        "team": {"type": "string", "minLength": 1, "description": "The aid team that issues the household numbers"},
        "batch_rows": {"type": "integer", "minimum": 1, "maximum": 5000, "description": "Rows per batch (default 500)"},
    },
    "additionalProperties": False,
})


class Refused(Exception):
    """A row that becomes a reject: the reason, the field and a detail without the value."""

    def __init__(self, reason, field, detail):
        super().__init__(detail)
        self.reason, self.field, self.detail = reason, field, detail


def parcel(team, cells):
    """One row (its cells by column name) as a distribution item, or ``Refused``."""
    key = cells.get("ref", "").strip()
    if not key:
        raise Refused(RejectReason.MISSING_REQUIRED, "ref", "missing")
    household = cells.get("household", "").strip()
    if fr.is_missing(household):
        raise Refused(RejectReason.MISSING_REQUIRED, "household", "missing")
    try:
        date = fr.parse_date(cells.get("date", ""))
    except fr.ParseError as e:
        raise Refused(RejectReason.INVALID_DATE, "date", e.message) from None
    try:
        amount = fr.value(fr.parse_cents(cells.get("amount", "")))  # empty: unknown, not a reject
    except fr.ParseError as e:
        raise Refused(RejectReason.INVALID_AMOUNT, "amount", e.message) from None
    try:
        residence = fr.residence(cells.get("postcode"))
    except fr.ParseError as e:
        raise Refused(RejectReason.UNKNOWN_POSTCODE, "postcode", e.message) from None
    record = model.new(
        Distribution,
        kind=AidKind.PARCEL,
        ordinal=0,
        household=model.person(team, household),
        site=team,
        date=model.date(date),
        amount=amount,
        residence=model.location(*residence) if residence else None,
    )
    return key, record


class {{type}}(vivres_sdk.Connector):
    def spec(self):
        return model.new(
            model.ConnectorSpec,
            name="{{name}}",
            version="0.1.0",
            description="Food parcels from the partner's CSV exports (parcels*.csv in the source's inbox)",
            config_schema=SCHEMA,
            streams=[model.stream(STREAM, EntityKind.DISTRIBUTION, ["ref"], None, "Food parcels given, one per row")],
        )

    def parse_config(self, config):
        unknown = sorted(set(config) - {"team", "batch_rows"})
        if unknown:
            raise BadConfig(f"{unknown[0]}: unknown field (team, batch_rows)")
        team = config.get("team")
        if not isinstance(team, str) or not team.strip():
            raise BadConfig("team: required, the aid team that issues the household numbers")
        rows = config.get("batch_rows", 500)
        if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= 5000:
            raise BadConfig("batch_rows: must be an integer from 1 to 5000")
        return {"team": team.strip(), "batch_rows": rows}

    def check_config(self, config):
        inbox.entries()

    def read_batch(self, config, stream, saved):
        if stream != STREAM:
            raise BadConfig(f"unknown stream `{stream}`: {STREAM}")
        # Checkpoint: the ids of the files finished, and the file being read with the
        # last line emitted. Files come in the order they reached the inbox.
        checkpoint = state.load(saved, {"done": [], "file": None, "line": 0})
        todo = [f for f in inbox.entries(suffixes=(".csv",), prefix="parcels") if f.id not in checkpoint["done"]]
        if not todo:
            return model.batch(state=state.save(checkpoint), more=False)
        current = next((f for f in todo if f.id == checkpoint["file"]), todo[0])
        after = checkpoint["line"] if current.id == checkpoint["file"] else 0
        name = current.name

        items, rejects = [], []
        lines = inbox.lines(current)
        header = [h.strip().lower() for h in lines[0][1].split(";")] if lines else []
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            rejects.append(model.reject(RejectReason.MALFORMED_FILE, missing[0], "column not found", origin=name, line=1))
            rows, finished = [], True
        else:
            rows = [(n, line) for n, line in lines[1:] if n > after][: config["batch_rows"]]
            finished = not rows or rows[-1][0] == lines[-1][0]
        for number, line in rows:
            # `name` is in `cells` but never read: it is a person's name.
            cells = dict(zip(header, line.split(";")))
            try:
                key, record = parcel(config["team"], cells)
                items.append(model.item(key, record, origin=name, line=number))
            except Refused as r:
                rejects.append(model.reject(r.reason, r.field, r.detail, key=cells.get("ref") or None,
                                            origin=name, line=number, raw=line))
        if finished:
            checkpoint["done"].append(current.id)
            checkpoint["file"], checkpoint["line"] = None, 0
        else:
            checkpoint["file"], checkpoint["line"] = current.id, rows[-1][0]
        more = any(f.id not in checkpoint["done"] for f in todo)
        # Counts only: never a value read from the file.
        log.info(f"{STREAM}: {len(items)} parcels, {len(rejects)} rejected")
        return model.batch(items, rejects, state=state.save(checkpoint), more=more,
                           replace_origins=[name] if after == 0 else [])


Connector = {{type}}  # componentize-py instantiates the app module's `Connector`
