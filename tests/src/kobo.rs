//! The coalition's KoboToolbox server (partners §6): one food-security form per
//! territory, served as KoboToolbox's API does, quirks included:
//!
//! - `GET /kobo/api/v2/assets/{uid}/data/?format=json&start=&limit=&query=`, header
//!   `Authorization: Token {key}`; `{"count", "next", "previous", "results"}`;
//! - results in `_id` order, paged by offset (`start`); `limit` defaults to 100 and
//!   is capped to 1000 without a word; `next` is an absolute URL or `null`;
//! - `query` is a MongoDB filter on `_submission_time`, which KoboToolbox stores as
//!   text in UTC without an offset (`2024-03-18T09:12:45`) and compares **as text**:
//!   a bound written `…Z` or `…+01:00` does not mean what the client thinks;
//! - several submissions share one second (`ties`), so a client that resumes at
//!   `$gt` its last second loses the ones that arrive later in that same second.
//!
//! Households come from the gardens' own members (network `cocagne`, site
//! [`crate::Garden::site`], code the subscription's `member_no`), so that a
//! household's pseudonym in the survey equals the one from the Cocagne API; some
//! come from other networks, and some answer anonymously.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::data::GardenData;
use crate::{Garden, Territory};

/// The one API key of the coalition's KoboToolbox account.
pub const KOBO_TOKEN: &str = "kobo-token";
/// Where the simulated KoboToolbox server lives under the simulator's address.
pub const KOBO_PREFIX: &str = "/kobo";
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// 2024-02-05T08:00:00Z: the first submission.
const SURVEYS_EPOCH: i64 = 1_707_120_000;

/// The eight FAO FIES items, as the form names them.
pub const FIES_ITEMS: [&str; 8] = [
    "worried", "healthy", "fewfood", "skipped", "ateless", "runout", "hungry", "whlday",
];

/// The form (asset) uid of a territory's survey.
pub fn asset_uid(territory: Territory) -> String {
    format!("a{}fies", territory.id().replace('-', ""))
}

/// Who answered: the network and site that know the household, and its code there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Respondent {
    pub network: String,
    pub site: String,
    pub code: String,
}

#[derive(Clone, Debug)]
struct Submission {
    id: u64,
    uuid: String,
    at: i64,
    wave: &'static str,
    respondent: Option<Respondent>,
    postcode: String,
    /// `None`: the item was skipped (not in the result at all).
    fies: [Option<&'static str>; 8],
}

impl Submission {
    fn render(&self, uid: &str) -> Value {
        let mut out = serde_json::Map::new();
        out.insert("_id".into(), json!(self.id));
        out.insert("_uuid".into(), json!(self.uuid));
        out.insert("formhub/uuid".into(), json!(format!("{uid}-formhub")));
        out.insert("__version__".into(), json!("vQ7b2fies"));
        out.insert(
            "meta/instanceID".into(),
            json!(format!("uuid:{}", self.uuid)),
        );
        out.insert("_submission_time".into(), json!(kobo_time(self.at)));
        out.insert("_status".into(), json!("submitted_via_web"));
        out.insert("_submitted_by".into(), Value::Null);
        out.insert("_attachments".into(), json!([]));
        out.insert("_geolocation".into(), json!([null, null]));
        out.insert("_tags".into(), json!([]));
        out.insert("_notes".into(), json!([]));
        out.insert("_validation_status".into(), json!({}));
        out.insert("vague".into(), json!(self.wave));
        if let Some(r) = &self.respondent {
            out.insert("menage/reseau".into(), json!(r.network));
            out.insert("menage/site".into(), json!(r.site));
            out.insert("menage/code".into(), json!(r.code));
        }
        if !self.postcode.is_empty() {
            out.insert("menage/cp".into(), json!(self.postcode));
        }
        for (item, answer) in FIES_ITEMS.iter().zip(self.fies) {
            if let Some(answer) = answer {
                out.insert(format!("fies/{item}"), json!(answer));
            }
        }
        Value::Object(out)
    }

