"""The table of cases of the French-data rules (``crates/vivres-fr/cases.json``, which the
hub's crate and the Rust SDK run too), run against ``vivres_sdk.fr``. ``name_key`` (commune
name keys, for the hub's gazetteer) has no Python counterpart: connectors never resolve
communes."""

import json
import pathlib
import unittest

from vivres_sdk import fr

CASES = pathlib.Path(__file__).resolve().parents[4] / "crates" / "vivres-fr" / "cases.json"


def outcome(parse, s):
    try:
        v = parse(s)
    except fr.ParseError:
        return {"error": True}
    if v is fr.MISSING:
        return {"missing": True}
    return {"value": v}


def date(s):
    d = fr.parse_date(s)
    return d if d is fr.MISSING else f"{d.year:04}-{d.month:02}-{d.day:02}"


RULES = {
    "decimal": lambda s: outcome(fr.parse_decimal, s),
    "cents": lambda s: outcome(fr.parse_cents, s),
    "integer": lambda s: outcome(fr.parse_integer, s),
    "postcode": lambda s: outcome(fr.clean_postcode, s),
    "mojibake": lambda s: {"value": fr.repair_mojibake(s)},
    "fold": lambda s: {"value": fr.fold_label(s)},
    "missing": lambda s: {"value": fr.is_missing(s)},
    "composition": lambda s: outcome(fr.parse_composition, s),
    "date": lambda s: outcome(date, s),
}


class TableOfCases(unittest.TestCase):
    def test_the_table_of_cases(self):
        cases = json.loads(CASES.read_text(encoding="utf-8"))
        ran = set()
        for case in cases:
            rule, s = case["rule"], case["input"]
            if rule == "name_key":
                continue
            want = {k: v for k, v in case.items() if k not in ("rule", "input")}
            self.assertEqual(RULES[rule](s), want, f"{rule} {s!r}")
            ran.add(rule)
        self.assertEqual(ran, set(RULES))


if __name__ == "__main__":
    unittest.main()
