//! From a connector's record to a warehouse row: validate dates and numbers,
//! pseudonymise person identifiers and keys, resolve residences. A record that
//! fails becomes a quarantine entry with its reason and field.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use crate::geo::{Gazetteer, Residence};
use crate::model::{Date, Entity, Item, Location, PersonId, Reject, RejectReason};
use crate::privacy::Pseudonymiser;
use crate::warehouse::{Row, Value};

/// What the normaliser needs to know about the source.
pub struct Context<'a> {
    pub source: &'a str,
    pub network: &'a str,
    /// EPCI SIRENs of the source's territory.
    pub territory_epcis: &'a [String],
    pub pseudonymiser: &'a Pseudonymiser,
    pub gazetteer: &'a Gazetteer,
}

struct Refusal {
    reason: RejectReason,
    field: Cow<'static, str>,
    detail: String,
}

type Refused<T> = Result<T, Refusal>;

impl Context<'_> {
    /// The row for `item`, or the reject that replaces it.
    pub fn normalise(&self, item: Item) -> Result<Row, Reject> {
        let kind = item.entity.kind();
        let key = self.pseudonymiser.record_key(self.source, &item.key);
        match self.values(&item.entity) {
            Ok(values) => Ok(Row {
                kind,
                hash: row_hash(&values),
                key,
                origin: item.origin,
                values,
            }),
            Err(refusal) => Err(Reject {
                payload_hash: payload_hash(&item),
                key: Some(key),
                origin: item.origin,
                line: None,
                reason: refusal.reason,
                field: refusal.field.into_owned(),
                detail: refusal.detail,
            }),
        }
    }

    fn person(&self, p: &PersonId, field: &'static str) -> Refused<Value> {
        if p.local_id.trim().is_empty() {
            return Err(Refusal {
                reason: RejectReason::MissingRequired,
                field: field.into(),
                detail: "empty person identifier".into(),
            });
        }
        Ok(Value::Text(self.pseudonymiser.person(self.network, p)))
    }

    fn opt_person(&self, p: &Option<PersonId>, field: &'static str) -> Refused<Value> {
        match p {
            Some(p) => self.person(p, field),
            None => Ok(Value::Null),
        }
    }

    /// Residence columns: postcode, insee, epci, in-territory.
    fn location(&self, loc: &Option<Location>, field: &'static str) -> Refused<[Value; 4]> {
        let Some(loc) = loc else {
            return Ok([Value::Null, Value::Null, Value::Null, Value::Null]);
        };
        let r: Residence = self.gazetteer.resolve(loc).map_err(|e| Refusal {
            reason: e.reason,
            // `residence.postcode`, `location.commune`, `producer_location.insee`…
            field: format!("{field}.{}", e.field).into(),
            detail: e.detail,
        })?;
        let in_territory = r
            .in_territory(self.territory_epcis)
            .map_or(Value::Null, Value::Bool);
        Ok([
            Value::opt_text(r.postcode),
            Value::opt_text(r.insee),
            Value::opt_text(r.epci_siren),
            in_territory,
        ])
    }

    fn values(&self, entity: &Entity) -> Refused<Vec<Value>> {
        use Value as V;
        Ok(match entity {
            Entity::Household(h) => {
                let [pc, insee, epci, inside] = self.location(&h.residence, "residence")?;
                let e = h.enrolment.as_ref();
                vec![
                    self.person(&h.person, "person")?,
                    V::opt_u32(h.size),
                    V::opt_u32(h.adults),
                    V::opt_u32(h.children),
                    V::opt_label(h.composition),
                    pc,
                    insee,
                    epci,
                    inside,
                    V::opt_label(h.income),
                    V::opt_label(h.reste_a_vivre),
                    date(h.rights_from, "rights_from")?,
                    date(h.rights_to, "rights_to")?,
                    V::opt_int(h.monthly_cap),
                    V::opt_text(e.map(|e| e.programme.clone())),
                    e.map(|e| V::Bool(e.solidarity)).unwrap_or(V::Null),
                    V::opt_int(e.and_then(|e| e.price_paid)),
                    V::opt_int(e.and_then(|e| e.reference_price)),
                    V::opt_text(e.and_then(|e| e.prescriber.clone())),
                    date(e.and_then(|e| e.start), "enrolment.start")?,
                    date(e.and_then(|e| e.end), "enrolment.end")?,
                    V::opt_text(e.and_then(|e| e.site.clone())),
                ]
            }
            Entity::Site(s) => {
                let [pc, insee, epci, inside] = self.location(&s.location, "location")?;
                vec![
                    V::label(s.kind),
                    V::opt_text(s.name.clone()),
                    pc,
                    insee,
                    epci,
                    inside,
                    V::opt_text(s.group.clone()),
                    V::opt_bool(s.short_circuit),
                    V::opt_text(s.siret.clone()),
                ]
            }
            Entity::Product(p) => vec![
                required(&p.label, "label")?,
                V::opt_text(p.category.clone()),
                dfc(&p.dfc_type),
                V::opt_text(p.unit.clone()),
                V::opt_bool(p.organic),
                V::opt_text(p.producer.clone()),
                V::opt_text(p.ean.clone()),
            ],
            Entity::Distribution(d) => vec![
                self.opt_person(&d.household, "household")?,
                V::opt_text(
                    d.household_key
                        .as_ref()
                        .map(|k| self.pseudonymiser.record_key(self.source, k)),
                ),
                V::opt_text(d.site.clone()),
                date(d.date, "date")?,
                V::opt_text(d.week.clone()),
                V::label(d.kind),
                V::opt_text(d.label.clone()),
                V::opt_label(d.status),
                V::opt_int(d.amount),
                quantity(d.quantity_kg, "quantity_kg")?,
                V::opt_text(d.contents.clone()),
                V::Int(i64::from(d.ordinal)),
            ],
            Entity::OrderLine(o) => {
                if !o.quantity.is_finite() {
                    return Err(Refusal {
                        reason: RejectReason::InvalidQuantity,
                        field: "quantity".into(),
                        detail: "not a number".into(),
                    });
                }
                vec![
                    self.opt_person(&o.household, "household")?,
                    V::opt_text(o.site.clone()),
                    V::label(o.channel),
                    date(o.date, "date")?,
                    V::opt_text(o.time.clone()),
                    V::opt_text(o.month.clone()),
                    required(&o.product, "product")?,
                    dfc(&o.dfc_type),
                    V::Real(o.quantity),
                    V::opt_text(o.unit.clone()),
                    V::opt_int(o.unit_price_paid),
                    V::opt_int(o.unit_reference_price),
                    V::opt_int(o.price_paid),
                    V::opt_int(o.reference_price),
                    finite(
                        o.discount_percent,
                        "discount_percent",
                        RejectReason::InvalidAmount,
                    )?,
                    V::Bool(o.food_bank_donation),
                ]
            }
            Entity::Supply(s) => {
                let [pc, insee, epci, inside] =
                    self.location(&s.producer_location, "producer_location")?;
                vec![
                    V::opt_text(s.site.clone()),
                    required(&s.producer, "producer")?,
                    pc,
                    insee,
                    epci,
                    inside,
                    quantity(s.distance_km, "distance_km")?,
                    V::opt_bool(s.organic),
                    V::opt_text(s.product.clone()),
                    V::opt_text(s.month.clone()),
                ]
            }
            Entity::Diagnostic(d) => vec![
                required(&d.farm, "farm")?,
                required(&d.method, "method")?,
                V::Text(d.method_version.clone()),
                required(&d.survey_year, "survey_year")?,
                quantity(d.area_ha, "area_ha")?,
                quantity(d.workers, "workers")?,
                V::opt_text(d.farm_type.clone()),
                V::opt_text(d.departement.clone()),
                V::Text(serde_json::to_string(&d.scores).unwrap_or_else(|_| "[]".into())),
            ],
            Entity::Participation(p) => vec![
                self.opt_person(&p.household, "household")?,
                V::opt_text(p.site.clone()),
                date(p.date, "date")?,
                required(&p.kind, "kind")?,
                V::opt_text(p.role.clone()),
                quantity(p.hours, "hours")?,
                V::opt_u32(p.attendees),
            ],
            Entity::Pathway(p) => {
                let entry = date(Some(p.entry), "entry")?;
                let exit = date(p.exit, "exit")?;
                if let (Some(entry), Some(exit)) =
                    (p.entry.to_time(), p.exit.and_then(Date::to_time))
                    && exit < entry
                {
                    return Err(Refusal {
                        reason: RejectReason::InconsistentDates,
                        field: "exit".into(),
                        detail: "exit before entry".into(),
                    });
                }
                vec![
                    self.person(&p.worker, "worker")?,
                    V::opt_text(p.site.clone()),
                    entry,
                    exit,
                    quantity(p.weekly_hours, "weekly_hours")?,
                    V::opt_text(p.exit_label.clone()),
                    V::opt_label(p.exit_category),
                    quantity(p.training_hours, "training_hours")?,
                ]
            }
            Entity::SurveyResponse(s) => {
                let [pc, insee, epci, inside] = self.location(&s.residence, "residence")?;
                let submitted = time::OffsetDateTime::from_unix_timestamp(s.submitted_at)
                    .ok()
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .ok_or(Refusal {
                        reason: RejectReason::InvalidDate,
                        field: "submitted_at".into(),
                        detail: "timestamp out of range".into(),
                    })?;
                vec![
                    self.opt_person(&s.household, "household")?,
                    V::opt_text(s.network.clone()),
                    V::opt_text(s.site.clone()),
                    required(&s.wave, "wave")?,
                    V::Text(submitted),
                    pc,
                    insee,
                    epci,
                    inside,
                    required(&s.instrument, "instrument")?,
                    V::Text(serde_json::to_string(&s.answers).unwrap_or_else(|_| "[]".into())),
                    V::opt_u32(s.raw_score),
                ]
            }
        })
    }
}

