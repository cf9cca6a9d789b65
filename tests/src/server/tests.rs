//! The real server on 127.0.0.1:0, called over HTTP as a connector would.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::*;
use crate::{Garden, Territory};

fn config(seed: u64, size: usize) -> SimConfig {
    SimConfig {
        gardens: vec![
            Garden::new("lyon", Territory::Lyon),
            Garden::new("toulouse", Territory::Toulouse),
        ],
        ..SimConfig::demo(seed, size)
    }
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A plain-HTTP client. reqwest insists on a TLS provider even so: install ring once
/// (a second install in the same process fails harmlessly).
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// `path_and_query` is appended to the garden's base URL as is, so tests control the
/// exact encoding sent.
async fn get(sim: &RunningSim, garden: &str, path_and_query: &str, token: Option<&str>) -> Answer {
    let client = client();
    let mut request = client.get(format!("{}{path_and_query}", sim.base_url(garden)));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the simulator answers");
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.bytes().await.expect("a body").to_vec(),
    }
}

async fn get_ok(sim: &RunningSim, garden: &str, path_and_query: &str) -> Value {
    let answer = get(
        sim,
        garden,
        path_and_query,
        Some(&format!("token-{garden}")),
    )
    .await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    answer.json()
}

/// Follows cursors from `first_query` to the end.
async fn fetch_all(
    sim: &RunningSim,
    garden: &str,
    resource: &str,
    first_query: &str,
) -> Vec<Value> {
    let mut items = Vec::new();
    let mut query = first_query.to_string();
    loop {
        let page = get_ok(sim, garden, &format!("/api/v2/{resource}?{query}")).await;
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("{first_query}&cursor={cursor}"),
            None => return items,
        }
    }
}

fn instant(item: &Value) -> i64 {
    let text = item["updated_at"].as_str().expect("updated_at");
    OffsetDateTime::parse(text, &Rfc3339)
        .expect("RFC 3339")
        .unix_timestamp()
}

fn key(item: &Value) -> (i64, String) {
    (instant(item), item["id"].as_str().expect("id").to_string())
}

#[tokio::test]
async fn same_seed_serves_same_data_and_another_seed_does_not() {
    let a = start(config(11, 300)).await.unwrap();
    let b = start(config(11, 300)).await.unwrap();
    let c = start(config(12, 300)).await.unwrap();
    for garden in ["lyon", "toulouse"] {
        let served = fetch_all(&a, garden, "deliveries", "limit=500").await;
        assert_eq!(served, a.deliveries(garden));
        assert_eq!(
            served,
            fetch_all(&b, garden, "deliveries", "limit=500").await
        );
        assert_eq!(a.subscriptions(garden), b.subscriptions(garden));
        assert_eq!(a.expected(garden), b.expected(garden));
        assert_ne!(a.deliveries(garden), c.deliveries(garden));
    }
    // Gardens of one seed differ from each other too.
    assert_ne!(a.subscriptions("lyon"), a.subscriptions("toulouse"));
}

#[tokio::test]
async fn limit_3_pages_through_ties_once_each_in_keyset_order() {
    let sim = start(config(3, 100)).await.unwrap();
    for resource in ["deliveries", "subscriptions"] {
        let items = fetch_all(&sim, "lyon", resource, "limit=3").await;
        let keys: Vec<_> = items.iter().map(key).collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "{resource} out of order"
        );
        let ids: BTreeSet<_> = keys.iter().map(|k| k.1.clone()).collect();
        assert_eq!(ids.len(), items.len(), "{resource} repeated");
        let all = if resource == "deliveries" {
            sim.deliveries("lyon")
        } else {
            sim.subscriptions("lyon")
        };
        assert_eq!(items, all);
    }
    // The data really has ties of 7 rendered with different offsets.
    let items = sim.deliveries("lyon");
    let first_second: Vec<_> = items
        .iter()
        .filter(|i| instant(i) == instant(&items[0]))
        .collect();
    assert_eq!(first_second.len(), 7);
    let offsets: BTreeSet<_> = items
        .iter()
        .map(|i| i["updated_at"].as_str().unwrap()[19..].to_string())
        .collect();
    let all_offsets: BTreeSet<_> = ["Z", "+00:00", "+01:00", "+02:00"].map(String::from).into();
    assert_eq!(offsets, all_offsets);
}

