"""French data as partners write it: numbers, amounts, dates, postcodes, text.

Follows the Rust SDK (`plugins/sdk/src/fr/`) rule for rule, so that a Python
connector and a Rust one read the same cell the same way. Pure Python: it
runs natively (`python -m unittest`) as well as inside the component.

Every parser returns the value, ``MISSING`` for an empty cell or a missing
marker (``""``, ``NC``, ``N/C``, ``?``, ``-``), or raises :class:`ParseError`
for a value that is there but unreadable. Messages never repeat the value:
put them in a reject's ``detail`` as they are.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple, Union


class ParseError(ValueError):
    """A value that is there but cannot be read; the message holds no value."""

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else "unreadable"


class _Missing:
    """The one ``MISSING`` value: an empty cell or a missing marker."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING = _Missing()


def value(parsed):
    """``None`` for ``MISSING``, else the value itself."""
    return None if parsed is MISSING else parsed


def is_missing(s: Optional[str]) -> bool:
    """Empty, blank, ``NC``, ``N/C``, ``N.C.``, ``NR`` (any case), ``?``, ``-``, ``–`` or ``—``."""
    if s is None:
        return True
    t = s.strip()
    return t == "" or t.lower() in ("nc", "n/c", "n.c.", "nr") or t in ("?", "-", "\u2013", "\u2014")


# --- numbers -----------------------------------------------------------------

_GROUP_SPACES = " \u00a0\u202f\u2009"
_CURRENCY = ("€", "EUR", "eur", "Eur")


def _strip_currency(s: str) -> str:
    t = s.strip()
    while True:
        before = t
        for sign in _CURRENCY:
            if t.endswith(sign):
                t = t[: -len(sign)].strip()
            if t.startswith(sign):
                t = t[len(sign):].strip()
        if t == before:
            return t


@dataclasses.dataclass
class _Decimal:
    negative: bool
    int: str
    frac: str


def _parse_parts(s: Optional[str]):
    if is_missing(s):
        return MISSING
    t = _strip_currency(s)
    negative = False
    if t[:1] in ("-", "\u2212"):
        negative = True
        t = t[1:]
    elif t[:1] == "+":
        t = t[1:]
    t = _strip_currency(t)
    if not t or not all(c.isascii() and c.isdigit() or c in ",." or c in _GROUP_SPACES for c in t):
        raise ParseError("not a number")
    commas, points = t.count(","), t.count(".")
    if commas == 0 and points == 0:
        decimal, thousands = None, None
    elif commas == 1 and points == 0:
        decimal, thousands = ",", None
    elif commas == 0 and points == 1:
        decimal, thousands = ".", None
    elif points == 0:
        decimal, thousands = None, ","
    elif commas == 0:
        decimal, thousands = None, "."
    elif t.rfind(",") > t.rfind("."):
        if commas > 1:
            raise ParseError("not a number: several decimal separators")
        decimal, thousands = ",", "."
    else:
        if points > 1:
            raise ParseError("not a number: several decimal separators")
        decimal, thousands = ".", ","
    if decimal is not None:
        i = t.rfind(decimal)
        int_part, frac_part = t[:i], t[i + 1:]
    else:
        int_part, frac_part = t, ""
    if not all(c.isascii() and c.isdigit() for c in frac_part):
        raise ParseError("not a number: separator in the decimals")
    groups = [int_part]
    for sep in _GROUP_SPACES + (thousands or ""):
        groups = [g for part in groups for g in part.split(sep)]
    if len(groups) > 1:
        if not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:]):
            raise ParseError("not a number: badly grouped thousands")
    digits = "".join(groups)
    if not digits and not frac_part:
        raise ParseError("not a number")
    digits = digits.lstrip("0")
    if len(digits) > 15:
        raise ParseError("number too large")
    return _Decimal(negative, digits, frac_part)


def parse_decimal(s: Optional[str]):
    """``15,50``, ``15.50``, ``15,50 €``, ``1 234,5`` (space, U+00A0, U+202F), ``1.234,50``."""
    d = _parse_parts(s)
    if d is MISSING:
        return MISSING
    return float(f"{'-' if d.negative else ''}{d.int or '0'}.{d.frac or '0'}")


def parse_cents(s: Optional[str]):
    """An amount in cents, exact (no float), rounded half up: ``1 234,50 €`` → 123450."""
    d = _parse_parts(s)
    if d is MISSING:
        return MISSING

    def digit(i: int) -> int:
        return int(d.frac[i]) if i < len(d.frac) else 0

    cents = int(d.int or "0") * 100 + digit(0) * 10 + digit(1)
    if digit(2) >= 5:
        cents += 1
    if cents > 2**63 - 1:
        raise ParseError("number too large")
    return -cents if d.negative else cents