fn date(d: Option<Date>, field: &'static str) -> Refused<Value> {
    let Some(d) = d else { return Ok(Value::Null) };
    match d.to_time() {
        Some(t) => Ok(Value::Text(format!(
            "{:04}-{:02}-{:02}",
            t.year(),
            u8::from(t.month()),
            t.day()
        ))),
        None => Err(Refusal {
            reason: RejectReason::InvalidDate,
            field: field.into(),
            detail: "no such calendar date".into(),
        }),
    }
}

fn quantity(q: Option<f64>, field: &'static str) -> Refused<Value> {
    match q {
        None => Ok(Value::Null),
        Some(q) if q.is_finite() && q >= 0.0 => Ok(Value::Real(q)),
        Some(_) => Err(Refusal {
            reason: RejectReason::InvalidQuantity,
            field: field.into(),
            detail: "negative or not a number".into(),
        }),
    }
}

fn finite(q: Option<f64>, field: &'static str, reason: RejectReason) -> Refused<Value> {
    match q {
        None => Ok(Value::Null),
        Some(q) if q.is_finite() => Ok(Value::Real(q)),
        Some(_) => Err(Refusal {
            reason,
            field: field.into(),
            detail: "not a number".into(),
        }),
    }
}

fn required(s: &str, field: &'static str) -> Refused<Value> {
    if s.trim().is_empty() {
        Err(Refusal {
            reason: RejectReason::MissingRequired,
            field: field.into(),
            detail: "empty".into(),
        })
    } else {
        Ok(Value::Text(s.to_string()))
    }
}

fn dfc(s: &str) -> Value {
    if s.trim().is_empty() {
        Value::Text("unclassified".into())
    } else {
        Value::Text(s.to_string())
    }
}

/// A stable fingerprint of a row's values: equal values, equal hash.
pub fn row_hash(values: &[Value]) -> i64 {
    let mut h = Sha256::new();
    for v in values {
        match v {
            Value::Null => h.update([0u8]),
            Value::Int(i) => {
                h.update([1u8]);
                h.update(i.to_le_bytes());
            }
            Value::Real(f) => {
                h.update([2u8]);
                h.update(f.to_bits().to_le_bytes());
            }
            Value::Text(s) => {
                h.update([3u8]);
                h.update((s.len() as u64).to_le_bytes());
                h.update(s.as_bytes());
            }
            Value::Bool(b) => h.update([4u8, u8::from(*b)]),
        }
    }
    let out = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&out[..8]);
    i64::from_le_bytes(first)
}

/// The quarantine keeps only a hash of what was refused: the partner's key
/// (unique within the source) and the record's fields.
fn payload_hash(item: &Item) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(item.key.as_bytes());
    h.update(format!("{:?}", item.entity).as_bytes());
    h.finalize().into()
}
