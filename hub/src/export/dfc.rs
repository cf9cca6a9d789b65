//! The Data Food Consortium export (`vivres export dfc --out FILE.jsonld`):
//! products, their offers (the member price and the reference price) and the
//! orders with their lines, as DFC JSON-LD that the DFC's own tools (its
//! connectors expand JSON-LD) can read.
//!
//! The document is one `@graph` of flat nodes, written as the warehouse
//! streams `products` and `order_lines`: an order line names its order with
//! `dfc-b:partOf` and its offer with `dfc-b:concerns`, so nothing grows with
//! the number of lines but the set of orders already written (16 bytes
//! each), products and offers. The `@context` names the DFC vocabularies
//! with the prefixes the DFC's context uses (`dfc-b`, `dfc-m`, `dfc-pt`),
//! inline, so that reading the file needs no network.
//!
//! Identifiers are URNs built from pseudonyms and keyed hashes only
//! (`urn:vivres:…`): a household is its pseudonym, an order the hash of its
//! household pseudonym, place and day. No name, address or raw identifier is
//! in the warehouse, so none can be here.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;

use serde_json::{Value as Json, json};
use sha2::Digest as _;

use super::{ExportError, Filters, query};
use crate::warehouse::{Value, Warehouse, export_columns};

/// The DFC business ontology, measures and product types.
pub const DFC_B: &str = "https://github.com/datafoodconsortium/ontology/releases/latest/download/DFC_BusinessOntology.owl#";
pub const DFC_M: &str =
    "https://github.com/datafoodconsortium/taxonomies/releases/latest/download/measures.rdf#";
pub const DFC_PT: &str =
    "https://github.com/datafoodconsortium/taxonomies/releases/latest/download/productTypes.rdf#";

/// What a DFC export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub products: u64,
    pub offers: u64,
    pub orders: u64,
    pub order_lines: u64,
}

/// The customer categories the two offers of a product are made to.
const MEMBER: &str = "urn:vivres:customer-category:member";
const REFERENCE: &str = "urn:vivres:customer-category:reference";

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn product_id(territory: &str, network: &str, label: &str) -> String {
    format!(
        "urn:vivres:{}:{}:product:{}",
        encode(territory),
        encode(network),
        encode(label)
    )
}

fn unit_of(unit: Option<&str>) -> Option<&'static str> {
    match unit?.to_lowercase().as_str() {
        "kg" => Some("Kilogram"),
        "g" => Some("Gram"),
        "l" => Some("Litre"),
        "cl" => Some("Centilitre"),
        "ml" => Some("Millilitre"),
        "piece" | "pièce" | "unit" => Some("Piece"),
        _ => None,
    }
}

fn euros(cents: i64) -> Json {
    json!({
        "@type": "dfc-b:Price",
        "dfc-b:value": cents as f64 / 100.0,
        "dfc-b:hasUnit": {"@id": "dfc-m:Euro"},
    })
}

/// A product as the catalogue (or its first order line) describes it.
struct Product {
    label: String,
    dfc_type: Option<String>,
    unit: Option<String>,
}

/// Writes the graph's nodes one by one between the document's head and tail.
struct Graph<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> Graph<W> {
    fn new(mut out: W) -> Result<Self, ExportError> {
        let context = json!({
            "dfc-b": DFC_B,
            "dfc-m": DFC_M,
            "dfc-pt": DFC_PT,
        });
        out.write_all(b"{\"@context\":")?;
        serde_json::to_writer(&mut out, &context).map_err(std::io::Error::from)?;
        out.write_all(b",\"@graph\":[\n")?;
        Ok(Graph { out, first: true })
    }

    fn node(&mut self, node: &Json) -> Result<(), ExportError> {
        if !self.first {
            self.out.write_all(b",\n")?;
        }
        self.first = false;
        serde_json::to_writer(&mut self.out, node).map_err(std::io::Error::from)?;
        Ok(())
    }

