//! Sites with a commune of their own (issue #8 item 5): a team, a grocery, a
//! buying group or a garden gets its INSEE code, and so its EPCI, from its source's settings;
//! a CIVAM source covering several territories files each farm under the
//! territory of the farm's own commune.

use vivres::warehouse::RunStatus;

use crate::helpers::*;

/// A second territory, Toulouse Métropole, beside the helpers' Lyon.
const TOULOUSE: &str = r#"
[[territories]]
id = "toulouse"
name = "Toulouse Métropole"
epci = ["243100518"]
"#;

async fn hub(sources: &str) -> TestHub {
    TestHub::start(Setup {
        size: 10,
        extra_sources: format!("{TOULOUSE}{sources}"),
        ..Setup::default()
    })
    .await
}

/// A site's territory, INSEE code, EPCI and whether it lies in that
/// territory, as stored (`None` when the site is not stored).
async fn site(t: &TestHub, source: &str, key: &str) -> Option<[Option<String>; 4]> {
    let hashed = t.hub.pseudonymiser.record_key_bytes(source, key);
    let rows = t
        .hub
        .warehouse
        .inspect_key(
            &format!(
                "SELECT territory, location_insee, location_epci, location_in_territory FROM sites \
                 WHERE stream_id IN (SELECT id FROM streams WHERE source = '{source}') AND key = $1"
            ),
            hashed,
        )
        .await
        .expect("query");
    rows.into_iter().next().map(|r| {
        let mut cells = r.into_iter();
        std::array::from_fn(|_| cells.next().flatten())
    })
}

fn some(cells: [&str; 4]) -> Option<[Option<String>; 4]> {
    Some(cells.map(|c| Some(c.to_string())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_groceries_and_gardens_have_their_commune_from_the_settings() {
    let t = hub(
        r#"
[[sources]]
id = "sc-sites"
connector = "secours-catholique-aid"
network = "secours-catholique"
territory = "lyon"
streams = ["sites"]
[sources.config]
sites = [{ id = "Lyon 3", insee = "69383", name = "Équipe Lyon 3" }, { id = "Nulle part", insee = "99999" }]

[[sources]]
id = "ugess-sites"
connector = "ugess-groceries"
network = "ugess"
territory = "lyon"
streams = ["sites"]
[sources.config]
sites = [{ id = "epicerie-toulouse", insee = "31555" }]

[[sources]]
id = "vrac-sites"
connector = "vrac-orders"
network = "vrac"
territory = "lyon"
streams = ["sites"]
[sources.config]
sites = [{ id = "croix-rousse", insee = "69384", name = "VRAC Croix-Rousse" }]

[[sources]]
id = "garden-site"
connector = "cocagne-gardens"
network = "cocagne"
territory = "lyon"
streams = ["sites"]
[sources.config]
base_url = "http://127.0.0.1:9/lyon"
token_secret = "api_token"
garden = "jardin-lyon"
garden_insee = "69123"
"#,
    )
    .await;

    let report = t.sync("sc-sites").await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(
        site(&t, "sc-sites", "Lyon 3").await,
        some(["lyon", "69383", "200046977", "true"])
    );
    // An INSEE code the gazetteer does not know is quarantined, never guessed.
    assert_eq!(site(&t, "sc-sites", "Nulle part").await, None);
    let entries = t
        .hub
        .warehouse
        .quarantine(Some("sc-sites"), None, i64::MAX)
        .await
        .unwrap();
    let entries: Vec<(&str, &str)> = entries
        .iter()
        .map(|q| (q.reason.as_str(), q.field.as_str()))
        .collect();
    assert_eq!(entries, [("unresolved_location", "location.insee")]);

    // A grocery of a Lyon source standing in Toulouse: its EPCI, outside Lyon.
    let report = t.sync("ugess-sites").await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(
        site(&t, "ugess-sites", "epicerie-toulouse").await,
        some(["lyon", "31555", "243100518", "false"])
    );

    let report = t.sync("vrac-sites").await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(
        site(&t, "vrac-sites", "croix-rousse").await,
        some(["lyon", "69384", "200046977", "true"])
    );

    let report = t.sync("garden-site").await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(
        site(&t, "garden-site", "jardin-lyon").await,
        some(["lyon", "69123", "200046977", "true"])
    );
    // Kinds as the connectors say.
    let kinds = pairs(
        &t.hub,
        "SELECT kind, count(*) FROM sites GROUP BY kind ORDER BY kind",
    )
    .await;
    assert_eq!(
        kinds,
        [
            ("aid-team".to_string(), 1),
            ("buying-group".to_string(), 1),
            ("garden".to_string(), 1),
            ("grocery".to_string(), 1)
        ]
    );
}

const REGISTER: &str = "Identifiant;Nom;SIRET;CP;Commune;Groupe CIVAM;Vente en circuit court (O/N)\n\
    F-LYON;A;;69008;Lyon;G;O\n\
    F-TLSE;B;;31000;Toulouse;G;O\n\
    F-AIN;C;;01000;Bourg-en-Bresse;G;N\n\
    F-NONE;D;;;;G;N\n";

async fn farms(site_territories: &str) -> TestHub {
    let t = hub(&format!(
        r#"
[[sources]]
id = "civam"
connector = "civam-diagnostics"
network = "civam"
territory = "lyon"
{site_territories}
inbox = true
streams = ["farms"]
"#
    ))
    .await;
    let file = t.dir.path().join("fermes.csv");
    std::fs::write(&file, REGISTER).unwrap();
    let inbox = t.dir.path().join("inbox").join("civam");
    vivres::inbox::add_file(&inbox, &file).expect("added to the inbox");
    let report = t.sync("civam").await;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_civam_source_over_several_territories_files_each_farm_under_its_commune() {
    let t = farms(r#"site_territories = ["toulouse"]"#).await;
    assert_eq!(
        site(&t, "civam", "F-LYON").await,
        some(["lyon", "69388", "200046977", "true"])
    );
    // In the other territory the source covers: filed there, and inside it.
    assert_eq!(
        site(&t, "civam", "F-TLSE").await,
        some(["toulouse", "31555", "243100518", "true"])
    );
    // In neither: the source's territory, outside it, its commune kept.
    assert_eq!(
        site(&t, "civam", "F-AIN").await,
        some(["lyon", "01053", "200071751", "false"])
    );
    // Without a commune: the source's territory.
    let none = site(&t, "civam", "F-NONE").await.expect("stored");
    assert_eq!(none[0].as_deref(), Some("lyon"));
    assert_eq!(none[1], None);

    // A source of one territory files every farm under it, as before.
    let t = farms("").await;
    assert_eq!(
        site(&t, "civam", "F-TLSE").await,
        some(["lyon", "31555", "243100518", "false"])
    );
}