#[tokio::test]
async fn updated_since_is_inclusive_however_the_offset_is_encoded() {
    let sim = start(config(5, 200)).await.unwrap();
    let all = sim.deliveries("lyon");
    let pivot = &all[50];
    let since = instant(pivot);
    let expected: Vec<_> = all
        .iter()
        .filter(|i| instant(i) >= since)
        .cloned()
        .collect();
    assert!(expected.len() < all.len() && expected.contains(pivot));
    // The same instant written three ways, sent encoded, raw (`+` becomes a space) and
    // with a space instead of `T`.
    let z = OffsetDateTime::from_unix_timestamp(since).unwrap();
    let plus2 = z.to_offset(time::macros::offset!(+2));
    let plus2 = plus2.format(&Rfc3339).unwrap();
    assert!(plus2.ends_with("+02:00"));
    for since in [
        z.format(&Rfc3339).unwrap(),
        plus2.replace('+', "%2B"),
        plus2.clone(),
        plus2.replace('T', "%20").replace('+', "%2B"),
    ] {
        let got = fetch_all(
            &sim,
            "lyon",
            "deliveries",
            &format!("updated_since={since}&limit=7"),
        )
        .await;
        assert_eq!(got, expected, "updated_since={since}");
    }
}

#[tokio::test]
async fn rejects_bad_tokens_and_bad_queries() {
    let sim = start(config(1, 50)).await.unwrap();
    let path = "/api/v2/deliveries";
    for token in [None, Some("nope"), Some("token-toulouse")] {
        let answer = get(&sim, "lyon", path, token).await;
        assert_eq!(answer.status, 401, "token {token:?}");
        assert!(answer.json()["error"].is_string());
    }
    for query in [
        "limit=0",
        "limit=501",
        "limit=abc",
        "cursor=zz",
        "updated_since=2024-01-01",
    ] {
        let answer = get(&sim, "lyon", &format!("{path}?{query}"), Some("token-lyon")).await;
        assert_eq!(answer.status, 400, "{query}");
        assert!(answer.json()["error"].is_string(), "{query}");
    }
    let page = get_ok(&sim, "lyon", &format!("{path}?limit=500")).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 50);
    assert!(page["next_cursor"].is_null());
    let page = get_ok(&sim, "lyon", path).await;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        50,
        "default limit 100"
    );
    assert_eq!(
        get(&sim, "paris", path, Some("token-paris")).await.status,
        404
    );
    let counts = sim.requests_by_status();
    assert_eq!(counts[&401], 3);
    assert_eq!(counts[&400], 5);
    assert_eq!(counts[&200], 2);
    assert_eq!(sim.requests_served(), 11);
}

#[tokio::test]
async fn answers_429_with_retry_after_past_the_rate_limit() {
    let sim = start(SimConfig {
        rate_limit_per_minute: Some(3),
        ..config(1, 20)
    })
    .await
    .unwrap();
    for _ in 0..3 {
        get_ok(&sim, "lyon", "/api/v2/subscriptions").await;
    }
    let answer = get(&sim, "lyon", "/api/v2/subscriptions", Some("token-lyon")).await;
    assert_eq!(answer.status, 429);
    let retry: u32 = answer.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    // The limit is per garden.
    get_ok(&sim, "toulouse", "/api/v2/subscriptions").await;
}

