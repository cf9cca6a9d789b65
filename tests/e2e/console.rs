//! The web console in a real browser: headless Chromium, driven through
//! chromedriver (fantoccini), against a hub served by `vivres serve`'s own
//! `launch` on 127.0.0.1, with tokens made by the `vivres` binary. Needs the
//! Debian packages `chromium` and `chromium-driver` (`cargo xtask test`
//! installs them). Screenshots of the main pages go to
//! `target/console-screenshots/` for a person to look at.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::json;
use tokio::sync::oneshot;
use vivres::auth::{Role, create};
use vivres::serve::{ServeSettings, launch};
use vivres::warehouse::RunStatus;

use crate::helpers::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Upper bound of any wait for the browser or a sync (never a timing assertion).
const PATIENCE: Duration = Duration::from_secs(120);

/// Lyon's file source and Toulouse's API source, beside the default `cocagne-lyon`.
const SOURCES: &str = r#"
[[sources]]
id = "secours-lyon"
connector = "secours-catholique-aid"
network = "secours-catholique"
territory = "lyon"
inbox = true

[[territories]]
id = "toulouse"
name = "Toulouse Métropole"
epci = ["243100518"]

[[sources]]
id = "cocagne-toulouse"
connector = "cocagne-gardens"
network = "cocagne"
territory = "toulouse"
inbox = true
allowed_hosts = ["${SIMULATOR}"]
[sources.config]
base_url = "http://${SIMULATOR}/toulouse"
token_secret = "api_token"
garden = "jardin-toulouse"
[sources.secrets]
api_token = { value = "token-toulouse" }
"#;

/// chromedriver and the headless Chromium it drives.
struct Browser {
    driver: Child,
    client: Option<Client>,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: the console's browser tests need Debian's `chromium` and \
                 `chromium-driver` (`cargo xtask test` installs them; or apt-get install -y chromium chromium-driver)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let ready = tokio::time::timeout(PATIENCE, async {
            while http.get(format!("{url}/status")).send().await.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        let profile = tempfile::tempdir().expect("profile dir");
        let mut browser = Browser {
            driver,
            client: None,
            _profile: profile,
        };
        assert!(ready.is_ok(), "chromedriver answers");
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1280,1000".into(),
            "--lang=fr-FR".into(),
            format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let caps = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": args,
                "prefs": { "intl.accept_languages": "fr-FR,fr" },
            }
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("a Chromium session");
        browser.client = Some(client);
        browser
    }

    fn c(&self) -> &Client {
        self.client.as_ref().expect("session")
    }

    async fn goto(&self, url: &str) {
        self.c().goto(url).await.expect("navigates");
    }

    async fn path(&self) -> String {
        self.c()
            .current_url()
            .await
            .expect("url")
            .path()
            .to_string()
    }

    async fn text(&self, css: &str) -> String {
        self.wait(css).await.text().await.expect("text")
    }

    async fn wait(&self, css: &str) -> fantoccini::elements::Element {
        self.c()
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
    }

