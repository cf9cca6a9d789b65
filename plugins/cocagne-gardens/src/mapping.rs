//! A subscription or a delivery of the API into a record of the model, or a
//! reject with the reason the rulings give. A reject's `detail` never holds
//! the value; `raw` is the item's JSON, which the hub only hashes.
//!
//! `member_name` [drop] is never read.

use serde_json::Value;
use vivres_sdk::fr::{self, Parsed};
use vivres_sdk::model::{
    AidKind, Distribution, DistributionStatus, Enrolment, Entity, Household, Item, PersonId,
    Reject, RejectReason,
};

type Rejected = Box<Reject>;

/// A JSON scalar as text: trimmed, mojibake repaired, `None` when null,
/// absent, empty or a missing marker (`NC`, `?`, `-`). `Err` for an array or object.
fn text(item: &Value, field: &str) -> Result<Option<String>, ()> {
    match item.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if fr::is_missing(s) => Ok(None),
        Some(Value::String(s)) => Ok(Some(fr::repair_mojibake(s.trim()).into_owned())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(()),
    }
}

struct Ctx<'a> {
    key: Option<String>,
    item: &'a Value,
}

impl Ctx<'_> {
    fn reject(&self, reason: RejectReason, field: &str, detail: &str) -> Rejected {
        let mut r = Reject::new(reason, field, detail)
            .with_raw(serde_json::to_vec(self.item).unwrap_or_default());
        r.key = self.key.clone();
        Box::new(r)
    }

    fn required(&self, field: &str) -> Result<String, Rejected> {
        match text(self.item, field) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(self.reject(RejectReason::MissingRequired, field, "missing")),
            Err(()) => Err(self.reject(RejectReason::MissingRequired, field, "not a text value")),
        }
    }

    fn optional(&self, field: &str) -> Option<String> {
        text(self.item, field).ok().flatten()
    }

    /// An amount in euros (a string such as `12,50 €`, or a number) as cents.
    fn cents(&self, field: &str) -> Result<Option<i64>, Rejected> {
        let bad = |d: &str| self.reject(RejectReason::InvalidAmount, field, d);
        let raw = text(self.item, field).map_err(|()| bad("not an amount"))?;
        let Some(raw) = raw else { return Ok(None) };
        match fr::parse_cents(&raw) {
            Ok(Parsed::Value(c)) if c < 0 => Err(bad("negative amount")),
            Ok(p) => Ok(p.value()),
            Err(e) => Err(bad(e.message())),
        }
    }

    fn date(&self, field: &str) -> Result<Option<vivres_sdk::model::Date>, Rejected> {
        let bad = |d: &str| self.reject(RejectReason::InvalidDate, field, d);
        let raw = text(self.item, field).map_err(|()| bad("not a date"))?;
        let Some(raw) = raw else { return Ok(None) };
        fr::parse_date(&raw)
            .map(Parsed::value)
            .map_err(|e| bad(e.message()))
    }
}

/// The item's key (`id`), or the reject of an item without one.
fn key(item: &Value) -> Result<String, Rejected> {
    let ctx = Ctx { key: None, item };
    if !item.is_object() {
        return Err(ctx.reject(
            RejectReason::MissingRequired,
            "id",
            "the item is not a JSON object",
        ));
    }
    ctx.required("id")
}

fn is_before(a: &vivres_sdk::model::Date, b: &vivres_sdk::model::Date) -> bool {
    (a.year, a.month, a.day) < (b.year, b.month, b.day)
}