#[tokio::test]
async fn faults_apply_then_wear_off() {
    let sim = start(config(1, 30)).await.unwrap();
    let path = "/api/v2/deliveries";
    let token = Some("token-lyon");

    sim.set_fault(
        Some("lyon"),
        Fault::TooManyRequests {
            retry_after_secs: 7,
            times: 2,
        },
    );
    for _ in 0..2 {
        let answer = get(&sim, "lyon", path, token).await;
        assert_eq!(answer.status, 429);
        assert_eq!(answer.headers[header::RETRY_AFTER], "7");
    }
    assert_eq!(
        get(&sim, "toulouse", path, Some("token-toulouse"))
            .await
            .status,
        200
    );
    assert_eq!(get(&sim, "lyon", path, token).await.status, 200);

    sim.set_fault(None, Fault::ServerError { times: Some(1) });
    assert_eq!(get(&sim, "lyon", path, token).await.status, 500);
    assert_eq!(get(&sim, "lyon", path, token).await.status, 200);
    assert_eq!(
        get(&sim, "toulouse", path, Some("token-toulouse"))
            .await
            .status,
        500
    );

    sim.set_fault(Some("lyon"), Fault::ServerError { times: None });
    for _ in 0..3 {
        assert_eq!(get(&sim, "lyon", path, token).await.status, 500);
    }
    sim.set_fault(Some("lyon"), Fault::None);
    assert_eq!(get(&sim, "lyon", path, token).await.status, 200);

    sim.set_fault(Some("lyon"), Fault::Slow { delay_ms: 300 });
    let started = std::time::Instant::now();
    get_ok(&sim, "lyon", path).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    sim.set_fault(Some("lyon"), Fault::None);

    sim.set_fault(Some("lyon"), Fault::Truncated { times: Some(1) });
    let answer = get(&sim, "lyon", path, token).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        answer.headers[header::CONTENT_LENGTH],
        answer.body.len().to_string().as_str()
    );
    assert!(serde_json::from_slice::<Value>(&answer.body).is_err());
    assert!(answer.body.starts_with(b"{\"items\":["));
    get_ok(&sim, "lyon", path).await;

    sim.set_fault(Some("lyon"), Fault::WrongContentType { times: Some(1) });
    let answer = get(&sim, "lyon", path, token).await;
    assert_eq!(answer.status, 200);
    assert!(
        answer.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(answer.body.starts_with(b"<html>"));
    get_ok(&sim, "lyon", path).await;
}