    /// FAO: the count of `yes`, only when all eight items are `yes` or `no`.
    fn raw_score(&self) -> Option<u32> {
        let mut yes = 0;
        for answer in self.fies {
            match answer? {
                "yes" => yes += 1,
                "no" => {}
                _ => return None,
            }
        }
        Some(yes)
    }
}

/// `_submission_time` as KoboToolbox writes it: UTC, no offset.
pub fn kobo_time(secs: i64) -> String {
    let at =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// What a correct connector and hub make of one form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KoboExpected {
    pub total: usize,
    /// Reason → count (`unknown_postcode`: a residence `99999`); the rest is stored.
    pub quarantined: BTreeMap<String, usize>,
    /// `_id` → raw score, for every submission that must be stored.
    pub raw_scores: BTreeMap<u64, Option<u32>>,
    /// `_id` → respondent, for every stored submission that names one.
    pub respondents: BTreeMap<u64, Respondent>,
    /// Every household code served: none may appear in clear in the hub.
    pub raw_person_values: Vec<String>,
}

/// One territory's form.
pub(crate) struct Form {
    territory: Territory,
    seed: u64,
    submissions: Vec<Submission>,
    /// The gardens' members the form draws households from: (site, code).
    members: Vec<(String, String)>,
}

fn form_seed(seed: u64, territory: Territory, salt: u64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in territory.id().bytes().chain(*b"kobo") {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt.wrapping_mul(0xd6e8_feb8_6659_fd93)
}

impl Form {
    /// `n` submissions, `ties` to a second, from the households of `gardens`.
    pub(crate) fn generate(
        seed: u64,
        territory: Territory,
        n: usize,
        ties: usize,
        gardens: &[(&Garden, &GardenData)],
    ) -> Form {
        let mut rng = ChaCha8Rng::seed_from_u64(form_seed(seed, territory, 0));
        let members = gardens
            .iter()
            .flat_map(|(garden, data)| {
                data.member_nos()
                    .filter(|m| !m.is_empty())
                    .map(|m| (garden.site(), m.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut form = Form {
            territory,
            seed,
            submissions: Vec::with_capacity(n),
            members,
        };
        let ties = ties.max(1);
        let mut at = SURVEYS_EPOCH;
        for i in 0..n {
            if i > 0 && i % ties == 0 {
                at += rng.random_range(1..=900);
            }
            let submission = form.submission(&mut rng, 1_000_001 + i as u64, at);
            form.submissions.push(submission);
        }
        form
    }

    fn submission(&self, rng: &mut ChaCha8Rng, id: u64, at: i64) -> Submission {
        let respondent = match rng.random_range(0..100u8) {
            0..70 if !self.members.is_empty() => {
                let (site, code) = &self.members[rng.random_range(0..self.members.len())];
                Some(Respondent {
                    network: "cocagne".into(),
                    site: site.clone(),
                    code: code.clone(),
                })
            }
            0..90 => Some(Respondent {
                network: "secours-catholique".into(),
                site: format!("equipe-{}-{}", self.territory.id(), rng.random_range(1..=4)),
                code: format!("{}", rng.random_range(1000..9999)),
            }),
            // Some households answer without being known to a network.
            _ => None,
        };
        let inside = crate::places::inside(self.territory);
        let (postcode, _) = inside[rng.random_range(0..inside.len())];
        let postcode = match rng.random_range(0..100u8) {
            0..5 => String::new(),
            5..10 => format!("{} {}", &postcode[..2], &postcode[2..]),
            // A typo the form's constraint lets through: the hub refuses it.
            10 => "99999".to_string(),
            _ => postcode.to_string(),
        };
        let severity = rng.random_range(0..=8u8);
        let mut fies = [None; 8];
        for (k, answer) in fies.iter_mut().enumerate() {
            *answer = match rng.random_range(0..100u8) {
                0..2 => None,
                2..4 => Some("dont_know"),
                4..5 => Some("refused"),
                // FIES items form a scale: the more severe, the more items `yes`.
                _ if (k as u8) < severity => Some("yes"),
                _ => Some("no"),
            };
        }
        Submission {
            id,
            uuid: format!(
                "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                rng.random::<u32>(),
                rng.random::<u16>(),
                rng.random_range(0..0xfffu16),
                rng.random_range(0..0xfffu16),
                rng.random::<u64>() & 0xffff_ffff_ffff
            ),
            at,
            wave: ["T0", "T0", "T1", "T2"][rng.random_range(0..4)],
            respondent,
            postcode,
            fies,
        }
    }

    /// A new submission in the same second as the latest one, as when two
    /// interviewers send their forms at once; returns its `_id`.
    pub(crate) fn add_in_last_second(&mut self) -> u64 {
        let id = self
            .submissions
            .iter()
            .map(|s| s.id)
            .max()
            .unwrap_or(1_000_000)
            + 1;
        let at = self
            .submissions
            .iter()
            .map(|s| s.at)
            .max()
            .unwrap_or(SURVEYS_EPOCH);
        let mut rng = ChaCha8Rng::seed_from_u64(form_seed(self.seed, self.territory, id));
        let mut submission = self.submission(&mut rng, id, at);
        // Stored for sure, whatever the draw: the test looks for it.
        if submission.postcode == "99999" {
            submission.postcode.clear();
        }
        self.submissions.push(submission);
        id
    }

    pub(crate) fn expected(&self) -> KoboExpected {
        let mut expected = KoboExpected {
            total: self.submissions.len(),
            ..KoboExpected::default()
        };
        let mut codes = std::collections::BTreeSet::new();
        for s in &self.submissions {
            if let Some(r) = &s.respondent {
                codes.insert(r.code.clone());
            }
            if s.postcode == "99999" {
                *expected
                    .quarantined
                    .entry("unknown_postcode".into())
                    .or_default() += 1;
                continue;
            }
            expected.raw_scores.insert(s.id, s.raw_score());
            if let Some(r) = &s.respondent {
                expected.respondents.insert(s.id, r.clone());
            }
        }
        expected.raw_person_values = codes.into_iter().collect();
        expected
    }

    pub(crate) fn results(&self) -> Vec<Value> {
        let uid = asset_uid(self.territory);
        self.submissions.iter().map(|s| s.render(&uid)).collect()
    }
}

/// The forms, by asset uid.
pub(crate) type Forms = BTreeMap<String, std::sync::RwLock<Form>>;

#[derive(Debug, thiserror::Error)]
pub(crate) enum KoboQueryError {
    #[error("`{0}` must be a non-negative integer")]
    Number(&'static str),
    #[error("`query` is not valid JSON")]
    Json,
    #[error("`query` can only filter `_submission_time` with $gt, $gte, $lt, $lte in this server")]
    Unsupported,
    #[error("malformed query string")]
    Encoding,
}

/// A `_submission_time` bound, compared as text the way MongoDB compares strings.
#[derive(Debug, Default, PartialEq)]
struct Filter {
    bounds: Vec<(String, String)>,
}

impl Filter {
    fn parse(text: &str) -> Result<Filter, KoboQueryError> {
        let value: Value = serde_json::from_str(text).map_err(|_| KoboQueryError::Json)?;
        let Value::Object(fields) = value else {
            return Err(KoboQueryError::Json);
        };
        let mut bounds = Vec::new();
        for (field, condition) in fields {
            if field != "_submission_time" {
                return Err(KoboQueryError::Unsupported);
            }
            match condition {
                Value::String(s) => bounds.push(("$eq".to_string(), s)),
                Value::Object(ops) => {
                    for (op, bound) in ops {
                        let Value::String(bound) = bound else {
                            return Err(KoboQueryError::Unsupported);
                        };
                        if !matches!(op.as_str(), "$gt" | "$gte" | "$lt" | "$lte") {
                            return Err(KoboQueryError::Unsupported);
                        }
                        bounds.push((op, bound));
                    }
                }
                _ => return Err(KoboQueryError::Unsupported),
            }
        }
        Ok(Filter { bounds })
    }

    fn admits(&self, time: &str) -> bool {
        self.bounds.iter().all(|(op, bound)| match op.as_str() {
            "$gt" => time > bound.as_str(),
            "$gte" => time >= bound.as_str(),
            "$lt" => time < bound.as_str(),
            "$lte" => time <= bound.as_str(),
            _ => time == bound.as_str(),
        })
    }
}

struct DataRequest {
    start: usize,
    limit: usize,
    query: Option<String>,
}

fn parse_request(query: Option<&str>) -> Result<DataRequest, KoboQueryError> {
    let mut request = DataRequest {
        start: 0,
        limit: DEFAULT_LIMIT,
        query: None,
    };
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = crate::server::form_decode(value).ok_or(KoboQueryError::Encoding)?;
        match name {
            "start" => {
                request.start = value
                    .trim()
                    .parse()
                    .map_err(|_| KoboQueryError::Number("start"))?
            }
            // KoboToolbox caps the page without telling: clients must follow `next`.
            "limit" => {
                let limit: usize = value
                    .trim()
                    .parse()
                    .map_err(|_| KoboQueryError::Number("limit"))?;
                request.limit = limit.clamp(1, MAX_LIMIT);
            }
            "query" => request.query = Some(value),
            _ => {}
        }
    }
    Ok(request)
}

fn page_url(base: &str, request: &DataRequest, start: usize) -> String {
    let mut url = format!("{base}?format=json&limit={}&start={start}", request.limit);
    if let Some(query) = &request.query {
        url.push_str("&query=");
        url.push_str(&crate::server::form_encode(query));
    }
    url
}

fn detail(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "detail": message }))).into_response()
}

/// `GET /kobo/api/v2/assets/{uid}/data/`.
pub(crate) fn answer(
    forms: &Forms,
    uid: &str,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Response {
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Token "))
        .is_some_and(|token| token.trim() == KOBO_TOKEN);
    if !authorized {
        return detail(StatusCode::UNAUTHORIZED, "Invalid token.");
    }
    let Some(form) = forms.get(uid) else {
        return detail(StatusCode::NOT_FOUND, "Not found.");
    };
    let request = match parse_request(query) {
        Ok(request) => request,
        Err(e) => return detail(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let filter = match request.query.as_deref().map(Filter::parse).transpose() {
        Ok(filter) => filter.unwrap_or_default(),
        Err(e) => return detail(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let base = format!("http://{host}{KOBO_PREFIX}/api/v2/assets/{uid}/data/");
    let form = form.read().unwrap_or_else(|e| e.into_inner());
    let mut matching: Vec<&Submission> = form
        .submissions
        .iter()
        .filter(|s| filter.admits(&kobo_time(s.at)))
        .collect();
    matching.sort_by_key(|s| s.id);
    let count = matching.len();
    let end = request.start.saturating_add(request.limit).min(count);
    let start = request.start.min(count);
    let results: Vec<Value> = matching[start..end].iter().map(|s| s.render(uid)).collect();
    let next = (end < count).then(|| page_url(&base, &request, end));
    let previous =
        (start > 0).then(|| page_url(&base, &request, start.saturating_sub(request.limit)));
    Json(json!({
        "count": count,
        "next": next,
        "previous": previous,
        "results": results,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_times_as_text_like_mongodb() {
        let f = Filter::parse(r#"{"_submission_time": {"$gt": "2024-02-05T08:00:00"}}"#).unwrap();
        assert!(!f.admits("2024-02-05T08:00:00"));
        assert!(f.admits("2024-02-05T08:00:01"));
        // A bound with an offset is text too: `…Z` sorts after the plain second.
        let z = Filter::parse(r#"{"_submission_time": {"$gt": "2024-02-05T08:00:00Z"}}"#).unwrap();
        assert!(!z.admits("2024-02-05T08:00:00"));
        assert!(Filter::parse(r#"{"_id": 3}"#).is_err());
        assert!(Filter::parse("{").is_err());
    }

    #[test]
    fn raw_score_needs_eight_yes_or_no() {
        let mut s = Submission {
            id: 1,
            uuid: String::new(),
            at: SURVEYS_EPOCH,
            wave: "T0",
            respondent: None,
            postcode: String::new(),
            fies: [
                Some("yes"),
                Some("yes"),
                Some("no"),
                Some("no"),
                Some("no"),
                Some("no"),
                Some("no"),
                Some("no"),
            ],
        };
        assert_eq!(s.raw_score(), Some(2));
        s.fies[7] = Some("dont_know");
        assert_eq!(s.raw_score(), None);
        s.fies[7] = None;
        assert_eq!(s.raw_score(), None);
        assert_eq!(kobo_time(SURVEYS_EPOCH), "2024-02-05T08:00:00");
    }
}
