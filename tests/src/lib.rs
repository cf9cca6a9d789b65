//! The partner simulator: serves the Cocagne gardens' HTTP JSON API (partners §1)
//! and the coalition's KoboToolbox survey API (§6, see [`kobo`])
//! deterministically from a seed, at any size, with the quirks and faults a connector
//! must survive. Tests start it in-process on port 0 with [`start`]; the `partner-sim`
//! binary serves the same thing to an out-of-process hub.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let sim = partner_sim::start(partner_sim::SimConfig::demo(42, 1_000)).await?;
//! let base = sim.base_url("lyon"); // GET {base}/api/v2/deliveries, Bearer token-lyon
//! let expected = sim.expected("lyon"); // what a correct hub stores and quarantines
//! # let _ = (base, expected);
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod data;
mod places;
mod server;

pub mod files;
pub mod kobo;
pub mod reader;

pub use server::{RunningSim, start, start_at};

/// What to serve. Everything the simulator produces follows from these fields alone.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    /// Deliveries per garden; each garden also has `size / 20 + 1` subscriptions.
    pub size: usize,
    pub gardens: Vec<Garden>,
    /// Requests per minute per garden; `None` is unlimited, 120 is the partner's.
    pub rate_limit_per_minute: Option<u32>,
    /// Items sharing one `updated_at` second, so that pages end inside ties (and
    /// survey submissions sharing one `_submission_time` second).
    pub ties: usize,
    /// Survey submissions per territory form (KoboToolbox, partners §6).
    pub surveys: usize,
}

impl SimConfig {
    /// The four gardens of the pilot territories, tokens `token-<id>`, no rate limit.
    pub fn demo(seed: u64, size: usize) -> Self {
        SimConfig {
            seed,
            size,
            gardens: Territory::ALL
                .iter()
                .map(|&t| Garden::new(t.id(), t))
                .collect(),
            rate_limit_per_minute: None,
            ties: 7,
            surveys: (size / 4 + 1).min(50_000),
        }
    }
}

/// One garden's API: served under `/<id>/api/v2/`, accepting only its own token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Garden {
    /// The URL segment, e.g. `lyon`.
    pub id: String,
    pub territory: Territory,
    pub token: String,
}

impl Garden {
    /// A garden whose token is `token-<id>`.
    pub fn new(id: &str, territory: Territory) -> Self {
        Garden {
            id: id.to_string(),
            territory,
            token: format!("token-{id}"),
        }
    }

    /// The site name the network gives the garden (`jardin-<id>`): the scope of its
    /// members' numbers in the hub's configuration and in the survey's `menage/site`.
    pub fn site(&self) -> String {
        format!("jardin-{}", self.id)
    }
}

/// The territory a garden works in; it decides the postcodes of its households.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Territory {
    Lyon,
    Toulouse,
    Montpellier,
    AixMarseille,
}

impl Territory {
    pub const ALL: [Territory; 4] = [
        Territory::Lyon,
        Territory::Toulouse,
        Territory::Montpellier,
        Territory::AixMarseille,
    ];

    /// `lyon`, `toulouse`, `montpellier`, `aix-marseille`.
    pub fn id(self) -> &'static str {
        match self {
            Territory::Lyon => "lyon",
            Territory::Toulouse => "toulouse",
            Territory::Montpellier => "montpellier",
            Territory::AixMarseille => "aix-marseille",
        }
    }

    /// The SIREN of the territory's EPCI (see `shared/data/README.md`).
    pub fn epci_siren(self) -> &'static str {
        match self {
            Territory::Lyon => "200046977",
            Territory::Toulouse => "243100518",
            Territory::Montpellier => "243400017",
            Territory::AixMarseille => "200054807",
        }
    }
}

impl fmt::Display for Territory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown territory `{0}` (expected lyon, toulouse, montpellier or aix-marseille)")]
pub struct UnknownTerritory(String);

impl FromStr for Territory {
    type Err = UnknownTerritory;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Territory::ALL
            .into_iter()
            .find(|t| t.id() == s)
            .ok_or_else(|| UnknownTerritory(s.to_string()))
    }
}

/// A misbehaviour of the partner's server, applied to API requests (never to
/// `/_control`). Counted faults apply that many times per garden, then the garden
/// answers normally again. As JSON: `{"kind": "server_error", "times": 2}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    #[default]
    None,
    /// `429` with `Retry-After: retry_after_secs`.
    TooManyRequests { retry_after_secs: u32, times: u32 },
    /// `500`; `times: None` is persistent.
    ServerError { times: Option<u32> },
    /// Sleeps before answering normally, until another fault is set.
    Slow { delay_ms: u64 },
    /// `200` whose JSON body is cut in the middle (Content-Length matches the cut).
    Truncated { times: Option<u32> },
    /// `200` with `text/html`, like a maintenance page in front of the API.
    WrongContentType { times: Option<u32> },
    /// `200` announcing the whole body's length, whose connection closes
    /// half-way through it.
    Cut { times: Option<u32> },
    /// `429` without `Retry-After`: the client chooses its own backoff.
    RateLimited { times: Option<u32> },
    /// `200` JSON with a byte that is not UTF-8 in its first string value.
    InvalidUtf8 { times: Option<u32> },
    /// The page asked for is answered as the first page, with the first
    /// page's next cursor: a client following cursors goes round in circles.
    RepeatCursor { times: Option<u32> },
}

/// What a correct connector and host must make of one garden's data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    pub subscriptions_total: usize,
    /// Reason → count; the rest of `subscriptions_total` must be stored.
    pub subscriptions_quarantined: BTreeMap<String, usize>,
    pub deliveries_total: usize,
    pub deliveries_quarantined: BTreeMap<String, usize>,
    /// Every non-empty `member_no` and every `member_name` served, deduplicated: none
    /// may appear in clear in the hub's database, logs or exports.
    pub raw_person_values: Vec<String>,
    /// Item id → quarantine reason, for every record that must be quarantined.
    pub quarantined_ids: BTreeMap<String, String>,
    /// Subscription id → the five-digit postcode its residence must resolve to, for the
    /// stored postcode quirks (`1000`, `69 008`, `… CEDEX`, city without postcode).
    pub normalised_postcodes: BTreeMap<String, String>,
}
