//! Incremental reads on `updated_at`, one API page per batch.
//!
//! The API orders items by `(updated_at, id)` and reads `updated_since`
//! inclusively. While paginating, `updated_since` stays fixed and the opaque
//! cursor moves; after the last page `updated_since` becomes the latest
//! `updated_at` seen (compared as instants, not strings). Items at that very
//! instant are read again by the next sync: the hub's upsert on `id` finds
//! them unchanged, and an item updated in the same second is never lost.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vivres_sdk::fr::parse_rfc3339;
use vivres_sdk::http::{self, Request};
use vivres_sdk::model::{Batch, ConnectorError};
use vivres_sdk::{log, state};

use crate::config::Config;
use crate::mapping;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Subscriptions,
    Deliveries,
}

impl Stream {
    pub fn from_name(name: &str) -> Result<Self, ConnectorError> {
        match name {
            "subscriptions" => Ok(Stream::Subscriptions),
            "deliveries" => Ok(Stream::Deliveries),
            other => Err(ConnectorError::bad_config(format!(
                "unknown stream `{other}` (this connector offers subscriptions and deliveries)"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Stream::Subscriptions => "subscriptions",
            Stream::Deliveries => "deliveries",
        }
    }
}

/// The checkpoint of one stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// `updated_since` of the sync under way, as the partner wrote it.
    pub updated_since: Option<String>,
    /// The next page of the sync under way, exactly as received.
    pub cursor: Option<String>,
    /// The latest `updated_at` read so far, as the partner wrote it.
    pub max_seen: Option<String>,
}

/// One page of the API.
#[derive(Debug, Deserialize)]
pub struct Page {
    pub items: Vec<Value>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

pub fn page_request(
    config: &Config,
    stream: Stream,
    state: &State,
    token: &str,
    limit: u32,
) -> Request {
    let url = http::join(&config.base_url, &format!("api/v2/{}", stream.name()));
    Request::get(url)
        .query_opt("updated_since", state.updated_since.as_deref())
        .query_opt("cursor", state.cursor.as_deref())
        .query("limit", limit.to_string())
        .bearer(token)
        .header("Accept", "application/json")
}

/// The later of two `updated_at` strings, by instant; an unreadable one loses.
fn later(a: Option<String>, b: Option<String>) -> Option<String> {
    let instant = |s: &Option<String>| s.as_deref().and_then(|s| parse_rfc3339(s).ok());
    match (instant(&a), instant(&b)) {
        (Some(x), Some(y)) => {
            if y > x {
                b
            } else {
                a
            }
        }
        (Some(_), None) => a,
        (None, Some(_)) => b,
        (None, None) => a.or(b),
    }
}

/// Maps a page into a batch and moves the checkpoint.
pub fn next_batch(
    garden: &str,
    stream: Stream,
    state: &State,
    page: Page,
) -> Result<Batch, ConnectorError> {
    let mut batch = Batch::new();
    let mut max_seen = state.max_seen.clone();
    let mut unreadable_updated_at = 0usize;
    for item in &page.items {
        let updated_at = item.get("updated_at").and_then(Value::as_str);
        match updated_at.map(parse_rfc3339) {
            Some(Ok(_)) => max_seen = later(max_seen, updated_at.map(str::to_string)),
            _ => unreadable_updated_at += 1,
        }
        let mapped = match stream {
            Stream::Subscriptions => mapping::subscription(garden, item),
            Stream::Deliveries => mapping::delivery(garden, item),
        };
        match mapped {
            Ok(i) => batch.items.push(i),
            Err(r) => batch.rejects.push(*r),
        }
    }
    if unreadable_updated_at > 0 {
        log::warn(format!(
            "{}: {unreadable_updated_at} items without a readable updated_at (read, but they do not move the checkpoint)",
            stream.name()
        ));
    }
    let next = match page.next_cursor.filter(|c| !c.is_empty()) {
        Some(cursor) => {
            batch.more = true;
            State {
                updated_since: state.updated_since.clone(),
                cursor: Some(cursor),
                max_seen,
            }
        }
        None => State {
            updated_since: later(state.updated_since.clone(), max_seen.clone()),
            cursor: None,
            max_seen,
        },
    };
    batch.state = Some(state::save(&next)?);
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn delivery(id: &str, updated_at: &str) -> Value {
        json!({"id": id, "subscription_id": "SUB-1", "week": "2024-W12", "status": "collected",
               "basket_kg": 4.5, "contents": "Carottes 1kg", "updated_at": updated_at})
    }

    fn state_of(batch: &Batch) -> State {
        serde_json::from_str(batch.state.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn paginates_with_a_fixed_since_then_moves_it_to_the_max_instant() {
        let start = State {
            updated_since: Some("2024-03-01T00:00:00Z".into()),
            ..State::default()
        };
        // The page's string order is not its instant order: +02:00 is earlier.
        let page = Page {
            items: vec![
                delivery("D1", "2024-03-18T09:30:00+00:00"),
                delivery("D2", "2024-03-18T11:00:00+02:00"),
            ],
            next_cursor: Some("p2".into()),
        };
        let b1 = next_batch("g1", Stream::Deliveries, &start, page).unwrap();
        assert!(b1.more);
        assert_eq!(b1.items.len(), 2);
        let s1 = state_of(&b1);
        assert_eq!(s1.updated_since.as_deref(), Some("2024-03-01T00:00:00Z"));
        assert_eq!(s1.cursor.as_deref(), Some("p2"));
        assert_eq!(s1.max_seen.as_deref(), Some("2024-03-18T09:30:00+00:00"));

        let page = Page {
            items: vec![delivery("D3", "2024-03-18T10:30:00+01:00")],
            next_cursor: None,
        };
        let b2 = next_batch("g1", Stream::Deliveries, &s1, page).unwrap();
        assert!(!b2.more);
        let s2 = state_of(&b2);
        assert_eq!(s2.cursor, None);
        // 10:30+01:00 is 09:30Z, the same instant: the first string is kept.
        assert_eq!(
            s2.updated_since.as_deref(),
            Some("2024-03-18T09:30:00+00:00")
        );

        // Next sync: nothing new, an empty last page keeps the boundary.
        let b3 = next_batch(
            "g1",
            Stream::Deliveries,
            &s2,
            Page {
                items: vec![],
                next_cursor: None,
            },
        )
        .unwrap();
        assert!(!b3.more);
        assert_eq!(state_of(&b3), s2);
    }

    #[test]
    fn first_sync_of_an_empty_partner() {
        let b = next_batch(
            "g1",
            Stream::Subscriptions,
            &State::default(),
            Page {
                items: vec![],
                next_cursor: None,
            },
        )
        .unwrap();
        assert!(!b.more);
        assert_eq!(state_of(&b), State::default());
    }

    #[test]
    fn rejected_items_still_move_the_checkpoint_and_unreadable_instants_do_not() {
        let mut bad = delivery("D9", "2024-04-01T08:00:00Z");
        bad["week"] = json!("2024-W60");
        let page = Page {
            items: vec![
                bad,
                delivery("D10", "not a time"),
                delivery("D11", "2024-03-01T08:00:00Z"),
            ],
            next_cursor: Some(String::new()),
        };
        let b = next_batch("g1", Stream::Deliveries, &State::default(), page).unwrap();
        assert_eq!((b.items.len(), b.rejects.len(), b.more), (2, 1, false));
        assert_eq!(
            state_of(&b).updated_since.as_deref(),
            Some("2024-04-01T08:00:00Z")
        );
    }

    #[test]
    fn later_compares_instants() {
        let l = later(
            Some("2024-03-18T10:00:00+02:00".into()),
            Some("2024-03-18T09:00:00Z".into()),
        );
        assert_eq!(l.as_deref(), Some("2024-03-18T09:00:00Z"));
        assert_eq!(later(None, Some("x".into())).as_deref(), Some("x"));
        let l = later(Some("garbage".into()), Some("2024-03-18T09:00:00Z".into()));
        assert_eq!(l.as_deref(), Some("2024-03-18T09:00:00Z"));
    }

    #[test]
    fn unknown_stream() {
        assert!(matches!(
            Stream::from_name("members"),
            Err(ConnectorError::BadConfig(_))
        ));
    }
}