def parse_integer(s: Optional[str]):
    """``3``, ``1 200``, ``3,0``; ``3,5`` is an error."""
    d = _parse_parts(s)
    if d is MISSING:
        return MISSING
    if any(c != "0" for c in d.frac):
        raise ParseError("not a whole number")
    v = int(d.int or "0")
    return -v if d.negative else v


# --- dates -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Date:
    """A calendar date; the SDK's model turns it into the contract's ``date``."""

    year: int
    month: int
    day: int


def is_leap_year(year: int) -> bool:
    return (year % 4 == 0 and year % 100 != 0) or year % 400 == 0


def days_in_month(year: int, month: int) -> int:
    if month in (1, 3, 5, 7, 8, 10, 12):
        return 31
    if month in (4, 6, 9, 11):
        return 30
    if month == 2:
        return 29 if is_leap_year(year) else 28
    return 0


def date(year: int, month: int, day: int) -> Date:
    """A checked date: ``31/02`` is an error, never shifted."""
    if not 1 <= month <= 12:
        raise ParseError("month out of range")
    if day < 1 or day > days_in_month(year, month):
        raise ParseError("day does not exist in that month")
    return Date(year, month, day)


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 (proleptic Gregorian), Howard Hinnant's algorithm."""
    y = year - (1 if month <= 2 else 0)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def civil_from_days(days: int) -> Date:
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return Date(yoe + era * 400 + (1 if month <= 2 else 0), month, day)


def weekday_from_monday(d: Date) -> int:
    """0 for Monday … 6 for Sunday."""
    return (days_from_civil(d.year, d.month, d.day) + 3) % 7


def excel_serial_date(serial: int) -> Date:
    """Excel's day numbers (1900 system, with its phantom 29/02/1900)."""
    if 1 <= serial <= 59:
        return civil_from_days(days_from_civil(1899, 12, 31) + serial)
    if serial == 60:
        raise ParseError("Excel serial 60 is a date that does not exist")
    if 61 <= serial <= 2_958_465:
        return civil_from_days(days_from_civil(1899, 12, 30) + serial)
    raise ParseError("Excel serial out of range")


def _number(s: str, lo: int, hi: int) -> Optional[int]:
    if lo <= len(s) <= hi and s.isascii() and s.isdigit():
        return int(s)
    return None


def _split(s: str, seps: str):
    parts = [s]
    for sep in seps:
        parts = [p for part in parts for p in part.split(sep)]
    return parts


def parse_date(s: Optional[str]):
    """``dd/mm/yyyy``, ``dd/mm/yy`` (yy < 70 → 20yy), ``dd-mm-yyyy``, ``dd.mm.yyyy``,
    ``yyyy-mm-dd``, Excel serials of 5 digits; a time after the date is ignored."""
    if is_missing(s):
        return MISSING
    t = s.strip()
    t = _split(t, " T")[0]
    pieces = _split(t, ".,")
    if len(pieces) <= 2 and all(c.isascii() and (c.isdigit() or c in ".,") for c in t):
        serial = _number(pieces[0], 5, 5)
        if serial is not None:
            return excel_serial_date(serial)
    parts = _split(t, "/-.")
    if len(parts) != 3:
        raise ParseError("not a date")
    if len(parts[0]) == 4:
        year, month, day = _number(parts[0], 4, 4), _number(parts[1], 1, 2), _number(parts[2], 1, 2)
    else:
        day, month = _number(parts[0], 1, 2), _number(parts[1], 1, 2)
        if len(parts[2]) == 4:
            year = _number(parts[2], 4, 4)
        elif len(parts[2]) == 2:
            yy = _number(parts[2], 2, 2)
            year = None if yy is None else (2000 + yy if yy < 70 else 1900 + yy)
        else:
            year = None
    if year is None or month is None or day is None:
        raise ParseError("not a date")
    return date(year, month, day)


@dataclasses.dataclass(frozen=True)
class IsoWeek:
    year: int
    week: int

    @staticmethod
    def _monday_of_week_one(year: int) -> int:
        return days_from_civil(year, 1, 4) - weekday_from_monday(Date(year, 1, 4))

    @staticmethod
    def weeks_in_year(year: int) -> int:
        return (days_from_civil(year, 12, 28) - IsoWeek._monday_of_week_one(year)) // 7 + 1

    def monday(self) -> Date:
        return civil_from_days(self._monday_of_week_one(self.year) + 7 * (self.week - 1))

    def __str__(self) -> str:
        return f"{self.year:04}-W{self.week:02}"


