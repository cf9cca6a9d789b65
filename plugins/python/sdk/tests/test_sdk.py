"""The SDK's own parts: records, errors, HTTP mapping, checkpoints (natively,
against the generated bindings: host functions exist only inside the hub)."""

import json
import unittest

from componentize_py_types import Err

import vivres_sdk
from vivres_sdk import BadConfig, PartnerUnavailable, http, model, state
from wit_world.imports import types


class Records(unittest.TestCase):
    def test_new_fills_optional_fields(self):
        h = model.new(model.Household, person=model.person("jardin-lyon", "M-1"))
        self.assertIsNone(h.size)
        self.assertIsNone(h.residence)
        s = model.new(model.SurveyResponse, wave="T0", submitted_at=0, instrument="fies")
        self.assertEqual(s.answers, [])
        s.answers.append(model.Answer(question="q", value="v"))
        self.assertEqual(model.new(model.SurveyResponse, wave="T0", submitted_at=0, instrument="fies").answers, [])

    def test_new_names_what_is_wrong(self):
        with self.assertRaisesRegex(TypeError, "field `wave` is required"):
            model.new(model.SurveyResponse, submitted_at=0, instrument="fies")
        with self.assertRaisesRegex(TypeError, "no field colour"):
            model.new(model.Site, kind=model.SiteKind.GARDEN, colour="green")

    def test_item_wraps_the_entity(self):
        s = model.new(model.SurveyResponse, wave="T0", submitted_at=0, instrument="fies")
        i = model.item("42", s)
        self.assertIsInstance(i.entity, types.Entity_SurveyResponse)
        with self.assertRaises(TypeError):
            model.item("42", "not a record")

    def test_reject_hashes_text_as_bytes(self):
        r = model.reject(model.RejectReason.INVALID_DATE, "date", "not a date", key="k", raw="a;b")
        self.assertEqual(r.raw, b"a;b")


class Errors(unittest.TestCase):
    class Failing(vivres_sdk.Connector):
        def spec(self):
            return model.new(model.ConnectorSpec, name="x", version="0", description="", config_schema="{}")

        def read_batch(self, config, stream, saved):
            if stream == "bug":
                return {"M-lyon-00012": 1}["missing"]
            raise PartnerUnavailable("slow down", 30)

    def test_failures_become_contract_errors(self):
        c = self.Failing()
        with self.assertRaises(Err) as e:
            c.read("{}", "x", None)
        self.assertEqual(e.exception.value, types.ConnectorError_PartnerUnavailable(
            types.Unavailable(message="slow down", retry_after_secs=30)))
        with self.assertRaises(Err) as e:
            c.check("not json")
        self.assertIsInstance(e.exception.value, types.ConnectorError_BadConfig)

    def test_bugs_fail_without_leaking_values(self):
        with self.assertRaises(Err) as e:
            self.Failing().read("{}", "bug", None)
        error = e.exception.value
        self.assertIsInstance(error, types.ConnectorError_BadData)
        self.assertIn("KeyError at test_sdk.py:", error.value)
        self.assertNotIn("missing", error.value)


class Http(unittest.TestCase):
    def test_query_values_are_percent_encoded(self):
        r = (http.Request.get("http://127.0.0.1:8080/g1/api/v2/subscriptions")
             .query("updated_since", "2024-03-18T09:00:00+01:00").query("cursor", "a b/c==")
             .query("none", None).query("limit", 500))
        self.assertEqual(r.url, "http://127.0.0.1:8080/g1/api/v2/subscriptions?updated_since=2024-03-18T09%3A00%3A00"
                                "%2B01%3A00&cursor=a%20b%2Fc%3D%3D&limit=500")
        self.assertEqual(http.percent_encode("é~"), "%C3%A9~")

    def test_statuses(self):
        self.assertIsNone(http.status_error(200, None, "u"))
        self.assertIsInstance(http.status_error(401, None, "u"), vivres_sdk.AuthFailed)
        e = http.status_error(429, 7, "u")
        self.assertIsInstance(e, PartnerUnavailable)
        self.assertEqual(e.retry_after_secs, 7)
        self.assertIsInstance(http.status_error(503, None, "u"), PartnerUnavailable)
        self.assertIsInstance(http.status_error(404, None, "u"), BadConfig)
        self.assertIsInstance(http.status_error(302, None, "u"), BadConfig)

    def test_retry_after(self):
        self.assertEqual(http.parse_retry_after("120", 0), 120)
        now = 1_445_412_480 - 60  # Wed, 21 Oct 2015 07:28:00 GMT minus a minute
        self.assertEqual(http.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), 60)
        self.assertEqual(http.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now + 3600), 0)
        self.assertIsNone(http.parse_retry_after("soon", 0))

    def test_json(self):
        self.assertEqual(http.decode_json(b'\xef\xbb\xbf{"a": 1}'), {"a": 1})
        with self.assertRaises(PartnerUnavailable):
            http.decode_json(b'{"a": ', "application/json")
        with self.assertRaises(PartnerUnavailable):
            http.decode_json(b"<html>maintenance</html>", "text/html")

    def test_describe_url_drops_the_query(self):
        self.assertEqual(http.describe_url("http://h/p?token=abc#x"), "http://h/p")


class Checkpoints(unittest.TestCase):
    def test_round_trip(self):
        self.assertEqual(state.load(None, {"start": 0}), {"start": 0})
        self.assertEqual(state.load(state.save({"a": 1})), {"a": 1})
        with self.assertRaises(vivres_sdk.BadData):
            state.load("[1]")
        with self.assertRaises(vivres_sdk.BadData):
            state.load("{")
        self.assertEqual(json.loads(state.save({"b": 1, "a": 2})), {"a": 2, "b": 1})


if __name__ == "__main__":
    unittest.main()


class Inbox(unittest.TestCase):
    def test_entries_list_stored_files_by_arrival_then_loose_ones(self):
        import os
        import tempfile

        from vivres_sdk import inbox

        sha = "ab" * 32
        with tempfile.TemporaryDirectory() as root:
            for folder, name in [(f"00000002-{sha}", "parcels_b.csv"), (f"00000001-{sha}", "parcels_a.csv")]:
                os.mkdir(os.path.join(root, folder))
                with open(os.path.join(root, folder, name), "w") as f:
                    f.write("ref\n")
            for name in ["parcels_c.csv", "notes.txt", ".hidden.csv"]:
                with open(os.path.join(root, name), "w") as f:
                    f.write("x\n")
            os.mkdir(os.path.join(root, "not-an-entry"))
            found = inbox.entries_in(root, suffixes=(".csv",), prefix="parcels")
            self.assertEqual([f.name for f in found], ["parcels_a.csv", "parcels_b.csv", "parcels_c.csv"])
            self.assertEqual(found[0].id, f"00000001-{sha}")
            self.assertEqual(found[2].id, "parcels_c.csv")
            self.assertEqual(inbox.read_bytes(found[0]), b"ref\n")
