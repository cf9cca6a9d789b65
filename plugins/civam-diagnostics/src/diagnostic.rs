//! One IDEA4 calculator export (`idea4_<farm id>.json`) → one diagnostic.
//!
//! `{"metadonnees": {"MTD_00": ["4.2.8"], ...}, "items": {"IDEA_A01_1": [5], ...}}`:
//! values are one-element arrays (the R exporter's habit) or scalars, numbers
//! may be strings (`"5"`, `"25,6"`). An item that is `""`, `null`, a missing
//! marker, an empty array or absent is not assessed.

use serde_json::Value;
use vivres_sdk::fr::{self, Parsed};
use vivres_sdk::model::{Diagnostic, Entity, Item, Reject, RejectReason};

use crate::idea4::{self, Farm, GrasslandShare, Items, Livestock, Method, Version};

pub const METHOD: &str = "IDEA4";

/// The farm id of a file name `idea4_<farm id>.json`, if it is one.
pub fn farm_of_file_name(name: &str) -> Option<&str> {
    let lower = name.to_ascii_lowercase();
    if !(lower.starts_with("idea4_") && lower.ends_with(".json")) {
        return None;
    }
    let id = &name[6..name.len() - 5];
    if id.trim().is_empty() { None } else { Some(id) }
}

/// A one-element array is its element; an empty array is nothing.
fn scalar(v: Option<&Value>) -> Result<Option<&Value>, &'static str> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => match a.as_slice() {
            [] => Ok(None),
            [one] => scalar(Some(one)),
            _ => Err("several values where one is expected"),
        },
        Some(v) => Ok(Some(v)),
    }
}

/// A text value (a number is written as the partner would: `2020`, `25.6`).
fn text(v: Option<&Value>) -> Result<Option<String>, &'static str> {
    Ok(match scalar(v)? {
        None => None,
        Some(Value::String(s)) if fr::is_missing(s) => None,
        Some(Value::String(s)) => Some(fr::repair_mojibake(s.trim()).into_owned()),
        Some(Value::Number(n)) => Some(match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        }),
        Some(Value::Bool(b)) => Some(if *b { "1".into() } else { "0".into() }),
        Some(_) => return Err("an object where a value is expected"),
    })
}

/// A number value: JSON number, or a string such as `"5"`, `"25,6"`.
fn number(v: Option<&Value>) -> Result<Option<f64>, &'static str> {
    Ok(match scalar(v)? {
        None => None,
        Some(Value::Number(n)) => Some(n.as_f64().ok_or("not a number")?),
        Some(Value::String(s)) => match fr::parse_decimal(s) {
            Ok(Parsed::Value(f)) => Some(f),
            Ok(Parsed::Missing) => None,
            Err(_) => return Err("not a number"),
        },
        Some(_) => return Err("not a number"),
    })
}

/// `MTD_14`: `0`/`1`/`2`, or a label such as `1 - monogastrique`.
pub fn parse_livestock(s: &str) -> Option<Livestock> {
    let digits: String = s.trim().chars().take_while(char::is_ascii_digit).collect();
    let by_number = match digits.as_str() {
        "0" => Some(Livestock::None),
        "1" => Some(Livestock::Monogastrics),
        "2" => Some(Livestock::Herbivores),
        "" => None,
        _ => return None,
    };
    if by_number.is_some() {
        return by_number;
    }
    let folded = fr::fold_label(s);
    if folded.contains("monogastr") {
        Some(Livestock::Monogastrics)
    } else if folded.contains("herbivor") {
        Some(Livestock::Herbivores)
    } else if folded.starts_with("aucun") || folded.starts_with("sans") || folded == "non" {
        Some(Livestock::None)
    } else {
        None
    }
}

/// `MTD_16`: `0`/`1` (also `oui`/`non`).
pub fn parse_flag(s: &str) -> Option<bool> {
    match fr::fold_label(s).as_str() {
        "0" | "non" | "n" | "false" => Some(false),
        "1" | "oui" | "o" | "true" => Some(true),
        _ => None,
    }
}

/// `MTD_11` as calculators write it: `42`, `1` (a lost zero), or code and name
/// (`32 - Gers`, 4.2.1) → the code (`42`, `01`, `32`, `2A`); anything else is
/// kept as written.
pub fn parse_departement(s: &str) -> String {
    let s = s.trim();
    let code = s.split([' ', '-']).next().unwrap_or(s);
    let is_code = (1..=3).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit())
        || code.eq_ignore_ascii_case("2A")
        || code.eq_ignore_ascii_case("2B");
    if !is_code {
        return s.to_string();
    }
    if code.len() == 1 {
        format!("0{code}")
    } else {
        code.to_ascii_uppercase()
    }
}