/// A subscription: the household and its basket enrolment.
pub fn subscription(garden: &str, item: &Value) -> Result<Item, Rejected> {
    let id = key(item)?;
    let ctx = Ctx {
        key: Some(id.clone()),
        item,
    };

    let member_no = ctx.required("member_no")?;

    let size = match item.get("household_size") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let bad = |d: &str| ctx.reject(RejectReason::InvalidQuantity, "household_size", d);
            let n = match v {
                Value::Number(n) => fr::parse_integer(&n.to_string()),
                Value::String(s) => fr::parse_integer(s),
                _ => return Err(bad("not a number")),
            };
            match n {
                Ok(Parsed::Missing) => None,
                Ok(Parsed::Value(n)) if n >= 1 => {
                    Some(u32::try_from(n).map_err(|_| bad("household size too large"))?)
                }
                Ok(Parsed::Value(_)) => return Err(bad("household size below 1")),
                Err(e) => return Err(bad(e.message())),
            }
        }
    };

    let postcode = text(item, "postcode").ok().flatten();
    let city = ctx.optional("city");
    let residence = fr::residence(postcode.as_deref(), city.as_deref())
        .map_err(|e| ctx.reject(RejectReason::UnknownPostcode, "postcode", e.message()))?;

    let programme = ctx.required("formula")?.to_lowercase();

    let solidarity = match item.get("solidarity") {
        Some(Value::Bool(b)) => *b,
        None | Some(Value::Null) => {
            return Err(ctx.reject(RejectReason::MissingRequired, "solidarity", "missing"));
        }
        Some(v) => {
            let label = match v {
                Value::String(s) => fr::fold_label(s),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            match label.as_str() {
                "true" | "oui" | "o" | "yes" | "1" | "vrai" => true,
                "false" | "non" | "n" | "no" | "0" | "faux" => false,
                "" | "nc" | "?" | "-" => {
                    return Err(ctx.reject(RejectReason::MissingRequired, "solidarity", "missing"));
                }
                _ => {
                    return Err(ctx.reject(
                        RejectReason::UnknownLabel,
                        "solidarity",
                        "not a yes/no value",
                    ));
                }
            }
        }
    };

    let price_paid = ctx.cents("price_eur")?;
    let reference_price = ctx.cents("reference_price_eur")?;
    let start = ctx.date("start")?;
    let end = ctx.date("end")?;
    if let (Some(s), Some(e)) = (&start, &end)
        && is_before(e, s)
    {
        return Err(ctx.reject(RejectReason::InconsistentDates, "end", "end before start"));
    }

    let mut enrolment = Enrolment::new(programme);
    enrolment.solidarity = solidarity;
    enrolment.price_paid = price_paid;
    enrolment.reference_price = reference_price;
    enrolment.prescriber = ctx.optional("prescriber");
    enrolment.start = start;
    enrolment.end = end;
    enrolment.site = ctx.optional("drop_point");

    let mut household = Household::new(PersonId::new(garden, member_no));
    household.size = size;
    household.residence = residence;
    household.enrolment = Some(enrolment);
    Ok(Item::new(id, Entity::Household(household)))
}

