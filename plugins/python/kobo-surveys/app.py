"""KoboToolbox food-security surveys (partners' spec §6), as a Vivres connector.

One source reads one form (asset) of one territory:
``GET {server}/api/v2/assets/{asset_uid}/data/?format=json&start=&limit=&query=``
with ``Authorization: Token {key}``. Pages follow ``next``; a sync resumes from
the latest ``_submission_time`` it saw, minus an overlap, so that submissions
sharing that second (or committed late by the server) are read again rather than
missed; upserts on ``_id`` make the re-read harmless.
"""

import json
import re
from urllib.parse import parse_qs, urlsplit

import vivres_sdk
from vivres_sdk import BadConfig, BadData, fr, log, model, state
from vivres_sdk.http import Request, join
from vivres_sdk.model import EntityKind, RejectReason, SurveyResponse

VERSION = "0.1.0"
STREAM = "submissions"
INSTRUMENT = "fies"
WAVES = ("T0", "T1", "T2")
# The eight FAO FIES items, in the questionnaire's order.
FIES = ("worried", "healthy", "fewfood", "skipped", "ateless", "runout", "hungry", "whlday")
FIES_VALUES = ("yes", "no", "dont_know", "refused")
MAX_PAGE = 1000  # what the server allows; a larger `limit` is capped to it
ASSET_UID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

CONFIG_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["server", "asset_uid", "token_secret"],
    "additionalProperties": False,
    "properties": {
        "server": {"type": "string", "description": "KoboToolbox server, e.g. https://kf.kobotoolbox.org"},
        "asset_uid": {"type": "string", "description": "the form's uid (one form per territory)"},
        "token_secret": {"type": "string", "description": "name of the source's secret holding the API key"},
        "page_size": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": MAX_PAGE},
        "overlap_secs": {
            "type": "integer",
            "minimum": 1,
            "maximum": 86400,
            "default": 60,
            "description": "how far before the last submission seen the next sync starts again",
        },
    },
}


class Config:
    def __init__(self, raw: dict):
        unknown = sorted(set(raw) - set(CONFIG_SCHEMA["properties"]))
        if unknown:
            raise BadConfig(f"{unknown[0]}: unknown field (expected {', '.join(CONFIG_SCHEMA['properties'])})")
        self.server = self._text(raw, "server")
        if not self.server.startswith(("http://", "https://")):
            raise BadConfig("server: must start with http:// or https://")
        self.asset_uid = self._text(raw, "asset_uid")
        if not ASSET_UID.match(self.asset_uid):
            raise BadConfig("asset_uid: letters, digits, `-` and `_` only")
        self.token_secret = self._text(raw, "token_secret")
        self.page_size = self._int(raw, "page_size", MAX_PAGE, 1, MAX_PAGE)
        self.overlap_secs = self._int(raw, "overlap_secs", 60, 1, 86400)

    @staticmethod
    def _text(raw, name):
        v = raw.get(name)
        if not isinstance(v, str) or not v.strip():
            raise BadConfig(f"{name}: required, a non-empty string")
        return v.strip()

    @staticmethod
    def _int(raw, name, default, lo, hi):
        v = raw.get(name, default)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise BadConfig(f"{name}: must be an integer from {lo} to {hi}")
        return v

    def token(self) -> str:
        key = vivres_sdk.secret(self.token_secret)
        if not key:
            raise BadConfig(f"token_secret: the source has no secret named `{self.token_secret}`")
        return key

    def data_url(self) -> str:
        return join(self.server, f"api/v2/assets/{self.asset_uid}/data/")


def kobo_time(ts: int) -> str:
    """Kobo writes `_submission_time` in UTC without an offset, and compares as text."""
    return fr.format_rfc3339_utc(ts)[:-1]


def fetch(config: Config, start: int, limit: int, after):
    request = (
        Request.get(config.data_url())
        .query("format", "json")
        .query("start", start)
        .query("limit", limit)
        .header("Authorization", f"Token {config.token()}")
        .header("Accept", "application/json")
    )
    if after is not None:
        request.query("query", json.dumps({"_submission_time": {"$gt": kobo_time(after)}}, separators=(",", ":")))
    page = request.send().json()
    if not isinstance(page, dict) or not isinstance(page.get("results"), list):
        raise BadData("the server's answer has no `results` list: is this a KoboToolbox data endpoint?")
    nxt = page.get("next")
    if nxt is not None and not isinstance(nxt, str):
        raise BadData("the server's `next` is neither a URL nor null")
    return page["results"], nxt


def next_start(nxt: str, start: int) -> int:
    """The `start` of the next page, read from `next`. The URL itself is not followed:
    behind a proxy it may name another host or scheme than the one granted."""
    values = parse_qs(urlsplit(nxt).query).get("start", [])
    try:
        value = int(values[0])
    except (IndexError, ValueError):
        raise BadData("the server's `next` URL has no integer `start`") from None
    if value <= start:
        raise BadData("the server's `next` does not move forward")
    return value


def text(result: dict, name: str):
    v = result.get(name)
    if v is None:
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = str(v)
    if not isinstance(v, str):
        return None
    v = v.strip()
    return v or None