def parse_iso_week(s: Optional[str]):
    """``2024-W12`` (or ``2024W12``); a week the year does not have is an error."""
    if is_missing(s):
        return MISSING
    t = s.strip()
    for sep in ("W", "w"):
        if sep in t:
            y, w = t.split(sep, 1)
            break
    else:
        raise ParseError("not an ISO week (yyyy-Www)")
    year, week = _number(y[:-1] if y.endswith("-") else y, 4, 4), _number(w, 1, 2)
    if year is None or week is None:
        raise ParseError("not an ISO week (yyyy-Www)")
    if week == 0 or week > IsoWeek.weeks_in_year(year):
        raise ParseError("week does not exist in that year")
    return IsoWeek(year, week)


def parse_rfc3339(s: str, default_offset_secs: Optional[int] = None) -> int:
    """``2024-03-18T09:00:00+01:00`` → seconds since the epoch (instants compare, strings
    do not). Fractions of a second are dropped. A time without an offset is refused
    unless ``default_offset_secs`` says what it is (``0`` for an API documented in UTC).
    """
    t = s.strip()
    bad = ParseError("not an RFC 3339 timestamp")
    if len(t) < 19:
        raise bad
    d, rest = t[:10], t[10:]
    dp = d.split("-")
    if len(dp) != 3:
        raise bad
    year, month, day = _number(dp[0], 4, 4), _number(dp[1], 2, 2), _number(dp[2], 2, 2)
    if year is None or month is None or day is None:
        raise bad
    date(year, month, day)
    if rest[:1] not in ("T", "t", " "):
        raise bad
    rest = rest[1:]
    hms, zone = rest[:8], rest[8:]
    tp = hms.split(":")
    if len(tp) != 3:
        raise bad
    h, m, sec = (_number(x, 2, 2) for x in tp)
    if h is None or m is None or sec is None:
        raise bad
    if h > 23 or m > 59 or sec > 60:
        raise ParseError("time out of range")
    if zone.startswith("."):
        frac = zone[1:]
        n = len(frac) - len(frac.lstrip("0123456789"))
        if n == 0:
            raise bad
        zone = frac[n:]
    if zone in ("Z", "z"):
        offset = 0
    elif zone == "" and default_offset_secs is not None:
        offset = default_offset_secs
    else:
        sign = {"+": 1, "-": -1}.get(zone[:1])
        z = zone[1:]
        if sign is None or not z.isascii():
            raise bad
        if len(z) == 5 and z[2] == ":":
            oh, om = z[:2], z[3:]
        elif len(z) == 4:
            oh, om = z[:2], z[2:]
        elif len(z) == 2:
            oh, om = z, "00"
        else:
            raise bad
        oh, om = _number(oh, 2, 2), _number(om, 2, 2)
        if oh is None or om is None:
            raise bad
        if oh > 23 or om > 59:
            raise ParseError("offset out of range")
        offset = sign * (oh * 3600 + om * 60)
    return days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec - offset


