//! Partner faults inside a response: a `200` whose JSON breaks off, or
//! whose connection closes half-way through the announced body. The host
//! retries them within the run, within the budget, like a 5xx; a partner
//! that keeps breaking off fails the run with a report, and the next run
//! resumes: nothing lost, nothing doubled.

use partner_sim::Fault;
use vivres::warehouse::RunStatus;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_that_break_off_are_retried_within_the_run() {
    let setup = || Setup {
        size: 1_000,
        page_size: 100,
        http_max_retries: 3,
        ..Setup::default()
    };
    let t = TestHub::start(setup()).await;
    let exp = t.sim.expected("lyon");

    // Two answers whose JSON is cut short: retried, the run completes.
    t.sim.set_fault(None, Fault::Truncated { times: Some(2) });
    let first = t.sync("cocagne-lyon").await;
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.error);
    assert_eq!(
        t.count("distributions").await,
        stored(exp.deliveries_total, &exp.deliveries_quarantined)
    );
    let http = t.hub.warehouse.run_http(first.id).await.unwrap();
    assert!(http.retries >= 2, "{http:?}");

    // Two connections closed half-way through the body: the same.
    let changed = t.sim.change_share("lyon", 0.1);
    t.sim.set_fault(None, Fault::Cut { times: Some(2) });
    let second = t.sync("cocagne-lyon").await;
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.error);
    let valid = |ids: &[String]| {
        ids.iter()
            .filter(|id| !exp.quarantined_ids.contains_key(*id))
            .count() as u64
    };
    assert_eq!(second.counts.updated, valid(&changed));

    // A partner that always breaks off: the run fails, and says why.
    let changed = t.sim.change_share("lyon", 0.1);
    t.sim.set_fault(None, Fault::Cut { times: None });
    let failed = t.sync("cocagne-lyon").await;
    assert_eq!(failed.status, RunStatus::Failed);
    let message = failed.error.clone().unwrap_or_default();
    assert!(
        message.contains("partner") || message.contains("http"),
        "{message}"
    );

    // It recovers: the next run resumes and gets every change, once.
    t.sim.set_fault(None, Fault::None);
    let next = t.sync("cocagne-lyon").await;
    assert_eq!(next.status, RunStatus::Succeeded, "{:?}", next.error);
    assert_eq!(next.counts.updated, valid(&changed));

    // Updates replaced rows: none added, none lost.
    assert_eq!(
        t.count("distributions").await,
        stored(exp.deliveries_total, &exp.deliveries_quarantined)
    );
}

/// Every fault the simulator can play, one after the other on one source:
/// each is retried and the run completes, or the run fails with a report
/// that says what happened; either way the next run (the partner well
/// again) resumes, and the warehouse ends exactly as the partner's data:
/// nothing lost, nothing doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_partner_fault_is_survived_nothing_lost_nothing_doubled() {
    let t = TestHub::start(Setup {
        size: 600,
        // Small pages: every step's changes span several of them.
        page_size: 10,
        http_max_retries: 3,
        extra_limits: "http_timeout_seconds = 1\nmax_idle_batches = 4".to_string(),
        ..Setup::default()
    })
    .await;
    let exp = t.sim.expected("lyon");
    // (fault, does the run complete despite it, what a failed run's report says)
    let faults: Vec<(&str, Fault, bool, &[&str])> = vec![
        (
            "429 with Retry-After",
            Fault::TooManyRequests {
                retry_after_secs: 1,
                times: 2,
            },
            true,
            &[],
        ),
        (
            "429 without Retry-After",
            Fault::RateLimited { times: Some(2) },
            true,
            &[],
        ),
        (
            "a burst of 5xx",
            Fault::ServerError { times: Some(3) },
            true,
            &[],
        ),
        (
            "JSON cut short",
            Fault::Truncated { times: Some(2) },
            true,
            &[],
        ),
        (
            "a connection reset half-way",
            Fault::Cut { times: Some(2) },
            true,
            &[],
        ),
        (
            "a partner that keeps failing",
            Fault::ServerError { times: None },
            false,
            &["500"],
        ),
        (
            "timeouts",
            Fault::Slow { delay_ms: 1_500 },
            false,
            &["timed out", "timeout"],
        ),
        (
            "a maintenance page instead of JSON",
            Fault::WrongContentType { times: None },
            false,
            &["text/html", "JSON", "json"],
        ),
        (
            "invalid UTF-8",
            Fault::InvalidUtf8 { times: None },
            false,
            &["not valid JSON"],
        ),
        (
            "a repeating cursor",
            Fault::RepeatCursor { times: None },
            false,
            &["not advancing"],
        ),
    ];
    let first = t.sync("cocagne-lyon").await;
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.error);
    let mut survived = 0;
    for (name, fault, completes, says) in &faults {
        // Something new at the partner each time, to be read once.
        let changed = t.sim.change_share("lyon", 0.05);
        let expected_updates = changed
            .iter()
            .filter(|id| !exp.quarantined_ids.contains_key(*id))
            .count() as u64;
        t.sim.set_fault(None, fault.clone());
        let run = t.sync("cocagne-lyon").await;
        t.sim.set_fault(None, Fault::None);
        let updated = if *completes {
            assert_eq!(run.status, RunStatus::Succeeded, "{name}: {:?}", run.error);
            run.counts.updated
        } else {
            assert_eq!(run.status, RunStatus::Failed, "{name}: a failure expected");
            let message = run.error.clone().unwrap_or_default();
            assert!(
                says.iter().any(|s| message.contains(s)),
                "{name}: the report says {message:?}, not one of {says:?}"
            );
            assert!(!message.contains("/tmp/"), "{name}: {message}");
            // The next run, the partner well again, resumes and gets the rest.
            let next = t.sync("cocagne-lyon").await;
            assert_eq!(
                next.status,
                RunStatus::Succeeded,
                "{name}: {:?}",
                next.error
            );
            run.counts.updated + next.counts.updated
        };
        assert_eq!(updated, expected_updates, "{name}: every change read once");
        assert_eq!(
            t.count("distributions").await,
            stored(exp.deliveries_total, &exp.deliveries_quarantined),
            "{name}: nothing lost, nothing doubled"
        );
        assert_eq!(
            t.count("households").await,
            stored(exp.subscriptions_total, &exp.subscriptions_quarantined),
            "{name}"
        );
        survived += 1;
    }
    eprintln!("partner faults survived: {survived} of {}", faults.len());
}
