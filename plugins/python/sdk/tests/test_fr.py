"""The Rust SDK's cases (`plugins/sdk/src/fr/*.rs`), run against the Python helpers."""

import unittest

from vivres_sdk import fr
from vivres_sdk.fr import MISSING, ParseError


class Numbers(unittest.TestCase):
    def test_decimal_comma_and_point(self):
        for s, v in [("15,50", 15.5), ("15.50", 15.5), ("15", 15.0), (",5", 0.5), ("-3,25", -3.25),
                     ("\u22123,25", -3.25), ("+2", 2.0), ("1.234", 1.234)]:
            self.assertEqual(fr.parse_decimal(s), v, s)

    def test_currency_and_thousands(self):
        for s, v in [("15,50 €", 15.5), ("15,50€", 15.5), ("€15.50", 15.5), ("15,50 EUR", 15.5),
                     ("1 234,5", 1234.5), ("1\u00a0234,5", 1234.5), ("1\u202f234,5", 1234.5),
                     ("1 234 567", 1234567.0), ("1.234,50", 1234.5), ("1,234.50", 1234.5),
                     ("1.234.567", 1234567.0), ("-1 234,50 €", -1234.5)]:
            self.assertEqual(fr.parse_decimal(s), v, s)

    def test_cents_round_half_up(self):
        for s, v in [("1 234,50 €", 123450), ("1\u202f234,50\u00a0€", 123450), ("15,5", 1550), ("15", 1500),
                     ("0,005", 1), ("0,004", 0), ("2,675", 268), ("2,6749", 267), ("-2,675", -268),
                     ("0", 0), ("007,10", 710)]:
            self.assertEqual(fr.parse_cents(s), v, s)

    def test_missing_is_not_invalid(self):
        for s in ["", "NC", "?", "-", " ", "N/C", "\u00a0", "—"]:
            self.assertIs(fr.parse_cents(s), MISSING, s)
            self.assertIs(fr.parse_decimal(s), MISSING, s)
        for s in ["abc", "12 5", "1,2,3.4.5", "1,5,0", "12a", "€", "1.2.3,4,5", "--5", "1e5", "15,5 0",
                  "99999999999999999999"]:
            with self.assertRaises(ParseError, msg=s):
                fr.parse_cents(s)

    def test_messages_hide_the_value(self):
        with self.assertRaises(ParseError) as e:
            fr.parse_cents("secret123abc")
        self.assertNotIn("secret", e.exception.message)

    def test_integers(self):
        self.assertEqual(fr.parse_integer("3"), 3)
        self.assertEqual(fr.parse_integer("1 200"), 1200)
        self.assertEqual(fr.parse_integer("3,0"), 3)
        self.assertEqual(fr.parse_integer("-2"), -2)
        self.assertIs(fr.parse_integer("NC"), MISSING)
        with self.assertRaises(ParseError):
            fr.parse_integer("3,5")


