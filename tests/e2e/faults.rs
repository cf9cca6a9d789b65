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
