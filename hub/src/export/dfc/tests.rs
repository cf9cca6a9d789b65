//! The DFC export read back as JSON-LD-shaped JSON (and, when the test venv
//! can have it, expanded by a real JSON-LD processor, pyld), on whichever
//! backend `VIVRES_TEST_DATABASE_URL` names.

use std::collections::BTreeMap;

use serde_json::Value as J;

use super::*;
use crate::model::EntityKind;
use crate::warehouse::testing::TestDb;
use crate::warehouse::{BatchWrite, Provenance, Row, schema};

async fn write_rows(
    w: &Warehouse,
    run: i64,
    territory: &str,
    kind: EntityKind,
    rows: Vec<Vec<(&'static str, Value)>>,
) {
    let table = schema::table(kind);
    let prov = Provenance {
        source: format!("vrac-{territory}"),
        stream: table.name.to_string(),
        territory: territory.into(),
        network: "vrac".into(),
        run_id: run,
    };
    let rows: Vec<Row> = rows
        .into_iter()
        .enumerate()
        .map(|(i, cols)| {
            let mut key = [0u8; 16];
            key[0] = kind as u8;
            key[1] = i as u8;
            key[2] = territory.len() as u8;
            Row {
                kind,
                key,
                origin: None,
                hash: 1,
                children: Vec::new(),
                values: table
                    .columns
                    .iter()
                    .map(|c| {
                        let v = cols
                            .iter()
                            .find(|(n, _)| *n == c.name)
                            .map(|(_, v)| v.clone());
                        let v = v.unwrap_or(match (c.nullable, c.ty) {
                            (true, _) => Value::Null,
                            (false, schema::Type::Real) => Value::Real(1.0),
                            (false, schema::Type::Bool) => Value::Bool(false),
                            _ => Value::Text("-".into()),
                        });
                        (c.name, v)
                    })
                    .collect(),
            }
        })
        .collect();
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
    .unwrap();
}

fn t(s: &str) -> Value {
    Value::Text(s.into())
}

#[tokio::test]
async fn dfc_export_has_the_products_offers_orders_and_lines_as_json_ld() {
    let db = TestDb::new().await;
    let w = &db.warehouse;
    let run = w.start_run("vrac", false).await.unwrap();
    // The catalogue: carrots (kg) and soap (piece).
    write_rows(
        w,
        run,
        "lyon",
        EntityKind::Product,
        vec![
            vec![
                ("label", t("Carottes")),
                ("dfc_type", t("carrot")),
                ("unit", t("kg")),
            ],
            vec![
                ("label", t("Savon de Marseille")),
                ("dfc_type", t("inedible")),
                ("unit", t("piece")),
            ],
        ],
    )
    .await;
    // Two members' March orders of the Croix-Rousse group (member price vs
    // reference price), one April order; a Toulouse line.
    let line =
        |h: &str, month: &str, product: &str, q: f64, unit: &str, paid: i64, reference: i64| {
            vec![
                ("household", t(h)),
                ("site", t("croix-rousse")),
                ("channel", t("buying-group")),
                ("month", t(month)),
                ("product", t(product)),
                (
                    "dfc_type",
                    t(if product == "Carottes" {
                        "carrot"
                    } else {
                        "inedible"
                    }),
                ),
                ("quantity", Value::Real(q)),
                ("unit", t(unit)),
                ("unit_price_paid_cents", Value::Int(paid)),
                ("unit_reference_price_cents", Value::Int(reference)),
                ("price_paid_cents", Value::Int((q * paid as f64) as i64)),
                (
                    "reference_price_cents",
                    Value::Int((q * reference as f64) as i64),
                ),
            ]
        };
    write_rows(
        w,
        run,
        "lyon",
        EntityKind::OrderLine,
        vec![
            line("pseudo-a", "2024-03", "Carottes", 2.0, "kg", 150, 240),
            line(
                "pseudo-a",
                "2024-03",
                "Savon de Marseille",
                1.0,
                "piece",
                180,
                260,
            ),
            line("pseudo-b", "2024-03", "Carottes", 1.5, "kg", 150, 240),
            line("pseudo-a", "2024-04", "Carottes", 1.0, "kg", 160, 250),
        ],
    )
    .await;
    write_rows(
        w,
        run,
        "toulouse",
        EntityKind::OrderLine,
        vec![line("pseudo-c", "2024-03", "Carottes", 1.0, "kg", 140, 230)],
    )
    .await;
    let (bytes, counts) = write(w, &Filters::default(), Vec::new()).await.unwrap();
    let doc: J = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(doc["@context"]["dfc-b"], DFC_B, "{doc}");
    let graph = doc["@graph"].as_array().unwrap();
    let mut types: BTreeMap<String, usize> = BTreeMap::new();
    let mut ids = std::collections::HashSet::new();
    for node in graph {
        *types
            .entry(node["@type"].as_str().unwrap().to_string())
            .or_default() += 1;
        assert!(
            ids.insert(node["@id"].as_str().unwrap().to_string()),
            "one node per id: {node}"
        );
    }
    // Products: Lyon's carrots and soap, Toulouse's carrots. Offers: Lyon's
    // carrots at 1.50 and 1.60 (members), 2.40 and 2.50 (reference), soap
    // 1.80 / 2.60, Toulouse's carrots 1.40 / 2.30. Orders: a's March and
    // April, b's March, c's March.
    let expected: BTreeMap<String, usize> = [
        ("dfc-b:SuppliedProduct", 3),
        ("dfc-b:CatalogItem", 3),
        ("dfc-b:Offer", 8),
        ("dfc-b:Order", 4),
        ("dfc-b:OrderLine", 5),
        ("dfc-b:CustomerCategory", 2),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(types, expected);
    assert_eq!(
        counts,
        Counts {
            products: 3,
            offers: 8,
            orders: 4,
            order_lines: 5
        }
    );
    // Every reference names a node of the document (units and product types
    // name the DFC's taxonomies).
    let mut references = 0;
    fn refs<'a>(v: &'a J, out: &mut Vec<&'a str>) {
        match v {
            J::Object(m) => {
                if m.len() == 1
                    && let Some(J::String(id)) = m.get("@id")
                {
                    out.push(id);
                }
                for (k, x) in m {
                    if k != "@id" {
                        refs(x, out);
                    }
                }
            }
            J::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    for node in graph {
        let mut out = Vec::new();
        refs(node, &mut out);
        for id in out {
            references += 1;
            if !(id.starts_with("dfc-m:")
                || id.starts_with("dfc-pt:")
                || id.contains(":household:"))
            {
                assert!(ids.contains(id), "{id} is not in the document");
            }
        }
    }
    assert!(references > 20, "{references}");
    // b's carrots: 1.5 kg, 2.25 € paid, the member offer at 1.50 €.
    let line = graph
        .iter()
        .find(|n| n["@type"] == "dfc-b:OrderLine" && n["dfc-b:quantity"] == 1.5)
        .unwrap();
    assert_eq!(line["dfc-b:hasPrice"]["dfc-b:value"], 2.25);
    assert_eq!(
        line["dfc-b:hasQuantity"]["dfc-b:hasUnit"]["@id"],
        "dfc-m:Kilogram"
    );
    let offer = line["dfc-b:concerns"]["@id"].as_str().unwrap();
    let offer = graph.iter().find(|n| n["@id"] == offer).unwrap();
    assert_eq!(offer["dfc-b:hasPrice"]["dfc-b:value"], 1.5);
    assert_eq!(offer["dfc-b:offeredTo"]["@id"], MEMBER);
    let order = graph
        .iter()
        .find(|n| n["@id"] == line["dfc-b:partOf"]["@id"])
        .unwrap();
    assert_eq!(order["dfc-b:date"], "2024-03");
    assert_eq!(
        order["dfc-b:orderedBy"]["@id"],
        "urn:vivres:vrac:household:pseudo-b"
    );
    // Pseudonyms only: every identifier is a URN of the hub or a DFC term;
    // the only free text is product labels and the categories' descriptions.
    for node in graph {
        assert!(
            node["@id"].as_str().unwrap().starts_with("urn:vivres:"),
            "{node}"
        );
    }
    // A filter on the territory keeps Toulouse's only.
    let (bytes, counts) = write(
        w,
        &Filters {
            territories: vec!["toulouse".into()],
            ..Filters::default()
        },
        Vec::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        (counts.products, counts.orders, counts.order_lines),
        (1, 1, 1)
    );
    // A real JSON-LD processor expands it to the DFC's IRIs.
    expand_with_pyld(&bytes);
}

/// pyld, in the exports' reader venv (installed there if missing).
fn expand_with_pyld(doc: &[u8]) {
    let python = partner_sim::reader::python().unwrap_or_else(|e| panic!("{e}"));
    let has = |python: &std::path::Path| {
        std::process::Command::new(python)
            .args(["-c", "import pyld"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has(&python) {
        let status = std::process::Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "PyLD==2.0.4",
            ])
            .status()
            .unwrap();
        assert!(status.success() && has(&python), "pip install PyLD failed");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.jsonld");
    std::fs::write(&path, doc).unwrap();
    let script = r#"
import json, sys
from pyld import jsonld
doc = json.load(open(sys.argv[1]))
expanded = jsonld.expand(doc)
types = sorted(t for n in expanded for t in n.get("@type", []))
print(json.dumps(types))
"#;
    let out = std::process::Command::new(&python)
        .args(["-c", script])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let types: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    let b = |t: &str| format!("{DFC_B}{t}");
    for t in [
        "SuppliedProduct",
        "Offer",
        "Order",
        "OrderLine",
        "CatalogItem",
    ] {
        assert!(types.contains(&b(t)), "{t} not in {types:?}");
    }
}