class Dates(unittest.TestCase):
    def ymd(self, s):
        d = fr.parse_date(s)
        return (d.year, d.month, d.day)

    def test_formats(self):
        for s, v in [("15/03/2024", (2024, 3, 15)), ("5/3/2024", (2024, 3, 5)), ("15/03/24", (2024, 3, 15)),
                     ("15/03/70", (1970, 3, 15)), ("15-03-2024", (2024, 3, 15)), ("15.03.2024", (2024, 3, 15)),
                     ("2024-03-15", (2024, 3, 15)), ("2024-03-15T10:00:00", (2024, 3, 15)),
                     ("15/03/2024 10:00", (2024, 3, 15)), ("45292", (2024, 1, 1)), ("45292,0", (2024, 1, 1)),
                     ("29/02/2024", (2024, 2, 29))]:
            self.assertEqual(self.ymd(s), v, s)

    def test_impossible_dates_are_errors(self):
        for s in ["31/02/2024", "29/02/2023", "2024-13-01", "00/01/2024", "1/2", "hier", "2024-02-31", "15/03/202"]:
            with self.assertRaises(ParseError, msg=s):
                fr.parse_date(s)
        self.assertIs(fr.parse_date("NC"), MISSING)

    def test_excel_serials(self):
        self.assertEqual(fr.excel_serial_date(1), fr.Date(1900, 1, 1))
        self.assertEqual(fr.excel_serial_date(59), fr.Date(1900, 2, 28))
        self.assertEqual(fr.excel_serial_date(61), fr.Date(1900, 3, 1))
        with self.assertRaises(ParseError):
            fr.excel_serial_date(60)

    def test_iso_weeks(self):
        w = fr.parse_iso_week("2024-W12")
        self.assertEqual((w.year, w.week, str(w)), (2024, 12, "2024-W12"))
        self.assertEqual(w.monday(), fr.Date(2024, 3, 18))
        self.assertEqual(fr.parse_iso_week("2020-W53").monday(), fr.Date(2020, 12, 28))
        with self.assertRaises(ParseError):
            fr.parse_iso_week("2024-W53")
        with self.assertRaises(ParseError):
            fr.parse_iso_week("2024-W00")

    def test_rfc3339_compares_instants(self):
        self.assertEqual(fr.parse_rfc3339("2024-01-08T08:00:00Z"), 1_704_700_800)
        self.assertEqual(fr.parse_rfc3339("2024-01-08T09:00:00+01:00"), 1_704_700_800)
        self.assertEqual(fr.parse_rfc3339("2024-01-08T10:00:00.123+0200"), 1_704_700_800)
        self.assertLess(fr.parse_rfc3339("2024-03-18T10:00:00+02:00"), fr.parse_rfc3339("2024-03-18T08:30:00Z"))
        self.assertEqual(fr.format_rfc3339_utc(1_704_700_800), "2024-01-08T08:00:00Z")
        with self.assertRaises(ParseError):
            fr.parse_rfc3339("2024-01-08T08:00:00")
        self.assertEqual(fr.parse_rfc3339("2024-01-08T08:00:00", default_offset_secs=0), 1_704_700_800)
        for s in ["2024-02-30T00:00:00Z", "2024-01-08T24:00:00Z", "2024-01-08T08:00:00+25:00", "yesterday"]:
            with self.assertRaises(ParseError, msg=s):
                fr.parse_rfc3339(s)


class Postcodes(unittest.TestCase):
    def test_cleans_postcodes(self):
        for s, v in [("69008", "69008"), (" 69 008 ", "69008"), ("69\u00a0008", "69008"), ("69\u202f008", "69008"),
                     ("1000", "01000"), ("13001 CEDEX", "13001"), ("31000 Cedex 6", "31000"), ("99999", "99999")]:
            self.assertEqual(fr.clean_postcode(s), v, s)

    def test_refuses_what_is_not_a_postcode(self):
        for s in ["690", "690088", "Lyon", "69OO8", "2A004"]:
            with self.assertRaises(ParseError, msg=s):
                fr.clean_postcode(s)
        self.assertIs(fr.clean_postcode("NC"), MISSING)
        self.assertIs(fr.clean_postcode(""), MISSING)

    def test_residences(self):
        self.assertEqual(fr.residence("1000", "Bourg-en-Bresse"), ("01000", "Bourg-en-Bresse"))
        self.assertEqual(fr.residence("Villeurbanne"), (None, "Villeurbanne"))
        self.assertEqual(fr.residence("Lyon", "Lyon"), (None, "Lyon"))
        self.assertEqual(fr.residence("", "Montpellier"), (None, "Montpellier"))
        self.assertEqual(fr.residence("34000", "Montpell\u00c3\u00a9"), ("34000", "Montpellé"))
        with self.assertRaises(ParseError):
            fr.residence("690", "Lyon")
        self.assertIsNone(fr.residence(None, None))
        self.assertIsNone(fr.residence("NC", ""))


class Text(unittest.TestCase):
    def test_mojibake(self):
        self.assertEqual(fr.repair_mojibake("DÃ©cÃ¨s"), "Décès")
        self.assertEqual(fr.repair_mojibake("â‚¬"), "€")
        for s in ["Décès", "déjà vu", "100 €", "plain"]:
            self.assertEqual(fr.repair_mojibake(s), s)

    def test_decode(self):
        self.assertEqual(fr.decode_text("Décès".encode("utf-8")), ("Décès", "utf-8"))
        self.assertEqual(fr.decode_text(b"\xef\xbb\xbfD\xc3\xa9c\xc3\xa8s"), ("Décès", "utf-8-bom"))
        self.assertEqual(fr.decode_text(b"15 \x80 pay\xe9"), ("15 € payé", "windows-1252"))

    def test_fold_label(self):
        self.assertEqual(fr.fold_label("Embauche en CDI non aidé"), fr.fold_label("embauche en cdi  NON AIDE"))
        self.assertEqual(fr.fold_label("  Départ   à la retraite "), "depart a la retraite")
        self.assertEqual(fr.fold_label("DÃ©cÃ¨s"), "deces")


if __name__ == "__main__":
    unittest.main()