/// A weekly basket delivery to a subscription.
pub fn delivery(garden: &str, item: &Value) -> Result<Item, Rejected> {
    let id = key(item)?;
    let ctx = Ctx {
        key: Some(id.clone()),
        item,
    };

    let subscription_id = ctx.required("subscription_id")?;

    let week_raw = ctx.required("week")?;
    let week = match fr::parse_iso_week(&week_raw) {
        Ok(Parsed::Value(w)) => w,
        Ok(Parsed::Missing) => {
            return Err(ctx.reject(RejectReason::MissingRequired, "week", "missing"));
        }
        Err(e) => return Err(ctx.reject(RejectReason::InvalidDate, "week", e.message())),
    };

    let status = match ctx.optional("status").map(|s| fr::fold_label(&s)) {
        None => None,
        Some(s) => Some(match s.as_str() {
            "collected" => DistributionStatus::Collected,
            "absent" => DistributionStatus::Absent,
            "postponed" => DistributionStatus::Postponed,
            _ => {
                return Err(ctx.reject(
                    RejectReason::UnknownLabel,
                    "status",
                    "not collected, absent or postponed",
                ));
            }
        }),
    };

    let quantity_kg = match item.get("basket_kg") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let bad = |d: &str| ctx.reject(RejectReason::InvalidQuantity, "basket_kg", d);
            let parsed = match v {
                Value::Number(n) => n
                    .as_f64()
                    .map(Parsed::Value)
                    .ok_or_else(|| bad("not a number"))?,
                Value::String(s) => fr::parse_decimal(s).map_err(|e| bad(e.message()))?,
                _ => return Err(bad("not a number")),
            };
            match parsed {
                Parsed::Value(kg) if kg < 0.0 => return Err(bad("negative weight")),
                Parsed::Value(kg) if !kg.is_finite() => return Err(bad("not a number")),
                p => p.value(),
            }
        }
    };

    let mut d = Distribution::new(AidKind::Basket);
    d.household_key = Some(subscription_id);
    d.site = Some(garden.to_string());
    d.date = Some(week.monday());
    d.week = Some(week.to_string());
    d.status = status;
    d.quantity_kg = quantity_kg;
    d.contents = ctx.optional("contents");
    d.ordinal = 0;
    Ok(Item::new(id, Entity::Distribution(d)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use vivres_sdk::model::Date;

    fn sub() -> Value {
        json!({
            "id": "SUB-2024-0042", "member_no": "M-0042", "member_name": "Camille Martin",
            "household_size": 3, "postcode": "69 008", "city": "Lyon", "formula": "moyen",
            "solidarity": true, "price_eur": "4,50", "reference_price_eur": "15,00 €",
            "prescriber": "CCAS", "start": "2024-01-08", "end": null, "drop_point": "Maison de quartier",
            "updated_at": "2024-03-18T09:00:00+01:00"
        })
    }

    fn del() -> Value {
        json!({"id": "DEL-9", "subscription_id": "SUB-2024-0042", "week": "2024-W12",
               "status": "collected", "basket_kg": 4.2, "contents": "Carottes 1kg, poireaux 3 pces",
               "updated_at": "2024-03-18T09:00:00+01:00"})
    }

    fn rejected(r: Result<Item, Rejected>) -> Reject {
        match r {
            Err(r) => *r,
            Ok(i) => panic!("not rejected: {}", i.key),
        }
    }

    fn household(item: Item) -> Household {
        match item.entity {
            Entity::Household(h) => h,
            _ => panic!("not a household"),
        }
    }

    #[test]
    fn a_subscription() {
        let item = subscription("jardin-lyon", &sub()).unwrap();
        assert_eq!(item.key, "SUB-2024-0042");
        assert_eq!(item.origin, None);
        let h = household(item);
        assert_eq!(h.person, PersonId::new("jardin-lyon", "M-0042"));
        assert_eq!(h.size, Some(3));
        let r = h.residence.unwrap();
        assert_eq!(
            (r.postcode.as_deref(), r.commune.as_deref()),
            (Some("69008"), Some("Lyon"))
        );
        let e = h.enrolment.unwrap();
        assert_eq!(e.programme, "moyen");
        assert!(e.solidarity);
        assert_eq!((e.price_paid, e.reference_price), (Some(450), Some(1500)));
        assert_eq!(e.prescriber.as_deref(), Some("CCAS"));
        assert_eq!(
            e.start,
            Some(Date {
                year: 2024,
                month: 1,
                day: 8
            })
        );
        assert_eq!(e.end, None);
        assert_eq!(e.site.as_deref(), Some("Maison de quartier"));
    }

    #[test]
    fn the_member_name_goes_nowhere() {
        let item = subscription("g", &sub()).unwrap();
        assert!(!format!("{item:?}").contains("Camille"));
        let mut s = sub();
        s["price_eur"] = json!("quatre");
        let r = rejected(subscription("g", &s));
        assert!(!r.detail.contains("Camille") && !r.field.contains("Camille"));
    }

    #[test]
    fn subscription_quirks_are_normalised() {
        let mut s = sub();
        s["member_no"] = json!(42);
        s["postcode"] = json!("1000");
        s["city"] = json!("Bourg-en-Bresse");
        s["price_eur"] = json!(4.5);
        s["reference_price_eur"] = json!("1\u{202f}234,50\u{a0}€");
        s["formula"] = json!(" Grand ");
        s["solidarity"] = json!("non");
        s["start"] = json!("08/01/2024");
        s["end"] = json!("45351");
        s["prescriber"] = json!("NC");
        s["household_size"] = json!("4");
        s["drop_point"] = json!("MÃ©diathÃ¨que");
        let h = household(subscription("g", &s).unwrap());
        assert_eq!(h.person.local_id, "42");
        assert_eq!(h.size, Some(4));
        assert_eq!(h.residence.unwrap().postcode.as_deref(), Some("01000"));
        let e = h.enrolment.unwrap();
        assert_eq!(e.programme, "grand");
        assert!(!e.solidarity);
        assert_eq!((e.price_paid, e.reference_price), (Some(450), Some(123450)));
        assert_eq!(e.prescriber, None);
        assert_eq!(
            e.end,
            Some(Date {
                year: 2024,
                month: 2,
                day: 29
            })
        );
        assert_eq!(e.site.as_deref(), Some("Médiathèque"));
    }

    #[test]
    fn a_city_in_the_postcode_is_passed_as_the_commune() {
        let mut s = sub();
        s["postcode"] = json!("Villeurbanne");
        s["city"] = json!(null);
        let r = household(subscription("g", &s).unwrap()).residence.unwrap();
        assert_eq!(
            (r.postcode, r.commune.as_deref()),
            (None, Some("Villeurbanne"))
        );
    }

    #[test]
    fn missing_prices_and_sizes_are_unknown_not_rejected() {
        let mut s = sub();
        s["price_eur"] = json!("NC");
        s["reference_price_eur"] = json!(null);
        s.as_object_mut().unwrap().remove("household_size");
        let h = household(subscription("g", &s).unwrap());
        assert_eq!(h.size, None);
        assert_eq!(h.enrolment.unwrap().price_paid, None);
    }

    #[test]
    fn subscription_rejects() {
        let cases: Vec<(&str, Value, RejectReason, &str)> = vec![
            (
                "member_no",
                json!(null),
                RejectReason::MissingRequired,
                "member_no",
            ),
            (
                "member_no",
                json!(""),
                RejectReason::MissingRequired,
                "member_no",
            ),
            (
                "price_eur",
                json!("4,5,0"),
                RejectReason::InvalidAmount,
                "price_eur",
            ),
            (
                "price_eur",
                json!("-4,50"),
                RejectReason::InvalidAmount,
                "price_eur",
            ),
            (
                "reference_price_eur",
                json!("gratuit"),
                RejectReason::InvalidAmount,
                "reference_price_eur",
            ),
            (
                "start",
                json!("31/02/2024"),
                RejectReason::InvalidDate,
                "start",
            ),
            ("end", json!("2024-13-01"), RejectReason::InvalidDate, "end"),
            (
                "end",
                json!("2023-12-31"),
                RejectReason::InconsistentDates,
                "end",
            ),
            (
                "postcode",
                json!("690"),
                RejectReason::UnknownPostcode,
                "postcode",
            ),
            (
                "household_size",
                json!(-2),
                RejectReason::InvalidQuantity,
                "household_size",
            ),
            (
                "household_size",
                json!(0),
                RejectReason::InvalidQuantity,
                "household_size",
            ),
            (
                "household_size",
                json!(2.5),
                RejectReason::InvalidQuantity,
                "household_size",
            ),
            (
                "formula",
                json!(null),
                RejectReason::MissingRequired,
                "formula",
            ),
            (
                "solidarity",
                json!(null),
                RejectReason::MissingRequired,
                "solidarity",
            ),
            (
                "solidarity",
                json!("peut-être"),
                RejectReason::UnknownLabel,
                "solidarity",
            ),
        ];
        for (field, value, reason, expected_field) in cases {
            let mut s = sub();
            s[field] = value.clone();
            let r = rejected(subscription("g", &s));
            assert_eq!(
                (r.reason, r.field.as_str()),
                (reason, expected_field),
                "{field} = {value}"
            );
            assert_eq!(r.key.as_deref(), Some("SUB-2024-0042"));
            assert_eq!(r.raw, serde_json::to_vec(&s).unwrap());
            if let Value::String(v) = &value
                && !v.is_empty()
            {
                assert!(!r.detail.contains(v.as_str()), "{}", r.detail);
            }
        }
    }

    #[test]
    fn an_item_without_id() {
        let mut s = sub();
        s.as_object_mut().unwrap().remove("id");
        let r = rejected(subscription("g", &s));
        assert_eq!(
            (r.reason, r.field.as_str(), r.key),
            (RejectReason::MissingRequired, "id", None)
        );
        let r = rejected(delivery("g", &json!("oops")));
        assert_eq!(r.field, "id");
    }

    #[test]
    fn a_delivery() {
        let item = delivery("jardin-lyon", &del()).unwrap();
        assert_eq!(item.key, "DEL-9");
        let Entity::Distribution(d) = item.entity else {
            panic!("not a distribution")
        };
        assert_eq!(d.household, None);
        assert_eq!(d.household_key.as_deref(), Some("SUB-2024-0042"));
        assert_eq!(d.site.as_deref(), Some("jardin-lyon"));
        assert_eq!(
            d.date,
            Some(Date {
                year: 2024,
                month: 3,
                day: 18
            })
        );
        assert_eq!(d.week.as_deref(), Some("2024-W12"));
        assert_eq!(d.kind, AidKind::Basket);
        assert_eq!(d.status, Some(DistributionStatus::Collected));
        assert_eq!(d.quantity_kg, Some(4.2));
        assert_eq!(d.contents.as_deref(), Some("Carottes 1kg, poireaux 3 pces"));
        assert_eq!(d.ordinal, 0);
    }

    #[test]
    fn delivery_quirks() {
        let mut d = del();
        d["basket_kg"] = json!(null);
        d["status"] = json!("Absent");
        d["week"] = json!("2024w1");
        let Entity::Distribution(x) = delivery("g", &d).unwrap().entity else {
            panic!()
        };
        assert_eq!(
            (x.quantity_kg, x.status, x.week.as_deref()),
            (None, Some(DistributionStatus::Absent), Some("2024-W01"))
        );
        d["basket_kg"] = json!("3,5");
        let Entity::Distribution(x) = delivery("g", &d).unwrap().entity else {
            panic!()
        };
        assert_eq!(x.quantity_kg, Some(3.5));
    }

    #[test]
    fn delivery_rejects() {
        let cases: Vec<(&str, Value, RejectReason)> = vec![
            ("basket_kg", json!(-1.5), RejectReason::InvalidQuantity),
            ("basket_kg", json!("lourd"), RejectReason::InvalidQuantity),
            ("week", json!("2024-W60"), RejectReason::InvalidDate),
            ("week", json!("18/03/2024"), RejectReason::InvalidDate),
            ("week", json!(null), RejectReason::MissingRequired),
            (
                "subscription_id",
                json!(null),
                RejectReason::MissingRequired,
            ),
            ("status", json!("lost"), RejectReason::UnknownLabel),
        ];
        for (field, value, reason) in cases {
            let mut d = del();
            d[field] = value.clone();
            let r = rejected(delivery("g", &d));
            assert_eq!(
                (r.reason, r.field.as_str()),
                (reason, field),
                "{field} = {value}"
            );
            assert_eq!(r.key.as_deref(), Some("DEL-9"));
        }
    }
}