/// The diagnostic of one file, or the reject that stands for it.
pub fn read_file(method: &Method, name: &str, bytes: &[u8]) -> Result<Item, Reject> {
    let reject = |reason, field: &str, detail: String| {
        Reject::new(reason, field, detail)
            .with_origin(name)
            .with_raw(bytes.to_vec())
    };
    let malformed = |detail: String| reject(RejectReason::MalformedFile, "file", detail);
    let (text_body, _) = fr::decode_text(bytes);
    let doc: Value = serde_json::from_str(&text_body).map_err(|e| {
        malformed(format!(
            "not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let (Some(meta), Some(items_obj)) = (
        doc.get("metadonnees").and_then(Value::as_object),
        doc.get("items").and_then(Value::as_object),
    ) else {
        return Err(malformed(
            "not an IDEA4 export: `metadonnees` and `items` objects expected".into(),
        ));
    };
    let meta_text = |code: &str| {
        text(meta.get(code)).map_err(|d| reject(RejectReason::MissingRequired, code, d.to_string()))
    };
    let meta_number = |code: &str| {
        number(meta.get(code))
            .map_err(|d| reject(RejectReason::InvalidQuantity, code, d.to_string()))
    };

    let farm_id = match meta_text("MTD_01")? {
        Some(id) => id,
        None => farm_of_file_name(name).map(str::to_string).ok_or_else(|| {
            reject(
                RejectReason::MissingRequired,
                "MTD_01",
                "no farm id in the file nor its name".into(),
            )
        })?,
    };
    let key_reject = |r: Reject| r.with_key(farm_id.clone());
    let survey_year = meta_text("MTD_13").map_err(key_reject)?.ok_or_else(|| {
        key_reject(reject(
            RejectReason::MissingRequired,
            "MTD_13",
            "no survey year".into(),
        ))
    })?;
    let key = format!("{farm_id}/{survey_year}");
    let with_key = |r: Reject| r.with_key(key.clone());

    let version_text = meta_text("MTD_00").map_err(with_key)?;
    let version = version_text.as_deref().and_then(Version::parse);
    let livestock = match meta_text("MTD_14").map_err(with_key)? {
        None => None,
        Some(s) => Some(parse_livestock(&s).ok_or_else(|| {
            with_key(reject(
                RejectReason::UnknownLabel,
                "MTD_14",
                "livestock must be 0, 1 or 2".into(),
            ))
        })?),
    };
    let pesticide_use = match meta_text("MTD_16").map_err(with_key)? {
        None => None,
        Some(s) => Some(parse_flag(&s).ok_or_else(|| {
            with_key(reject(
                RejectReason::UnknownLabel,
                "MTD_16",
                "pesticide use must be 0 or 1".into(),
            ))
        })?),
    };
    let share = meta_number("MTD_15").map_err(with_key)?;
    let grassland_share = match (share, &version) {
        (Some(v), Some(version)) => Some(GrasslandShare::new(v, version)),
        _ => None,
    };
    let farm = Farm {
        version,
        livestock,
        grassland_share,
        pesticide_use,
    };

    let mut items: Items = Items::new();
    for (code, value) in items_obj {
        let Some((indicator, n)) = idea4::parse_item_code(code) else {
            continue;
        };
        let v = number(Some(value))
            .map_err(|d| with_key(reject(RejectReason::InvalidQuantity, code, d.to_string())))?;
        items.entry(indicator).or_default().insert(n, v);
    }

    let departement = meta_text("MTD_11")
        .map_err(with_key)?
        .map(|d| parse_departement(&d));
    let diagnostic = Diagnostic {
        farm: farm_id.clone(),
        method: METHOD.into(),
        method_version: version_text.unwrap_or_default(),
        survey_year,
        area_ha: meta_number("MTD_02").map_err(with_key)?,
        workers: meta_number("MTD_03").map_err(with_key)?,
        farm_type: meta_text("MTD_06").map_err(with_key)?,
        departement,
        scores: idea4::scores(method, &items, &farm),
    };
    let mut item = Item::new(key, Entity::Diagnostic(diagnostic));
    item.origin = Some(name.to_string());
    Ok(item)
}
