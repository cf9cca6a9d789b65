"""The survey connector's mapping, natively (HTTP is tested end to end against the
partner simulator: `cargo test --test e2e python`)."""

import unittest

import app
from wit_world.imports import types
from vivres_sdk import BadConfig, BadData


def result(**over):
    r = {
        "_id": 17,
        "_uuid": "b2c4",
        "_submission_time": "2024-03-18T09:12:45",
        "vague": "T0",
        "menage/reseau": "cocagne",
        "menage/site": "jardin-lyon",
        "menage/code": "M-lyon-00012",
        "menage/cp": "69 008",
    }
    for i, name in enumerate(app.FIES):
        r[f"fies/{name}"] = "yes" if i < 3 else "no"
    for k, v in over.items():
        k = k.replace("__", "/")
        if v is None:
            r.pop(k, None)
        else:
            r[k] = v
    return r


class Submissions(unittest.TestCase):
    def response(self, **over):
        item, at = app.submission(result(**over))
        self.assertIsInstance(item, types.Item, item)
        return item.entity.value, at

    def rejected(self, **over):
        reject, at = app.submission(result(**over))
        self.assertIsInstance(reject, types.Reject, reject)
        self.assertIsNone(at)
        return reject

    def test_complete_answers_have_a_raw_score(self):
        s, at = self.response()
        self.assertEqual(at, 1_710_753_165)
        self.assertEqual(s.raw_score, 3)
        self.assertEqual(s.household, types.PersonId(scope="jardin-lyon", local_id="M-lyon-00012"))
        self.assertEqual((s.network, s.site, s.wave, s.instrument), ("cocagne", "jardin-lyon", "T0", "fies"))
        self.assertEqual(s.residence, types.Location(postcode="69008", commune=None, insee=None))
        self.assertEqual(len(s.answers), 8)
        self.assertNotIn("M-lyon-00012", repr(s.answers))

    def test_no_raw_score_unless_all_eight_are_yes_or_no(self):
        self.assertIsNone(self.response(fies__hungry="dont_know")[0].raw_score)
        self.assertIsNone(self.response(fies__whlday="refused")[0].raw_score)
        s = self.response(fies__worried=None)[0]
        self.assertIsNone(s.raw_score)
        self.assertEqual(len(s.answers), 7)
        self.assertEqual(self.response(**{f"fies__{n}": "yes" for n in app.FIES})[0].raw_score, 8)

    def test_refusals(self):
        r = self.rejected(fies__skipped="maybe")
        self.assertEqual((r.reason, r.field, r.key), (types.RejectReason.UNKNOWN_LABEL, "fies/skipped", "17"))
        self.assertEqual(self.rejected(vague="T9").reason, types.RejectReason.UNKNOWN_LABEL)
        self.assertEqual(self.rejected(_submission_time="hier").reason, types.RejectReason.INVALID_DATE)
        self.assertEqual(self.rejected(menage__cp="690").reason, types.RejectReason.UNKNOWN_POSTCODE)
        self.assertEqual(self.rejected(menage__site=None).field, "menage/site")
        r = self.rejected(_id=None)
        self.assertEqual((r.reason, r.key), (types.RejectReason.MISSING_REQUIRED, None))
        for r in [self.rejected(vague="T9"), self.rejected(menage__cp="690")]:
            self.assertNotIn("M-lyon-00012", r.detail + r.field)

    def test_an_anonymous_submission_is_kept(self):
        s, _ = self.response(menage__code=None)
        self.assertIsNone(s.household)

    def test_offsets_and_fractions(self):
        self.assertEqual(self.response(_submission_time="2024-03-18T10:12:45+01:00")[1], 1_710_753_165)
        self.assertEqual(self.response(_submission_time="2024-03-18T09:12:45.832")[1], 1_710_753_165)


class Paging(unittest.TestCase):
    def test_next_start(self):
        nxt = "http://kobo.example/api/v2/assets/a1/data/?format=json&limit=1000&start=2000&query=%7B%7D"
        self.assertEqual(app.next_start(nxt, 1000), 2000)
        with self.assertRaises(BadData):
            app.next_start("http://kobo.example/api/v2/assets/a1/data/?limit=1000", 0)
        with self.assertRaises(BadData):
            app.next_start(nxt, 2000)

    def test_kobo_time_has_no_offset(self):
        self.assertEqual(app.kobo_time(1_710_753_165), "2024-03-18T09:12:45")


class Configuration(unittest.TestCase):
    def config(self, **over):
        raw = {"server": "https://kf.example.org", "asset_uid": "aBc123", "token_secret": "kobo"}
        raw.update(over)
        return app.Config(raw)

    def test_defaults(self):
        c = self.config()
        self.assertEqual((c.page_size, c.overlap_secs), (1000, 60))
        self.assertEqual(c.data_url(), "https://kf.example.org/api/v2/assets/aBc123/data/")

    def test_errors_name_the_field(self):
        for over, field in [({"page_size": 5000}, "page_size"), ({"server": "kf.example.org"}, "server"),
                            ({"asset_uid": "../x"}, "asset_uid"), ({"colour": 1}, "colour"),
                            ({"overlap_secs": True}, "overlap_secs")]:
            with self.assertRaises(BadConfig) as e:
                self.config(**over)
            self.assertTrue(e.exception.message.startswith(field), e.exception.message)


if __name__ == "__main__":
    unittest.main()