def format_rfc3339_utc(ts: int) -> str:
    """Seconds since the epoch → ``2024-03-18T08:00:00Z``."""
    d = civil_from_days(ts // 86_400)
    s = ts % 86_400
    return f"{d.year:04}-{d.month:02}-{d.day:02}T{s // 3600:02}:{s % 3600 // 60:02}:{s % 60:02}Z"


# --- postcodes and residences -------------------------------------------------


def clean_postcode(s: Optional[str]):
    """Strips ``CEDEX …``, a spreadsheet's ``.0`` and every space (U+00A0, U+202F too);
    ``1000`` → ``01000``; a ``CEDEX`` without code is no postcode; anything else than 5
    digits is an error (a well-formed unknown one, ``99999``, is the hub's to refuse)."""
    if is_missing(s):
        return MISSING
    text = s.strip()
    i = text.upper().find("CEDEX")
    if i >= 0:
        text = text[:i].rstrip()
    if text.endswith(".0"):
        text = text[:-2]
    compact = "".join(c for c in text if not c.isspace())
    if not compact:
        return MISSING
    if not (compact.isascii() and compact.isdigit()):
        raise ParseError("not a postcode: not only digits")
    if len(compact) == 5:
        return compact
    if len(compact) == 4:
        return "0" + compact
    raise ParseError("not a postcode: not 5 digits")


def residence(postcode: Optional[str], commune: Optional[str] = None) -> Optional[Tuple[Optional[str], Optional[str]]]:
    """``(postcode, commune)`` for a residence, or ``None`` when both are missing.

    A city name in the postcode cell becomes the commune; a postcode with digits that
    cannot be cleaned raises ``ParseError`` (reject it ``unknown-postcode``).
    Use ``vivres_sdk.model.location(*residence(...))`` to build the record.
    """
    town = None if is_missing(commune) else repair_mojibake(commune.strip())
    cleaned = None
    if postcode is not None:
        try:
            cleaned = value(clean_postcode(postcode))
        except ParseError:
            raw = postcode.strip()
            if any(c.isascii() and c.isdigit() for c in raw):
                raise
            town = town or repair_mojibake(raw)
    if cleaned is None and town is None:
        return None
    return (cleaned, town)


# --- text --------------------------------------------------------------------

_CP1252_HIGH = (
    "€\x81‚ƒ„…†‡ˆ‰Š‹Œ\x8dŽ\x8f\x90‘’“”•–—˜™š›œ\x9džŸ"
)


def _cp1252_byte(c: str) -> Optional[int]:
    code = ord(c)
    if 0xA0 <= code <= 0xFF:
        return code
    i = _CP1252_HIGH.find(c)
    return 0x80 + i if i >= 0 else None


def _plausible(c: str) -> bool:
    o = ord(c)
    return 0x80 <= o <= 0x24F or 0x2000 <= o <= 0x206F or 0x20A0 <= o <= 0x20CF or 0x2100 <= o <= 0x214F


def _repair_run(run, out) -> bool:
    data = bytes(b for _, b in run)
    changed = False
    i = 0
    while i < len(data):
        try:
            valid = data[i:].decode("utf-8")
            nxt = len(data)
        except UnicodeDecodeError as e:
            nxt = i + e.start
            valid = data[i:nxt].decode("utf-8")
        if valid and all(_plausible(c) for c in valid):
            out.append(valid)
            changed = True
        else:
            out.extend(c for c, _ in run[i:nxt])
        if nxt < len(data):
            out.append(run[nxt][0])
        i = nxt + 1
    return changed


def repair_mojibake(s: str) -> str:
    """``DÃ©cÃ¨s`` → ``Décès``, ``â‚¬`` → ``€``; correct text is left alone."""
    if s.isascii():
        return s
    out = []
    run = []
    changed = False
    for c in s:
        b = None if c.isascii() else _cp1252_byte(c)
        if b is not None:
            run.append((c, b))
        else:
            changed |= _repair_run(run, out)
            run = []
            out.append(c)
    changed |= _repair_run(run, out)
    return "".join(out) if changed else s


def decode_text(data: bytes) -> Tuple[str, str]:
    """``(text, encoding)``: UTF-8, UTF-8 with BOM, else Windows-1252; repairs mojibake."""
    if data.startswith(b"\xef\xbb\xbf"):
        text, encoding = data[3:].decode("utf-8", errors="replace"), "utf-8-bom"
    else:
        try:
            text, encoding = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            # Python's cp1252 leaves 0x81, 0x8D, 0x8F, 0x90, 0x9D undefined;
            # WHATWG's windows-1252 (the Rust SDK's) maps them to U+0081….
            text = "".join(
                bytes([b]).decode("cp1252", errors="strict") if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else chr(b)
                for b in data
            )
            encoding = "windows-1252"
    return repair_mojibake(text), encoding


_FOLD = {
    **dict.fromkeys("àáâãäå", "a"),
    "ç": "c",
    **dict.fromkeys("èéêë", "e"),
    **dict.fromkeys("ìíîï", "i"),
    "ñ": "n",
    **dict.fromkeys("òóôõö", "o"),
    **dict.fromkeys("ùúûü", "u"),
    **dict.fromkeys("ýÿ", "y"),
    "œ": "oe",
    "æ": "ae",
    **dict.fromkeys("’‘ʼ`´", "'"),
    **dict.fromkeys("–—‐", "-"),
}


def fold_label(s: str) -> str:
    """Compares labels case-, accent- and space-insensitively."""
    out = []
    space = False
    for c in repair_mojibake(s).lower():
        if c.isspace():
            space = True
            continue
        if space and out:
            out.append(" ")
        space = False
        out.append(_FOLD.get(c, c))
    return "".join(out)


_COMPOSITIONS = {
    "personne seule": "single",
    "seul": "single",
    "seule": "single",
    "isole": "single",
    "isolee": "single",
    "couple sans enfant": "couple-without-children",
    "couple sans enfants": "couple-without-children",
    "couple avec enfant": "couple-with-children",
    "couple avec enfants": "couple-with-children",
    "famille monoparentale": "single-parent",
    "monoparentale": "single-parent",
    "parent isole": "single-parent",
    "autre": "other",
}


def parse_composition(s: Optional[str]):
    """``Personne seule`` → ``single``, ``Couple avec enfants`` → ``couple-with-children``,
    ``Famille monoparentale`` → ``single-parent``, ``Autre`` → ``other`` (the warehouse's
    labels); ``MISSING`` for an empty cell; a label outside the list raises ParseError."""
    if is_missing(s):
        return MISSING
    label = _COMPOSITIONS.get(fold_label(s))
    if label is None:
        raise ParseError("composition outside the list")
    return label