def submission(result: dict):
    """(item, submitted_at) or (reject, None) for one result."""
    def raw():
        # Only a refused record needs its bytes (for the hub to hash).
        return json.dumps(result, sort_keys=True, ensure_ascii=False).encode("utf-8")

    rid = result.get("_id")
    if isinstance(rid, str) and rid.strip().isdigit():
        rid = int(rid)
    if isinstance(rid, bool) or not isinstance(rid, int):
        return model.reject(RejectReason.MISSING_REQUIRED, "_id", "no submission id", raw=raw()), None
    key = str(rid)

    def refuse(reason, field, detail):
        return model.reject(reason, field, detail, key=key, raw=raw()), None

    when = text(result, "_submission_time")
    if when is None:
        return refuse(RejectReason.MISSING_REQUIRED, "_submission_time", "missing")
    try:
        submitted_at = fr.parse_rfc3339(when, default_offset_secs=0)
    except fr.ParseError as e:
        return refuse(RejectReason.INVALID_DATE, "_submission_time", e.message)

    wave = text(result, "vague")
    if wave is None:
        return refuse(RejectReason.MISSING_REQUIRED, "vague", "missing")
    if wave.upper() not in WAVES:
        return refuse(RejectReason.UNKNOWN_LABEL, "vague", "not T0, T1 or T2")
    wave = wave.upper()

    network, site, code = text(result, "menage/reseau"), text(result, "menage/site"), text(result, "menage/code")
    household = None
    if code is not None:
        # The household's number is local to its site in its network: without
        # them it would pseudonymise to nobody's household.
        if network is None:
            return refuse(RejectReason.MISSING_REQUIRED, "menage/reseau", "a household code without its network")
        if site is None:
            return refuse(RejectReason.MISSING_REQUIRED, "menage/site", "a household code without its site")
        household = model.person(site, code)

    try:
        place = fr.residence(text(result, "menage/cp"))
    except fr.ParseError as e:
        return refuse(RejectReason.UNKNOWN_POSTCODE, "menage/cp", e.message)
    residence = model.location(*place) if place else None

    answers = []
    complete = True
    score = 0
    for name in FIES:
        field = f"fies/{name}"
        value = text(result, field)
        if value is None:
            complete = False
            continue
        value = value.lower()
        if value not in FIES_VALUES:
            return refuse(RejectReason.UNKNOWN_LABEL, field, "not yes, no, dont_know or refused")
        answers.append(model.Answer(question=field, value=value))
        if value == "yes":
            score += 1
        elif value != "no":
            complete = False

    response = model.new(
        SurveyResponse,
        household=household,
        network=network,
        site=site,
        wave=wave,
        submitted_at=submitted_at,
        residence=residence,
        instrument=INSTRUMENT,
        answers=answers,
        # FAO: the raw score counts `yes` only when all eight items are yes or no.
        raw_score=score if complete else None,
    )
    return model.item(key, response), submitted_at


class KoboSurveys(vivres_sdk.Connector):
    def spec(self):
        return model.new(
            model.ConnectorSpec,
            name="kobo-surveys",
            version=VERSION,
            description="Food-security surveys (FAO FIES) collected with KoboToolbox",
            config_schema=json.dumps(CONFIG_SCHEMA),
            streams=[
                model.stream(
                    STREAM,
                    EntityKind.SURVEY_RESPONSE,
                    ["_id"],
                    "_submission_time",
                    "Submissions of the form: wave, household, residence, FIES answers and raw score",
                )
            ],
        )

    def parse_config(self, config):
        return Config(config)

    def check_config(self, config):
        fetch(config, 0, 1, None)

    def read_batch(self, config, stream, saved):
        if stream != STREAM:
            raise BadConfig(f"stream: unknown stream `{stream}` (this connector has `{STREAM}`)")
        checkpoint = state.load(saved, {"since": None, "start": 0, "max_seen": None})
        since, start, max_seen = checkpoint.get("since"), checkpoint.get("start", 0), checkpoint.get("max_seen")
        if not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in (since, start, max_seen)):
            raise BadData("the saved checkpoint is not this connector's: reset the source's state")
        after = None if since is None else since - config.overlap_secs
        results, nxt = fetch(config, start, config.page_size, after)

        items, rejects = [], []
        for result in results:
            if not isinstance(result, dict):
                rejects.append(model.reject(RejectReason.MALFORMED_FILE, "results", "a result that is not an object"))
                continue
            record, at = submission(result)
            if at is None:
                rejects.append(record)
                continue
            items.append(record)
            max_seen = at if max_seen is None else max(max_seen, at)
        log.info(f"start {start}: {len(items)} submissions, {len(rejects)} rejected")

        if nxt is not None and results:
            checkpoint = {"since": since, "start": next_start(nxt, start), "max_seen": max_seen}
            more = True
        else:
            # The last page: the next sync starts from the latest submission seen.
            latest = max((t for t in (since, max_seen) if t is not None), default=None)
            checkpoint = {"since": latest, "start": 0, "max_seen": None}
            more = False
        return model.batch(items, rejects, state=state.save(checkpoint), more=more)


Connector = KoboSurveys