    /// Waits until the element's text holds `needle` (the page may reload first).
    async fn wait_text(&self, css: &str, needle: &str) -> String {
        let found = tokio::time::timeout(PATIENCE, async {
            loop {
                if let Ok(e) = self.c().find(Locator::Css(css)).await
                    && let Ok(text) = e.text().await
                    && text.contains(needle)
                {
                    return text;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("{css} never said `{needle}`"))
    }

    /// Opens an indicators page, again until its cells are fresh (the
    /// computation a run started may still be under way).
    async fn fresh(&self, url: &str) {
        let done = tokio::time::timeout(PATIENCE, async {
            loop {
                self.goto(url).await;
                let source = self.body().await;
                if source.contains("id=\"indicators\"") && !source.contains("id=\"stale\"") {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
        .await;
        assert!(done.is_ok(), "{url} never showed fresh indicators");
    }

    /// The `textContent` of an element (SVG text included).
    async fn text_content(&self, css: &str) -> String {
        self.wait(css).await;
        let v = self
            .c()
            .execute(
                "return document.querySelector(arguments[0]).textContent;",
                vec![json!(css)],
            )
            .await
            .expect("script runs");
        v.as_str().unwrap_or_default().to_string()
    }

    async fn click(&self, css: &str) {
        self.wait(css).await.click().await.expect("click");
    }

    async fn fill(&self, css: &str, text: &str) {
        self.wait(css).await.send_keys(text).await.expect("typed");
    }

    async fn body(&self) -> String {
        self.c().source().await.expect("page source")
    }

    /// The CSRF token of the page's forms.
    async fn csrf(&self) -> String {
        self.wait("input[name=csrf]")
            .await
            .attr("value")
            .await
            .expect("attr")
            .expect("a csrf value")
    }

    /// `fetch` from the page: the response's status (redirects not followed).
    async fn post(&self, path: &str, body: &str) -> u16 {
        let script = "const [p, b] = arguments; return fetch(p, {method: 'POST', redirect: 'manual', \
             headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: b, credentials: 'same-origin'}) \
             .then(r => r.type === 'opaqueredirect' ? 303 : r.status);";
        let v = self
            .c()
            .execute(script, vec![json!(path), json!(body)])
            .await
            .expect("script runs");
        v.as_u64().expect("a status") as u16
    }

    /// The session cookie's value.
    async fn session(&self) -> String {
        self.c()
            .get_named_cookie("vivres_session")
            .await
            .expect("signed in")
            .value()
            .to_string()
    }

    async fn screenshot(&self, name: &str) {
        let png = self.c().screenshot().await.expect("screenshot");
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
    }

    async fn sign_in(&self, base: &str, token: &str) {
        self.goto(&format!("{base}/sign-in")).await;
        self.fill("#token", token).await;
        self.click("form[action='/sign-in'] button[type=submit]")
            .await;
        self.wait("header nav").await;
    }

    async fn sign_out(&self) {
        self.click("form[action='/sign-out'] button").await;
        self.wait("#token").await;
    }

    async fn finish(mut self) {
        if let Some(c) = self.client.take() {
            let _ = c.close().await;
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots")
}

/// The id at the end of `/runs/{id}`.
fn run_id(path: &str) -> i64 {
    path.rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a run page: {path}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_browser() {
    let t = TestHub::start(Setup {
        size: 300,
        extra_sources: SOURCES.to_string(),
        ..Setup::default()
    })
    .await;
    let files = tempfile::tempdir().unwrap();
    let set = partner_sim::files::secours::write(files.path(), 5, 200).expect("files");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let TestHub {
        db: _db,
        dir: _dir,
        sim: _sim,
        hub,
        config_path,
        vars,
    } = t;
    let hub = Arc::new(hub);
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(launch(
        hub.clone(),
        ServeSettings::default(),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    let t = TokenMaker { config_path, vars };
    let (lyon, _) = t.token_with_link(&base, "camille", "lyon");
    let (_, toulouse_link) = t.token_with_link(&base, "dominique", "toulouse");
    let admin = create(&hub.warehouse, "ada", &Role::Admin)
        .await
        .expect("token");
    let evaluator = create(&hub.warehouse, "eve", &Role::Evaluator)
        .await
        .expect("token");

    let b = Browser::start().await;

    // Signing in: the form, then the coordinator's sources, Lyon's only.
    b.goto(&format!("{base}/sources")).await;
    assert_eq!(b.path().await, "/sign-in");
    b.screenshot("sign-in").await;
    b.fill("#token", "vvr_not-a-token").await;
    b.click("form[action='/sign-in'] button[type=submit]").await;
    b.wait_text("#sign-in-error", "pas reconnu").await;
    b.fill("#token", &lyon).await;
    b.click("form[action='/sign-in'] button[type=submit]").await;
    b.wait("#sources").await;
    assert_eq!(b.path().await, "/sources");
    let listed = b.text("#sources").await;
    assert!(listed.contains("secours-lyon") && listed.contains("cocagne-lyon"));
    assert!(!listed.contains("cocagne-toulouse"), "{listed}");
    let cookies = b.c().get_all_cookies().await.expect("cookies");
    let session = cookies
        .iter()
        .find(|c| c.name() == "vivres_session")
        .expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");
    let session_value = session.value().to_string();
    b.screenshot("sources").await;

    // Upload a partner file, twice: the second time it is already there.
    b.goto(&format!("{base}/sources/secours-lyon")).await;
    let file = &set.files[0];
    b.fill("#file", &file.display().to_string()).await;
    b.click("#upload button[type=submit]").await;
    b.wait_text("#upload-status.stored", "fichier reçu").await;
    b.fill("#file", &file.display().to_string()).await;
    b.click("#upload button[type=submit]").await;
    b.wait_text("#upload-status.duplicate", "déjà reçu").await;
    b.screenshot("source").await;

    // Sync it: the run page follows it to its end.
    b.goto(&format!("{base}/sources/secours-lyon")).await;
    b.click("form[action='/sources/secours-lyon/sync'] button")
        .await;
    b.wait("#live").await;
    let run = run_id(&b.path().await);
    b.wait("#live[data-status=succeeded]").await;
    let report = hub.warehouse.run(run).await.expect("run");
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert!(report.counts.quarantined > 0, "the file has refused lines");
    let read = b.text("[data-field=read]").await;
    assert_eq!(read.replace('\u{202f}', ""), report.counts.read.to_string());
    // The refused lines, one row each, in plain French, without a personal value.
    let rows = b
        .c()
        .find_all(Locator::Css("#refusals tbody tr"))
        .await
        .expect("rows");
    let entries = hub
        .warehouse
        .quarantine(Some("secours-lyon"), Some(run), 10_000)
        .await
        .expect("entries");
    assert!(!entries.is_empty());
    assert_eq!(rows.len(), entries.len());
    let refusals = b.text("#refusals").await;
    assert!(refusals.contains("code postal inconnu"), "{refusals}");
    assert!(refusals.contains("corriger le code postal"), "{refusals}");
    assert!(refusals.contains(file.file_name().unwrap().to_str().unwrap()));
    let page = b.body().await;
    for value in &set.raw_person_values {
        assert!(
            !page.contains(value.as_str()),
            "a personal value on the run page"
        );
    }
    b.screenshot("run").await;

    // "Relire": a replay run, followed to its end too.
    b.goto(&format!("{base}/sources/secours-lyon")).await;
    b.click("form[action='/sources/secours-lyon/replay'] button")
        .await;
    b.wait("#live[data-status=succeeded]").await;
    let replay = run_id(&b.path().await);
    assert!(replay > run);
    assert!(hub.warehouse.run(replay).await.expect("run").full_refresh);

    // English on request, then back to French.
    b.click("a[lang=en]").await;
    b.wait("html[lang=en]").await;
    b.wait_text("header nav", "My sources").await;
    b.click("a[lang=fr]").await;
    b.wait("html[lang=fr]").await;

    // A POST without the CSRF token is refused, and changes nothing.
    let runs_before = hub
        .warehouse
        .runs(Some("cocagne-lyon"), 100)
        .await
        .unwrap()
        .len();
    assert_eq!(b.post("/sources/cocagne-lyon/sync", "").await, 403);
    assert_eq!(b.post("/sources/cocagne-lyon/sync", "csrf=0000").await, 403);
    assert_eq!(
        hub.warehouse
            .runs(Some("cocagne-lyon"), 100)
            .await
            .unwrap()
            .len(),
        runs_before
    );
    let csrf = b.csrf().await;
    assert_eq!(
        b.post("/sources/cocagne-lyon/sync", &format!("csrf={csrf}"))
            .await,
        303
    );

    // Signing out ends the session on the hub, not only in the browser.
    b.sign_out().await;
    b.goto(&format!("{base}/sources")).await;
    assert_eq!(b.path().await, "/sign-in");
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let replayed = http
        .get(format!("{base}/sources"))
        .header("cookie", format!("vivres_session={session_value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);
    assert!(
        replayed.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/sign-in")
    );

    // Toulouse's coordinator signs in with the one-time link: Lyon is out of reach.
    b.goto(&toulouse_link).await;
    b.click("form[action='/link'] button").await;
    b.wait("#sources").await;
    let listed = b.text("#sources").await;
    assert!(
        listed.contains("cocagne-toulouse") && !listed.contains("lyon"),
        "{listed}"
    );
    b.goto(&format!("{base}/sources/secours-lyon")).await;
    b.wait_text("h1", "Accès refusé").await;
    b.goto(&format!("{base}/runs/{run}")).await;
    b.wait_text("h1", "Accès refusé").await;
    b.goto(&format!("{base}/sources")).await;
    let csrf = b.csrf().await;
    let lyon_runs = hub
        .warehouse
        .runs(Some("secours-lyon"), 100)
        .await
        .unwrap()
        .len();
    assert_eq!(
        b.post("/sources/secours-lyon/sync", &format!("csrf={csrf}"))
            .await,
        403
    );
    assert_eq!(
        b.post("/sources/secours-lyon/replay", &format!("csrf={csrf}"))
            .await,
        403
    );
    assert_eq!(
        hub.warehouse
            .runs(Some("secours-lyon"), 100)
            .await
            .unwrap()
            .len(),
        lyon_runs
    );
    // Nor Lyon's indicators (the API's rule): the page, the report.
    b.goto(&format!("{base}/indicators?territory=lyon")).await;
    b.wait_text("h1", "Accès refusé").await;
    b.goto(&format!(
        "{base}/indicators/report?territory=lyon&period=2024"
    ))
    .await;
    b.wait_text("h1", "Accès refusé").await;
    b.goto(&format!("{base}/indicators")).await;
    let offered = b.text("#territory").await;
    assert!(!offered.contains("Lyon"), "{offered}");
    b.sign_out().await;
    // The link worked once.
    b.goto(&toulouse_link).await;
    b.click("form[action='/link'] button").await;
    b.wait_text("h1", "Lien inutilisable").await;

    // The admin's pages: create a token, revoke it; schedules; failures.
    b.sign_in(&base, &admin).await;
    b.goto(&format!("{base}/admin/tokens")).await;
    b.fill("#name", "claude").await;
    b.click("#create-token input[value=lyon]").await;
    b.click("#create-token button[type=submit]").await;
    let made = b.text("#new-token").await;
    assert!(
        vivres::auth::authenticate(&hub.warehouse, &made)
            .await
            .unwrap()
            .is_some_and(|p| p.name == "claude"
                && p.can_act_on("lyon")
                && !p.can_act_on("toulouse"))
    );
    b.screenshot("admin-tokens").await;
    b.click("#tokens button[aria-label='Révoquer claude']")
        .await;
    b.wait_text("#tokens", "révoqué").await;
    assert!(
        vivres::auth::authenticate(&hub.warehouse, &made)
            .await
            .unwrap()
            .is_none()
    );
    b.goto(&format!("{base}/admin/schedules")).await;
    assert!(b.text("#schedules").await.contains("cocagne-toulouse"));
    b.screenshot("admin-schedules").await;
    b.goto(&format!("{base}/admin/failures")).await;
    b.wait("h1").await;
    b.screenshot("admin-failures").await;
    // Server-side render times of the main pages (Server-Timing), for the record.
    let cookie = b.session().await;
    let mut timings = Vec::new();
    for page in [
        "/sources".to_string(),
        "/sources/secours-lyon".to_string(),
        format!("/runs/{run}"),
        format!("/runs/{run}/live"),
        "/admin/tokens".to_string(),
        "/admin/schedules".to_string(),
        "/admin/failures".to_string(),
        "/exports".to_string(),
        "/indicators".to_string(),
        "/indicators/report?territory=lyon&period=2024".to_string(),
    ] {
        let mut ms: Vec<f64> = Vec::new();
        for _ in 0..5 {
            let r = http
                .get(format!("{base}{page}"))
                .header("cookie", format!("vivres_session={cookie}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{page}");
            let timing = r.headers()["server-timing"].to_str().unwrap().to_string();
            ms.push(
                timing
                    .trim_start_matches("render;dur=")
                    .parse()
                    .expect("a duration"),
            );
        }
        ms.sort_by(f64::total_cmp);
        timings.push(format!("{page} {:.1}/{:.1}", ms[2], ms[4]));
    }
    eprintln!(
        "console render times, ms (median/max of 5, {:?}): {}",
        hub.warehouse.backend(),
        timings.join(", ")
    );
    b.sign_out().await;

    // An evaluator starts at the indicators: the table of a territory and a
    // period, a suppressed cell said as such, the charts drawn as SVG.
    // The sync the CSRF check started ends first.
    let ended = tokio::time::timeout(PATIENCE, async {
        while hub
            .warehouse
            .runs_page(None, Some(RunStatus::Running), None, 10)
            .await
            .unwrap()
            .iter()
            .any(|r| r.source == "cocagne-lyon")
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(ended.is_ok(), "the sync of cocagne-lyon ends");
    b.sign_in(&base, &evaluator).await;
    assert_eq!(b.path().await, "/indicators");
    let published = lyon_cells(&hub).await;
    let (hidden, shown) = suppressed_and_shown(&published);
    b.fresh(&format!(
        "{base}/indicators?territory=lyon&period={}&indicator={}",
        hidden.period, hidden.indicator
    ))
    .await;
    let row = format!(
        "#indicators tr[data-indicator={}][data-breakdown='{}']",
        hidden.indicator,
        hidden.breakdown.as_deref().unwrap_or("")
    );
    let text = b.text(&row).await;
    assert!(text.contains("secret statistique"), "{text}");
    if hidden.breakdown.is_none() {
        // Its bar says so too.
        let bar = b.text_content("#chart-territories g.bar.suppressed").await;
        assert!(bar.contains("Métropole de Lyon"), "{bar}");
    }
    b.screenshot("indicators").await;
    b.fresh(&format!(
        "{base}/indicators?territory=lyon&period={}&indicator={}#charts",
        shown.period, shown.indicator
    ))
    .await;
    let row = format!(
        "#indicators tr[data-indicator={}][data-breakdown='']",
        shown.indicator
    );
    assert!(!b.text(&row).await.contains("secret"));
    // Bars per territory: Lyon's value, and Toulouse without data.
    let bars = b.wait("svg#chart-territories").await;
    assert_eq!(bars.attr("role").await.unwrap().as_deref(), Some("img"));
    for css in ["svg#chart-territories title", "svg#chart-territories desc"] {
        b.wait(css).await;
    }
    let rects = b
        .c()
        .find_all(Locator::Css("svg#chart-territories g.bar rect"))
        .await
        .expect("bars");
    assert!(!rects.is_empty(), "a bar for Lyon");
    let svg_text = b.text_content("svg#chart-territories").await;
    assert!(
        svg_text.contains("Toulouse Métropole") && svg_text.contains("pas de données"),
        "{svg_text}"
    );
    // The chart's figures as a table, opened with the keyboard.
    b.wait("#charts details summary")
        .await
        .send_keys(" ")
        .await
        .expect("key");
    b.wait("#charts details[open] table").await;
    // A line over the periods when there are several.
    let periods: std::collections::BTreeSet<_> = published
        .iter()
        .filter(|c| c.indicator == shown.indicator)
        .map(|c| c.period)
        .collect();
    if periods.len() > 1 {
        b.wait("svg#chart-periods path").await;
    }
    b.screenshot("indicators-charts").await;
    // In English through the switch.
    b.click("a[lang=en]").await;
    b.wait("html[lang=en]").await;
    b.wait_text("#table-title", "Table").await;
    b.screenshot("indicators-en").await;
    b.click("a[lang=fr]").await;
    b.wait("html[lang=fr]").await;
    let cookie = b.session().await;
    // The same indicators as one self-contained report to download.
    let report = http
        .get(format!(
            "{base}/indicators/report?territory=lyon&period={}",
            hidden.period
        ))
        .header("cookie", format!("vivres_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(report.status(), StatusCode::OK);
    assert!(
        report.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let html = report.text().await.unwrap();
    check_report(&hub, &html, "lyon", hidden.period).await;
    // Opened from a disk, as at a partners' meeting.
    let saved = screenshots_dir().join("report.html");
    std::fs::write(&saved, &html).expect("report saved");
    b.goto(&format!("file://{}", saved.display())).await;
    b.wait("section.indicator svg").await;
    b.screenshot("report").await;
    // An evaluator has no sources, and downloads an export (Parquet).
    b.goto(&format!("{base}/sources")).await;
    b.wait_text("h1", "Accès refusé").await;
    b.goto(&format!("{base}/exports")).await;
    b.screenshot("exports").await;
    let parquet = http
        .get(format!(
            "{base}/exports/download?entity=distributions&format=parquet&territory=lyon&from=&to="
        ))
        .header("cookie", format!("vivres_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(parquet.status(), StatusCode::OK);
    let bytes = parquet.bytes().await.unwrap();
    let reader = parquet::file::reader::SerializedFileReader::new(bytes)
        .expect("the export reads back as Parquet");
    let rows = parquet::file::reader::FileReader::metadata(&reader)
        .file_metadata()
        .num_rows();
    assert!(rows > 0, "the export holds the synced aid");

    b.finish().await;
    let _ = stop.send(());
    tokio::time::timeout(PATIENCE, served)
        .await
        .expect("the hub stops")
        .expect("serve task")
        .expect("serve ends cleanly");
}

/// Every published cell of Lyon (all periods), as the console computes them.
async fn lyon_cells(hub: &vivres::Hub) -> Vec<vivres::indicators::Published> {
    cells_of(hub, "lyon").await
}

/// A suppressed cell (a total if any, a year if any) and a total shown.
fn suppressed_and_shown(
    cells: &[vivres::indicators::Published],
) -> (
    &vivres::indicators::Published,
    &vivres::indicators::Published,
) {
    let year = |c: &&vivres::indicators::Published| {
        matches!(c.period, vivres::indicators::Period::Year(_))
    };
    let hidden = cells
        .iter()
        .filter(|c| c.suppressed)
        .max_by_key(|c| (c.breakdown.is_none(), year(c)))
        .expect("the synced files leave at least one suppressed cell in Lyon");
    let shown = cells
        .iter()
        .filter(|c| !c.suppressed && c.value.is_some() && c.breakdown.is_none())
        .max_by_key(|c| year(c))
        .expect("and at least one total shown");
    (hidden, shown)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A report holds no reference to the network (nothing to fetch: no script,
/// no stylesheet link, no `http(s)://` in a `src` or `href`), every indicator
/// with its definition, and each published cell of its territory and period,
/// a suppressed one as « secret statistique ».
async fn check_report(
    hub: &vivres::Hub,
    html: &str,
    territory: &str,
    period: vivres::indicators::Period,
) {
    let lower = html.to_ascii_lowercase();
    for banned in ["<script", "<link", "<iframe", "<img", "url(", "@import"] {
        assert!(!lower.contains(banned), "the report holds `{banned}`");
    }
    for attr in ["src=", "href=", "xlink:href="] {
        for (i, _) in lower.match_indices(attr) {
            let value = lower[i + attr.len()..].trim_start_matches(['"', '\'']);
            assert!(
                !value.starts_with("http:")
                    && !value.starts_with("https:")
                    && !value.starts_with("//"),
                "a network reference: {}",
                &html[i..(i + 80).min(html.len())]
            );
        }
    }
    assert!(html.contains("<svg"), "the report has charts");
    let defs = vivres::indicators::load_dir(&hub.config.hub.indicators_dir).expect("definitions");
    assert!(!defs.is_empty());
    for d in &defs {
        assert!(
            html.contains(&format!("id=\"ind-{}\"", d.id)),
            "{} is missing",
            d.id
        );
        assert!(
            html.contains(&escape(&d.label_fr)),
            "{}'s label is missing",
            d.label_fr
        );
        let first_words: String = d.description_fr.chars().take(40).collect();
        assert!(
            html.contains(&escape(&first_words)),
            "{}'s definition is missing",
            d.id
        );
    }
    let cells = cells_of(hub, territory).await;
    let at: Vec<_> = cells.iter().filter(|c| c.period == period).collect();
    assert!(!at.is_empty(), "cells at {period}");
    let mut suppressed = 0;
    for c in at {
        let key = format!(
            "data-indicator=\"{}\" data-breakdown=\"{}\">",
            c.indicator,
            escape(c.breakdown.as_deref().unwrap_or(""))
        );
        let start = html
            .find(&key)
            .unwrap_or_else(|| panic!("no row for {} {:?}", c.indicator, c.breakdown));
        let row = &html[start..start + html[start..].find("</tr>").expect("row ends")];
        assert_eq!(
            row.contains("secret statistique"),
            c.suppressed,
            "{} {:?}: {row}",
            c.indicator,
            c.breakdown
        );
        suppressed += usize::from(c.suppressed);
    }
    assert!(suppressed > 0, "at least one suppressed cell at {period}");
}

async fn cells_of(hub: &vivres::Hub, territory: &str) -> Vec<vivres::indicators::Published> {
    let (_, cells) = vivres::report::published(&hub.config, &hub.warehouse)
        .await
        .expect("indicators");
    cells
        .into_iter()
        .filter(|c| c.territory == territory)
        .collect()
}

/// `vivres report`: one HTML file that opens with no network, with every
/// indicator of its territory and its suppressed cells said as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_needs_no_network_and_shows_suppressed_cells_as_such() {
    let t = TestHub::start(Setup {
        size: 300,
        extra_sources: SOURCES.to_string(),
        ..Setup::default()
    })
    .await;
    let files = tempfile::tempdir().unwrap();
    let set = partner_sim::files::secours::write(files.path(), 5, 200).expect("files");
    let inbox = t
        .hub
        .config
        .source("secours-lyon")
        .and_then(|s| s.inbox_dir(&t.hub.config.hub.data_dir))
        .expect("an inbox");
    for f in &set.files {
        vivres::inbox::add_file(&inbox, f).expect("added");
    }
    assert_eq!(t.sync("secours-lyon").await.status, RunStatus::Succeeded);
    assert_eq!(t.sync("cocagne-lyon").await.status, RunStatus::Succeeded);
    let cells = lyon_cells(&t.hub).await;
    let (hidden, _) = suppressed_and_shown(&cells);
    let period = hidden.period;
    let out = t.dir.path().join("report.html");
    let run = Command::new(env!("CARGO_BIN_EXE_vivres"))
        .arg("--config")
        .arg(&t.config_path)
        .args(["report", "--territory", "lyon", "--period"])
        .arg(period.to_string())
        .arg("--out")
        .arg(&out)
        .envs(&t.vars)
        .output()
        .expect("vivres runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let html = std::fs::read_to_string(&out).expect("the report");
    check_report(&t.hub, &html, "lyon", period).await;
    // A territory the hub does not know: refused, naming those it knows.
    let run = Command::new(env!("CARGO_BIN_EXE_vivres"))
        .arg("--config")
        .arg(&t.config_path)
        .args([
            "report",
            "--territory",
            "paris",
            "--period",
            "2024",
            "--out",
        ])
        .arg(t.dir.path().join("other.html"))
        .envs(&t.vars)
        .output()
        .expect("vivres runs");
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("unknown territory `paris`") && err.contains("lyon"),
        "{err}"
    );
}

/// Makes tokens with the `vivres` binary, on the test hub's configuration.
struct TokenMaker {
    config_path: PathBuf,
    vars: std::collections::BTreeMap<String, String>,
}

impl TokenMaker {
    fn token_with_link(&self, base: &str, name: &str, territory: &str) -> (String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_vivres"))
            .arg("--config")
            .arg(&self.config_path)
            .args(["token", "create", "--role", "coordinator", "--territory"])
            .arg(territory)
            .args(["--name", name, "--link", "--url", base])
            .envs(&self.vars)
            .output()
            .expect("vivres runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = stdout.lines();
        let token = lines.next().expect("the token").to_string();
        let link = lines.next().expect("the link").to_string();
        (token, link)
    }
}

/// Server-side render time of each main page over `VIVRES_BENCH_ROWS`
/// (default 1,000,000) fact rows, written through `commit_batch` as the
/// indicators' bench writes them (order lines, aid, surveys, pathways,
/// supplies; Lyon and Toulouse, the 12 months of 2024). A measurement, not a
/// check: `cargo test -p vivres --test e2e console_pages_over -- --ignored
/// --nocapture` (and again with `VIVRES_TEST_DATABASE_URL`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn console_pages_over_a_million_fact_rows() {
    use vivres::model::EntityKind;
    use vivres::warehouse::{BatchWrite, Provenance, Row, Value, schema};

    let total: usize = std::env::var("VIVRES_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let t = TestHub::start(Setup {
        size: 300,
        extra_sources: SOURCES.to_string(),
        ..Setup::default()
    })
    .await;
    // A run of the real source, for the source and run pages.
    let synced = t.sync("cocagne-lyon").await;
    let w = t.hub.warehouse.clone();
    let run = w.start_run("bench-facts", false).await.expect("a run");
    let started = std::time::Instant::now();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut key = 0u64;
    let day = |m: u8, d: u64| {
        Value::Date(
            time::Date::from_calendar_date(2024, time::Month::try_from(m).unwrap(), d as u8 + 1)
                .unwrap(),
        )
    };
    let text = |s: &str| Value::Text(s.to_string());
    let mut written = 0usize;
    let territories = ["lyon", "toulouse"];
    let per_cell = total / (territories.len() * 12);
    for territory in territories {
        for m in 1..=12u8 {
            let mut batches: Vec<(EntityKind, &str, Vec<Vec<(&'static str, Value)>>)> = Vec::new();
            batches.push((
                EntityKind::OrderLine,
                "vrac",
                (0..per_cell * 70 / 100)
                    .map(|_| {
                        let h = next(3000);
                        vec![
                            ("household", text(&format!("h{h}"))),
                            (
                                "channel",
                                text(if h % 2 == 0 {
                                    "grocery"
                                } else {
                                    "buying-group"
                                }),
                            ),
                            ("date", day(m, next(28))),
                            (
                                "dfc_type",
                                text(["vegetable", "fruit", "bakery", "drink"][next(4) as usize]),
                            ),
                            ("quantity", Value::Real(1.0 + next(3) as f64)),
                            ("unit", text("kg")),
                            ("price_paid_cents", Value::Int(100 + next(200) as i64)),
                            ("reference_price_cents", Value::Int(400)),
                        ]
                    })
                    .collect(),
            ));
            batches.push((
                EntityKind::Distribution,
                "secours-catholique",
                (0..per_cell * 20 / 100)
                    .map(|_| {
                        vec![
                            ("household", text(&format!("s{}", next(1500)))),
                            ("date", day(m, next(28))),
                            (
                                "kind",
                                text(["food-voucher", "prepaid-card", "parcel"][next(3) as usize]),
                            ),
                            ("status", text("given")),
                            ("amount_cents", Value::Int(1000 + next(4000) as i64)),
                        ]
                    })
                    .collect(),
            ));
            let at = time::Date::from_calendar_date(2024, time::Month::try_from(m).unwrap(), 10)
                .unwrap()
                .with_hms(12, 0, 0)
                .unwrap()
                .assume_utc();
            batches.push((
                EntityKind::SurveyResponse,
                "civam",
                (0..per_cell * 6 / 100)
                    .map(|i| {
                        vec![
                            ("household", text(&format!("k{m}-{i}"))),
                            ("wave", text(["T0", "T1", "T2"][(m as usize - 1) / 4])),
                            ("submitted_at", Value::Timestamp(at)),
                            ("instrument", text("fies")),
                            ("raw_score", Value::Int(next(9) as i64)),
                        ]
                    })
                    .collect(),
            ));
            batches.push((
                EntityKind::Pathway,
                "cocagne",
                (0..per_cell * 2 / 100)
                    .map(|i| {
                        vec![
                            ("worker", text(&format!("w{m}-{i}"))),
                            (
                                "entry_date",
                                Value::Date(
                                    time::Date::from_calendar_date(
                                        2023,
                                        time::Month::try_from(m).unwrap(),
                                        1,
                                    )
                                    .unwrap(),
                                ),
                            ),
                            ("exit_date", day(m, next(28))),
                            (
                                "exit_category",
                                text(
                                    ["durable", "transition", "positive", "other", "neutralised"]
                                        [next(5) as usize],
                                ),
                            ),
                        ]
                    })
                    .collect(),
            ));
            let month = format!("2024-{m:02}");
            batches.push((
                EntityKind::Supply,
                "vrac",
                (0..per_cell * 2 / 100)
                    .map(|_| {
                        vec![
                            ("producer", text(&format!("p{}", next(200)))),
                            ("distance_km", Value::Real(next(400) as f64)),
                            ("month", text(&month)),
                        ]
                    })
                    .collect(),
            ));
            for (kind, network, rows) in batches {
                let table = schema::table(kind);
                for chunk in rows.chunks(20_000) {
                    let rows: Vec<Row> = chunk
                        .iter()
                        .map(|cols| {
                            key += 1;
                            let mut k = [0u8; 16];
                            k[..8].copy_from_slice(&key.to_be_bytes());
                            vivres::warehouse::testing::row(kind, k, cols, Vec::new())
                        })
                        .collect();
                    written += rows.len();
                    let prov = Provenance {
                        source: format!("{network}-{territory}"),
                        stream: table.name.to_string(),
                        territory: territory.into(),
                        network: network.into(),
                        run_id: run,
                    };
                    w.commit_batch(
                        &prov,
                        BatchWrite {
                            read: rows.len() as u64,
                            rows,
                            batches: 1,
                            ..BatchWrite::default()
                        },
                    )
                    .await
                    .expect("committed");
                }
            }
        }
    }
    let loaded = started.elapsed().as_secs_f64();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let TestHub {
        db: _db,
        dir: _dir,
        sim: _sim,
        hub,
        ..
    } = t;
    let hub = Arc::new(hub);
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(launch(
        hub.clone(),
        ServeSettings::default(),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    let admin = create(&hub.warehouse, "ada", &Role::Admin)
        .await
        .expect("token");
    let (session, _) = vivres::console::session::sign_in(&hub.warehouse, &admin)
        .await
        .expect("signs in")
        .expect("a session");
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let get = move |page: String| {
        let http = http.clone();
        let base = base.clone();
        let session = session.clone();
        async move {
            let r = http
                .get(format!("{base}{page}"))
                .header("cookie", format!("vivres_session={session}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{page}");
            let server: f64 = r.headers()["server-timing"]
                .to_str()
                .unwrap()
                .trim_start_matches("render;dur=")
                .parse()
                .expect("a duration");
            let body = r.text().await.unwrap();
            (server, body)
        }
    };
    // Until the page shows fresh cells: how long the computation takes.
    let until_fresh = |page: &'static str| {
        let get = get.clone();
        async move {
            let t = std::time::Instant::now();
            let mut first = None;
            loop {
                let (ms, body) = get(page.to_string()).await;
                first.get_or_insert(ms);
                if body.contains("id=\"indicators\"") && !body.contains("id=\"stale\"") {
                    return (first.unwrap_or_default(), t.elapsed().as_secs_f64());
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    // The first indicators page starts computing every indicator and says
    // so; the next ones read the cells kept since.
    let (first, computed) = until_fresh("/indicators?territory=lyon&period=2024").await;
    let mut lines = vec![format!(
        "{:?}: {written} fact rows loaded in {loaded:.0} s; the first /indicators answered in {first:.0} ms \
         (\"being computed\"), fresh cells after {computed:.1} s",
        hub.warehouse.backend()
    )];
    for page in [
        "/sources".to_string(),
        "/sources/cocagne-lyon".to_string(),
        format!("/runs/{}", synced.id),
        format!("/runs/{}/live", synced.id),
        "/admin/tokens".to_string(),
        "/admin/schedules".to_string(),
        "/admin/failures".to_string(),
        "/exports".to_string(),
        "/indicators?territory=lyon&period=2024".to_string(),
        "/indicators?territory=toulouse&period=2024-03&indicator=households_reached".to_string(),
        "/indicators/report?territory=lyon&period=2024".to_string(),
    ] {
        let mut ms = Vec::new();
        for _ in 0..5 {
            ms.push(get(page.clone()).await.0);
        }
        ms.sort_by(f64::total_cmp);
        lines.push(format!(
            "  {page:<72} median {:>7.1} ms, max {:>7.1} ms",
            ms[2], ms[4]
        ));
    }
    // A committed batch invalidates the cells kept: the next page computes again.
    w.commit_batch(
        &Provenance {
            source: "vrac-lyon".into(),
            stream: "order_lines".into(),
            territory: "lyon".into(),
            network: "vrac".into(),
            run_id: run,
        },
        BatchWrite {
            read: 0,
            batches: 1,
            ..BatchWrite::default()
        },
    )
    .await
    .expect("committed");
    let (stale, computed) = until_fresh("/indicators?territory=lyon&period=2024").await;
    lines.push(format!(
        "  after a committed batch: /indicators answered in {stale:.0} ms (the cells before, \
         marked stale), fresh cells after {computed:.1} s"
    ));
    eprintln!(
        "console render times over a large warehouse (Server-Timing, debug build):\n{}",
        lines.join("\n")
    );
    let _ = stop.send(());
    tokio::time::timeout(PATIENCE, served)
        .await
        .expect("the hub stops")
        .expect("serve task")
        .expect("serve ends cleanly");
}

/// `vivres inbox add` of many files: plain progress lines on a stderr that
/// is not a terminal, the files on stdout; with `--json`, the files as JSON
/// and nothing on stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_add_of_many_files_shows_progress_unless_json() {
    let t = TestHub::start(Setup {
        extra_sources: SOURCES.to_string(),
        ..Setup::default()
    })
    .await;
    let files = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = (0..40)
        .map(|i| {
            let p = files.path().join(format!("accueils_{i:02}.csv"));
            std::fs::write(&p, format!("Date;Dossier\n01/02/2024;{i}\n")).unwrap();
            p
        })
        .collect();
    let add = |json: bool, paths: &[PathBuf]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vivres"));
        c.arg("--config")
            .arg(&t.config_path)
            .args(["inbox", "add", "secours-lyon"])
            .args(paths)
            .envs(&t.vars);
        if json {
            c.arg("--json");
        }
        let out = c.output().expect("vivres runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (stdout, stderr) = add(false, &paths[..30]);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("added:")).count(),
        30,
        "{stdout}"
    );
    assert!(stderr.contains("inbox add: 30/30 done"), "{stderr}");
    let (stdout, stderr) = add(true, &paths[20..]);
    assert!(stderr.is_empty(), "{stderr}");
    let added: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let added = added.as_array().expect("a list");
    assert_eq!(added.len(), 20);
    assert_eq!(
        added
            .iter()
            .filter(|a| a["duplicate"] == json!(true))
            .count(),
        10
    );
}