#[tokio::test]
async fn control_endpoints_drive_an_out_of_process_simulator() {
    let sim = start(config(9, 100)).await.unwrap();
    let client = client();
    let control = format!("http://{}/_control", sim.addr());
    let response = client
        .post(format!("{control}/fault?garden=lyon"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(r#"{"kind":"server_error","times":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(
        get(&sim, "lyon", "/api/v2/deliveries", Some("token-lyon"))
            .await
            .status,
        500
    );

    let response = client
        .post(format!("{control}/change?garden=lyon&share=0.05"))
        .send()
        .await
        .unwrap();
    let changed: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(changed["changed"].as_array().unwrap().len(), 5);

    let response = client
        .get(format!("{control}/expected?garden=toulouse"))
        .send()
        .await
        .unwrap();
    let expected: Expected = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(expected, sim.expected("toulouse"));
    // Control requests are not API requests.
    assert_eq!(sim.requests_served(), 1);
}

#[tokio::test]
async fn change_share_moves_exactly_that_many_after_the_previous_maximum() {
    let sim = start(config(21, 200)).await.unwrap();
    let before = sim.deliveries("lyon");
    let previous_max = before.iter().map(instant).max().unwrap();

    let changed = sim.change_share("lyon", 0.05);
    assert_eq!(changed.len(), 10);
    let changed: BTreeSet<_> = changed.into_iter().collect();

    let since = OffsetDateTime::from_unix_timestamp(previous_max)
        .unwrap()
        .format(&Rfc3339)
        .unwrap();
    let recent = fetch_all(
        &sim,
        "lyon",
        "deliveries",
        &format!("updated_since={since}&limit=3"),
    )
    .await;
    let after_max: BTreeSet<_> = recent
        .iter()
        .filter(|i| instant(i) > previous_max)
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(after_max, changed);

    let before: BTreeMap<_, _> = before.iter().map(|i| (i["id"].to_string(), i)).collect();
    let after = sim.deliveries("lyon");
    assert_eq!(after.len(), before.len());
    let mut differing = BTreeSet::new();
    for item in &after {
        let old = before[&item["id"].to_string()];
        if old != item {
            assert_ne!(old["status"], item["status"]);
            assert_ne!(old["basket_kg"], item["basket_kg"]);
            differing.insert(item["id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(differing, changed);

    // A second change picks another deterministic set, still after everything.
    let again = sim.change_share("lyon", 0.01);
    assert_eq!(again.len(), 2);
    let last: Vec<_> = sim
        .deliveries("lyon")
        .iter()
        .rev()
        .take(2)
        .map(key)
        .collect();
    assert!(
        last.iter()
            .all(|(at, id)| *at > previous_max && again.contains(id))
    );
}

#[tokio::test]
async fn a_cursor_survives_a_change() {
    let sim = start(config(4, 100)).await.unwrap();
    let page = get_ok(&sim, "lyon", "/api/v2/deliveries?limit=40").await;
    let seen: Vec<Value> = page["items"].as_array().unwrap().clone();
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let changed = sim.change_share("lyon", 0.3);
    let rest = fetch_all(
        &sim,
        "lyon",
        "deliveries",
        &format!("limit=40&cursor={cursor}"),
    )
    .await;
    // Every item is seen at least once; the changed ones come again at the end.
    let mut ids: BTreeSet<_> = seen
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    ids.extend(rest.iter().map(|i| i["id"].as_str().unwrap().to_string()));
    assert_eq!(ids.len(), 100);
    let tail: BTreeSet<_> = rest[rest.len() - changed.len()..]
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(tail, changed.into_iter().collect());
}

#[tokio::test]
async fn expected_matches_the_data() {
    let sim = start(config(8, 2_000)).await.unwrap();
    for garden in ["lyon", "toulouse"] {
        let expected = sim.expected(garden);
        let subscriptions = sim.subscriptions(garden);
        let deliveries = sim.deliveries(garden);
        assert_eq!(expected.subscriptions_total, subscriptions.len());
        assert_eq!(subscriptions.len(), 2_000 / 20 + 1);
        assert_eq!(expected.deliveries_total, deliveries.len());

        let count =
            |items: &[Value], f: &dyn Fn(&Value) -> bool| items.iter().filter(|i| f(i)).count();
        let reasons = &expected.subscriptions_quarantined;
        assert_eq!(
            reasons["missing_required"],
            count(&subscriptions, &|s| s["member_no"] == "")
        );
        assert_eq!(
            reasons["invalid_amount"],
            count(&subscriptions, &|s| s["price_eur"] == "douze")
        );
        assert_eq!(
            reasons["invalid_date"],
            count(&subscriptions, &|s| s["start"] == "2024-02-31")
        );
        assert_eq!(
            reasons["unknown_postcode"],
            count(&subscriptions, &|s| s["postcode"] == "99999")
        );
        let ambiguous = count(&subscriptions, &|s| {
            s["postcode"] == "" && ["Saint-Denis", "Valence"].contains(&s["city"].as_str().unwrap())
        });
        assert_eq!(reasons["unresolved_location"], ambiguous);
        assert!(reasons.values().all(|&n| n >= 1));
        assert_eq!(
            reasons.values().sum::<usize>(),
            expected
                .quarantined_ids
                .keys()
                .filter(|id| id.starts_with("SUB"))
                .count()
        );

        let negative = count(&deliveries, &|d| {
            d["basket_kg"].as_f64().is_some_and(|kg| kg < 0.0)
        });
        assert_eq!(negative, 10);
        assert_eq!(
            expected.deliveries_quarantined["invalid_quantity"],
            negative
        );
        for d in &deliveries {
            let quarantined = expected
                .quarantined_ids
                .contains_key(d["id"].as_str().unwrap());
            assert_eq!(
                quarantined,
                d["basket_kg"].as_f64().is_some_and(|kg| kg < 0.0)
            );
        }

        // Stored quirks: every normalised postcode belongs to a record with a quirk.
        let lost_zero = count(&subscriptions, &|s| s["postcode"] == "1000");
        assert!(lost_zero >= 1);
        assert!(
            subscriptions
                .iter()
                .any(|s| s["postcode"].as_str().unwrap().ends_with(" CEDEX"))
        );
        assert!(
            subscriptions
                .iter()
                .any(|s| s["postcode"].as_str().unwrap().contains(' ')
                    && !s["postcode"].as_str().unwrap().contains("CEDEX"))
        );
        for s in &subscriptions {
            let id = s["id"].as_str().unwrap();
            let postcode = s["postcode"].as_str().unwrap();
            match expected.normalised_postcodes.get(id) {
                Some(p) => assert!(
                    postcode.is_empty()
                        || postcode
                            .replace(' ', "")
                            .starts_with(p.trim_start_matches('0'))
                ),
                None => assert!(expected.quarantined_ids.contains_key(id) || postcode.len() == 5),
            }
            for field in ["member_no", "member_name"] {
                let value = s[field].as_str().unwrap();
                assert!(value.is_empty() || expected.raw_person_values.iter().any(|v| v == value));
            }
        }
        // Shapes that connectors rely on.
        let s = &subscriptions[0];
        for field in [
            "household_size",
            "solidarity",
            "formula",
            "reference_price_eur",
            "prescriber",
            "end",
            "drop_point",
        ] {
            assert!(s.get(field).is_some(), "{field}");
        }
        let d = &deliveries[0];
        let week = d["week"].as_str().unwrap();
        assert!(week.len() == 8 && &week[4..6] == "-W", "{week}");
        assert!(["collected", "absent", "postponed"].contains(&d["status"].as_str().unwrap()));
    }
}

#[tokio::test]
async fn serves_a_large_garden_quickly() {
    // Guards the benchmark's needs in a debug build: generation and a deep page stay cheap.
    let started = std::time::Instant::now();
    let sim = start(SimConfig {
        gardens: vec![Garden::new("lyon", Territory::Lyon)],
        ..SimConfig::demo(1, 200_000)
    })
    .await
    .unwrap();
    let page = get_ok(
        &sim,
        "lyon",
        "/api/v2/deliveries?limit=500&updated_since=2024-01-25T00:00:00Z",
    )
    .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 500);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

/// A KoboToolbox data request, `url` absolute (as `next` gives it).
async fn kobo_get(url: &str, token: &str) -> Answer {
    let response = client()
        .get(url)
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .expect("the simulator answers");
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.bytes().await.expect("a body").to_vec(),
    }
}

#[tokio::test]
async fn kobo_pages_through_next_caps_the_limit_and_filters_as_text() {
    let sim = start(SimConfig {
        // 357 seconds of 7 submissions each: the last second is shared.
        surveys: 2_499,
        ..config(3, 100)
    })
    .await
    .unwrap();
    let data = format!(
        "{}/api/v2/assets/{}/data/",
        sim.kobo_url(),
        crate::kobo::asset_uid(Territory::Lyon)
    );
    assert_eq!(kobo_get(&data, "wrong").await.status, 401);
    let missing = format!("{}/api/v2/assets/nope/data/", sim.kobo_url());
    assert_eq!(
        kobo_get(&missing, crate::kobo::KOBO_TOKEN).await.status,
        404
    );

    // `limit=5000` is served as 1000 a page; `next` leads through all of them.
    let mut url = format!("{data}?format=json&limit=5000");
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        let page = kobo_get(&url, crate::kobo::KOBO_TOKEN).await.json();
        assert_eq!(page["count"], 2_499);
        let results = page["results"].as_array().unwrap();
        assert!(results.len() <= 1000);
        ids.extend(results.iter().map(|r| r["_id"].as_u64().unwrap()));
        pages += 1;
        match page["next"].as_str() {
            Some(next) => {
                assert!(next.contains("limit=1000"), "{next}");
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(ids.len(), 2_499);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "results in `_id` order"
    );

    // `$gt` on the last second misses nothing only if nothing arrives in it later.
    let all = sim.kobo_results(Territory::Lyon);
    let last = all
        .iter()
        .filter_map(|r| r["_submission_time"].as_str())
        .max()
        .unwrap()
        .to_string();
    let tied = all
        .iter()
        .filter(|r| r["_submission_time"] == last.as_str())
        .count();
    assert!(tied > 1, "several submissions share the last second");
    let query = |op: &str, bound: &str| {
        let filter = format!(r#"{{"_submission_time":{{"{op}":"{bound}"}}}}"#);
        format!(
            "{data}?format=json&query={}",
            crate::server::form_encode(&filter)
        )
    };
    let count = |url: String| async move {
        kobo_get(&url, crate::kobo::KOBO_TOKEN).await.json()["count"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(count(query("$gt", &last)).await, 0);
    assert_eq!(count(query("$gte", &last)).await, tied as u64);
    // Compared as text: a bound with `Z` sorts after the plain second.
    assert_eq!(count(query("$gte", &format!("{last}Z"))).await, 0);
    let id = sim.kobo_add_in_last_second(Territory::Lyon).unwrap();
    assert_eq!(count(query("$gte", &last)).await, tied as u64 + 1);
    assert_eq!(sim.kobo_expected(Territory::Lyon).total, 2_500);
    assert!(
        sim.kobo_results(Territory::Lyon)
            .iter()
            .any(|r| r["_id"] == id)
    );
    assert_eq!(
        kobo_get(&format!("{data}?query=%7B"), crate::kobo::KOBO_TOKEN)
            .await
            .status,
        400
    );
}