    fn finish(mut self) -> Result<W, ExportError> {
        self.out.write_all(b"\n]}\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Streams the pages of one table's export, a row at a time, as column
/// name → value.
async fn each_row(
    warehouse: &Warehouse,
    entity: &str,
    filters: &Filters,
    mut f: impl FnMut(&dyn Fn(&str) -> Value) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    let q = query(entity, filters)?;
    let columns: Vec<&'static str> = export_columns(q.table).iter().map(|(n, _)| *n).collect();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Vec<Value>>>(4);
    let producer = {
        let warehouse = warehouse.clone();
        let q = q.clone();
        tokio::spawn(async move { warehouse.export(&q, &tx).await })
    };
    while let Some(page) = rx.recv().await {
        for row in &page {
            let get = |name: &str| {
                columns
                    .iter()
                    .position(|c| *c == name)
                    .and_then(|i| row.get(i).cloned())
                    .unwrap_or(Value::Null)
            };
            f(&get)?;
        }
    }
    producer
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;
    Ok(())
}

fn text(v: Value) -> Option<String> {
    match v {
        Value::Text(s) => Some(s),
        _ => None,
    }
}

fn int(v: Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(i),
        _ => None,
    }
}

/// Writes the DFC document of the products and order lines the filters
/// select (territories, networks; `from`/`to` apply to the order lines).
pub async fn write<W: Write>(
    warehouse: &Warehouse,
    filters: &Filters,
    out: W,
) -> Result<(W, Counts), ExportError> {
    let mut graph = Graph::new(out)?;
    let mut counts = Counts::default();
    // Products: the catalogues first, then what order lines name.
    let mut products: BTreeMap<String, Product> = BTreeMap::new();
    let catalogue = Filters {
        from: None,
        to: None,
        ..filters.clone()
    };
    each_row(warehouse, "products", &catalogue, |get| {
        let (Some(territory), Some(network), Some(label)) = (
            text(get("territory")),
            text(get("network")),
            text(get("label")),
        ) else {
            return Ok(());
        };
        products
            .entry(product_id(&territory, &network, &label))
            .or_insert(Product {
                label,
                dfc_type: text(get("dfc_type")),
                unit: text(get("unit")),
            });
        Ok(())
    })
    .await?;
    // Offers: (product, member or reference) → unit prices in cents.
    let mut offers: BTreeMap<(String, &'static str, i64), String> = BTreeMap::new();
    let mut orders: HashSet<[u8; 16]> = HashSet::new();
    each_row(warehouse, "order_lines", filters, |get| {
        let (Some(territory), Some(network), Some(label)) = (
            text(get("territory")),
            text(get("network")),
            text(get("product")),
        ) else {
            return Ok(());
        };
        let product = product_id(&territory, &network, &label);
        let unit = text(get("unit"));
        products.entry(product.clone()).or_insert(Product {
            label,
            dfc_type: text(get("dfc_type")),
            unit: unit.clone(),
        });
        let mut offer = None;
        for (category, price) in [
            (MEMBER, int(get("unit_price_paid_cents"))),
            (REFERENCE, int(get("unit_reference_price_cents"))),
        ] {
            let Some(price) = price else { continue };
            let key = (product.clone(), category, price);
            let next = offers.len();
            let id = offers
                .entry(key)
                .or_insert_with(|| format!("{product}:offer:{next}"))
                .clone();
            if category == MEMBER {
                offer = Some(id);
            }
        }
        // The order: one household's purchases at one place on one day (or
        // in one month when the partner gives no day).
        let household = text(get("household"));
        let site = text(get("site")).unwrap_or_default();
        let day = match get("date") {
            Value::Date(d) => Some(d.to_string()),
            _ => text(get("month")),
        };
        let order_key: [u8; 16] = {
            let digest = sha2::Sha256::digest(
                format!(
                    "{territory}\u{1f}{network}\u{1f}{site}\u{1f}{}\u{1f}{}",
                    household.as_deref().unwrap_or(""),
                    day.as_deref().unwrap_or("")
                )
                .as_bytes(),
            );
            let mut k = [0u8; 16];
            k.copy_from_slice(&digest[..16]);
            k
        };
        let order = format!("urn:vivres:order:{}", hex::encode(order_key));
        if orders.insert(order_key) {
            let mut node = json!({
                "@id": order,
                "@type": "dfc-b:Order",
            });
            if let Some(h) = &household {
                node["dfc-b:orderedBy"] = json!({
                    "@id": format!("urn:vivres:{}:household:{}", encode(&network), encode(h))
                });
            }
            if let Some(day) = &day {
                node["dfc-b:date"] = json!(day);
            }
            graph.node(&node)?;
            counts.orders += 1;
        }
        let key = match get("key") {
            Value::Key(k) => hex::encode(k),
            Value::Text(t) => t,
            _ => String::new(),
        };
        let source = text(get("source")).unwrap_or_default();
        let mut line = json!({
            "@id": format!("urn:vivres:order-line:{}:{key}", encode(&source)),
            "@type": "dfc-b:OrderLine",
            "dfc-b:partOf": {"@id": order},
        });
        if let Value::Real(q) = get("quantity") {
            line["dfc-b:quantity"] = json!(q);
            if let Some(u) = unit_of(unit.as_deref()) {
                line["dfc-b:hasQuantity"] = json!({
                    "@type": "dfc-b:QuantitativeValue",
                    "dfc-b:value": q,
                    "dfc-b:hasUnit": {"@id": format!("dfc-m:{u}")},
                });
            }
        }
        if let Some(offer) = offer {
            line["dfc-b:concerns"] = json!({"@id": offer});
        }
        if let Some(paid) = int(get("price_paid_cents")) {
            line["dfc-b:hasPrice"] = euros(paid);
        }
        graph.node(&line)?;
        counts.order_lines += 1;
        Ok(())
    })
    .await?;
    for (category, description) in [
        (
            MEMBER,
            "Adhérents, foyers accompagnés : prix payé / members: price paid",
        ),
        (
            REFERENCE,
            "Prix de référence (prix public) / reference price (shop price)",
        ),
    ] {
        graph.node(&json!({
            "@id": category,
            "@type": "dfc-b:CustomerCategory",
            "dfc-b:description": description,
        }))?;
    }
    // Each product is supplied, listed as a catalogue item, and offered.
    let mut by_product: BTreeMap<&str, Vec<(&str, i64, &str)>> = BTreeMap::new();
    for ((product, category, price), id) in &offers {
        by_product
            .entry(product.as_str())
            .or_default()
            .push((*category, *price, id.as_str()));
    }
    for (id, p) in &products {
        let mut node = json!({
            "@id": id,
            "@type": "dfc-b:SuppliedProduct",
            "dfc-b:name": p.label,
            "dfc-b:referencedBy": {"@id": format!("{id}:item")},
        });
        if let Some(t) = p
            .dfc_type
            .as_deref()
            .filter(|t| *t != "unclassified" && !t.is_empty())
        {
            node["dfc-b:hasType"] = json!({"@id": format!("dfc-pt:{}", encode(t))});
        }
        if let Some(u) = unit_of(p.unit.as_deref()) {
            node["dfc-b:hasQuantity"] = json!({
                "@type": "dfc-b:QuantitativeValue",
                "dfc-b:value": 1,
                "dfc-b:hasUnit": {"@id": format!("dfc-m:{u}")},
            });
        }
        graph.node(&node)?;
        counts.products += 1;
        let offered = by_product.remove(id.as_str()).unwrap_or_default();
        graph.node(&json!({
            "@id": format!("{id}:item"),
            "@type": "dfc-b:CatalogItem",
            "dfc-b:references": {"@id": id},
            "dfc-b:offeredThrough": offered.iter().map(|(_, _, o)| json!({"@id": o})).collect::<Vec<_>>(),
        }))?;
        for (category, price, offer) in offered {
            graph.node(&json!({
                "@id": offer,
                "@type": "dfc-b:Offer",
                "dfc-b:offeredItem": {"@id": format!("{id}:item")},
                "dfc-b:offeredTo": {"@id": category},
                "dfc-b:hasPrice": euros(price),
            }))?;
            counts.offers += 1;
        }
    }
    let out = graph.finish()?;
    Ok((out, counts))
}

/// `vivres export dfc --out FILE.jsonld`.
pub async fn to_file(
    warehouse: &Warehouse,
    filters: &Filters,
    out: &Path,
) -> Result<Counts, ExportError> {
    let file_err = |source| ExportError::File {
        path: out.display().to_string(),
        source,
    };
    let file = std::fs::File::create(out).map_err(file_err)?;
    let (buf, counts) = write(
        warehouse,
        filters,
        std::io::BufWriter::with_capacity(1 << 20, file),
    )
    .await?;
    let file = buf.into_inner().map_err(|e| file_err(e.into_error()))?;
    file.sync_all().map_err(file_err)?;
    Ok(counts)
}

#[cfg(test)]
mod tests;
