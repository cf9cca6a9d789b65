//! From a connector's record to a warehouse row: validate dates and numbers,
//! pseudonymise person identifiers and keys, resolve residences. A record that
//! fails becomes a quarantine entry with its reason and field.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use crate::config::{Network, Territory};
use crate::geo::{Gazetteer, Residence};
use crate::model::{Date, Entity, Item, Location, PersonId, Reject, RejectReason};
use crate::privacy::Pseudonymiser;
use crate::warehouse::{Child, Row, Value};

/// What the normaliser needs to know about the source.
pub struct Context<'a> {
    pub source: &'a str,
    pub network: &'a str,
    /// EPCI SIRENs of the source's territory.
    pub territory_epcis: &'a [String],
    /// The other territories the source's sites may lie in
    /// (`site_territories`): a site whose commune lies in one of them is
    /// filed under it, and judged in or out of that territory.
    pub site_territories: &'a [&'a Territory],
    pub pseudonymiser: &'a Pseudonymiser,
    pub gazetteer: &'a Gazetteer,
}

struct Refusal {
    reason: RejectReason,
    field: Cow<'static, str>,
    detail: String,
    /// The fault is the row's, not the record's own cell (an order line's
    /// residence is its member's `CP`).
    of_row: bool,
}

type Refused<T> = Result<T, Refusal>;

impl Context<'_> {
    /// The row for `item`, or the reject that replaces it.
    // A reject is an ordinary outcome, built once per refused record: boxing it
    // would only add an allocation.
    #[allow(clippy::result_large_err)]
    pub fn normalise(&self, item: Item) -> Result<Row, Reject> {
        let kind = item.entity.kind();
        let key = self.pseudonymiser.record_key_bytes(self.source, &item.key);
        match self.values(&item.entity) {
            Ok(values) => {
                let children = children(&item.entity);
                Ok(Row {
                    kind,
                    hash: row_hash(&values, &children),
                    key,
                    origin: item.origin,
                    values,
                    children,
                })
            }
            Err(refusal) => Err(Reject {
                payload_hash: payload_hash(&item),
                key: Some(hex::encode(key)),
                origin: item.origin,
                // Where the connector read it (contract 0.2): the entry names
                // its line, and its cell unless the fault is the row's own.
                line: item.line,
                cell: if refusal.of_row { None } else { item.cell },
                reason: refusal.reason,
                field: refusal.field.into_owned(),
                detail: refusal.detail,
                partner_key: None,
            }),
        }
    }

    /// The pseudonym a plugin's reject is filed under (its raw key is never kept).
    pub fn reject_key(&self, key: &str) -> String {
        self.pseudonymiser.record_key(self.source, key)
    }

    fn person(&self, p: &PersonId, field: &'static str) -> Refused<Value> {
        if p.local_id.trim().is_empty() {
            return Err(Refusal {
                reason: RejectReason::MissingRequired,
                field: field.into(),
                detail: "empty person identifier".into(),
                of_row: false,
            });
        }
        Ok(Value::Text(self.pseudonymiser.person(self.network, p)))
    }

    /// A survey's household is pseudonymised in the network that knows it (the
    /// questionnaire says which), so its answers join that network's own records;
    /// without one, in the source's network.
    fn respondent(&self, s: &crate::model::SurveyResponse) -> Refused<Value> {
        let Some(p) = &s.household else {
            return Ok(Value::Null);
        };
        let network = match s.network.as_deref().map(str::trim) {
            None | Some("") => self.network,
            Some(id) => Network::parse(id)
                .ok_or_else(|| Refusal {
                    reason: RejectReason::UnknownLabel,
                    field: "network".into(),
                    detail: "not a network of the coalition".into(),
                    of_row: false,
                })?
                .as_str(),
        };
        if p.local_id.trim().is_empty() {
            return Err(Refusal {
                reason: RejectReason::MissingRequired,
                field: "household".into(),
                detail: "empty person identifier".into(),
                of_row: false,
            });
        }
        Ok(Value::Text(self.pseudonymiser.person(network, p)))
    }

    fn opt_person(&self, p: &Option<PersonId>, field: &'static str) -> Refused<Value> {
        match p {
            Some(p) => self.person(p, field),
            None => Ok(Value::Null),
        }
    }

    /// Residence columns: postcode, insee, epci, in-territory.
    fn location(&self, loc: &Option<Location>, field: &'static str) -> Refused<[Value; 4]> {
        Ok(columns(self.resolve(loc, field)?, self.territory_epcis))
    }

    /// The one door from a location to its commune and EPCI: the gazetteer.
    fn resolve(&self, loc: &Option<Location>, field: &'static str) -> Refused<Option<Residence>> {
        let Some(loc) = loc else { return Ok(None) };
        self.gazetteer.resolve(loc).map(Some).map_err(|e| Refusal {
            reason: e.reason,
            // `residence.postcode`, `location.commune`, `producer_location.insee`…
            field: format!("{field}.{}", e.field).into(),
            detail: e.detail,
            of_row: false,
        })
    }

    /// The territory a site is filed under when it is not the source's: the
    /// first of the source's `site_territories` its commune lies in, when it
    /// lies outside the source's own.
    fn site_territory(&self, r: &Residence) -> Option<&Territory> {
        if self.site_territories.is_empty() || r.in_territory(self.territory_epcis) != Some(false) {
            return None;
        }
        self.site_territories
            .iter()
            .copied()
            .find(|t| r.in_territory(&t.epci) == Some(true))
    }

    /// A site's columns, judged in or out of the territory it is filed
    /// under; that territory last when it is not the source's (a provenance
    /// value the row names itself, see `warehouse::Row::territory`).
    fn site_values(&self, s: &crate::model::Site) -> Refused<Vec<(&'static str, Value)>> {
        use Value as V;
        let r = self.resolve(&s.location, "location")?;
        let territory = r.as_ref().and_then(|r| self.site_territory(r));
        let epcis = territory.map_or(self.territory_epcis, |t| &t.epci);
        let [pc, insee, epci, inside] = columns(r, epcis);
        let mut values = vec![
            ("kind", V::label(s.kind)),
            ("name", V::opt_text(s.name.clone())),
            ("location_postcode", pc),
            ("location_insee", insee),
            ("location_epci", epci),
            ("location_in_territory", inside),
            ("site_group", V::opt_text(s.group.clone())),
            ("short_circuit", V::opt_bool(s.short_circuit)),
            ("siret", V::opt_text(s.siret.clone())),
        ];
        if let Some(t) = territory {
            values.push(("territory", V::Text(t.id.clone())));
        }
        Ok(values)
    }

    /// The residence of the household an aid or an order line is for, as its
    /// row gives it: resolved as the household's is, so that a row is refused
    /// whole in every stream that reads it; not stored with the record.
    fn row_residence(&self, loc: &Option<Location>) -> Refused<()> {
        self.location(loc, "residence")
            .map(|_| ())
            .map_err(|r| Refusal { of_row: true, ..r })
    }

    /// The entity's columns by name (`warehouse::schema` lists them; a unit
    /// test checks that each lands in its column).
    fn values(&self, entity: &Entity) -> Refused<Vec<(&'static str, Value)>> {
        use Value as V;
        Ok(match entity {
            Entity::Household(h) => {
                let [pc, insee, epci, inside] = self.location(&h.residence, "residence")?;
                let e = h.enrolment.as_ref();
                vec![
                    ("person", self.person(&h.person, "person")?),
                    ("size", V::opt_u32(h.size)),
                    ("adults", V::opt_u32(h.adults)),
                    ("children", V::opt_u32(h.children)),
                    ("composition", V::opt_label(h.composition)),
                    ("residence_postcode", pc),
                    ("residence_insee", insee),
                    ("residence_epci", epci),
                    ("residence_in_territory", inside),
                    ("income_band", V::opt_label(h.income)),
                    ("reste_a_vivre_band", V::opt_label(h.reste_a_vivre)),
                    ("rights_from", date(h.rights_from, "rights_from")?),
                    ("rights_to", date(h.rights_to, "rights_to")?),
                    ("monthly_cap_cents", V::opt_int(h.monthly_cap)),
                    ("programme", V::opt_text(e.map(|e| e.programme.clone()))),
                    (
                        "solidarity",
                        e.map(|e| V::Bool(e.solidarity)).unwrap_or(V::Null),
                    ),
                    ("price_paid_cents", V::opt_int(e.and_then(|e| e.price_paid))),
                    (
                        "reference_price_cents",
                        V::opt_int(e.and_then(|e| e.reference_price)),
                    ),
                    (
                        "prescriber",
                        V::opt_text(e.and_then(|e| e.prescriber.clone())),
                    ),
                    (
                        "enrolment_start",
                        date(e.and_then(|e| e.start), "enrolment.start")?,
                    ),
                    (
                        "enrolment_end",
                        date(e.and_then(|e| e.end), "enrolment.end")?,
                    ),
                    (
                        "enrolment_site",
                        V::opt_text(e.and_then(|e| e.site.clone())),
                    ),
                ]
            }
            Entity::Site(s) => self.site_values(s)?,
            Entity::Product(p) => vec![
                ("label", required(&p.label, "label")?),
                ("category", V::opt_text(p.category.clone())),
                ("dfc_type", dfc(&p.dfc_type)),
                ("unit", V::opt_text(p.unit.clone())),
                ("organic", V::opt_bool(p.organic)),
                ("producer", V::opt_text(p.producer.clone())),
                ("ean", V::opt_text(p.ean.clone())),
            ],
            Entity::Distribution(d) => {
                self.row_residence(&d.residence)?;
                vec![
                    ("household", self.opt_person(&d.household, "household")?),
                    (
                        "household_key",
                        d.household_key
                            .as_ref()
                            .map(|k| V::Key(self.pseudonymiser.record_key_bytes(self.source, k)))
                            .unwrap_or(V::Null),
                    ),
                    ("site", V::opt_text(d.site.clone())),
                    ("date", date(d.date, "date")?),
                    ("week", V::opt_text(d.week.clone())),
                    ("kind", V::label(d.kind)),
                    ("label", V::opt_text(d.label.clone())),
                    ("status", V::opt_label(d.status)),
                    ("amount_cents", V::opt_int(d.amount)),
                    ("quantity_kg", quantity(d.quantity_kg, "quantity_kg")?),
                    ("contents", V::opt_text(d.contents.clone())),
                    ("ordinal", V::Int(i64::from(d.ordinal))),
                ]
            }
            Entity::OrderLine(o) => {
                if !o.quantity.is_finite() {
                    return Err(Refusal {
                        reason: RejectReason::InvalidQuantity,
                        field: "quantity".into(),
                        detail: "not a number".into(),
                        of_row: false,
                    });
                }
                self.row_residence(&o.residence)?;
                vec![
                    ("household", self.opt_person(&o.household, "household")?),
                    ("site", V::opt_text(o.site.clone())),
                    ("channel", V::label(o.channel)),
                    ("date", date(o.date, "date")?),
                    ("time", V::opt_text(o.time.clone())),
                    ("month", V::opt_text(o.month.clone())),
                    ("product", required(&o.product, "product")?),
                    ("dfc_type", dfc(&o.dfc_type)),
                    ("quantity", V::Real(o.quantity)),
                    ("unit", V::opt_text(o.unit.clone())),
                    ("unit_price_paid_cents", V::opt_int(o.unit_price_paid)),
                    (
                        "unit_reference_price_cents",
                        V::opt_int(o.unit_reference_price),
                    ),
                    ("price_paid_cents", V::opt_int(o.price_paid)),
                    ("reference_price_cents", V::opt_int(o.reference_price)),
                    (
                        "discount_percent",
                        finite(
                            o.discount_percent,
                            "discount_percent",
                            RejectReason::InvalidAmount,
                        )?,
                    ),
                    ("food_bank_donation", V::Bool(o.food_bank_donation)),
                ]
            }
            Entity::Supply(s) => {
                let [pc, insee, epci, inside] =
                    self.location(&s.producer_location, "producer_location")?;
                vec![
                    ("site", V::opt_text(s.site.clone())),
                    ("producer", required(&s.producer, "producer")?),
                    ("producer_postcode", pc),
                    ("producer_insee", insee),
                    ("producer_epci", epci),
                    ("producer_in_territory", inside),
                    ("distance_km", quantity(s.distance_km, "distance_km")?),
                    ("organic", V::opt_bool(s.organic)),
                    ("product", V::opt_text(s.product.clone())),
                    ("month", V::opt_text(s.month.clone())),
                ]
            }
            Entity::Diagnostic(d) => {
                for score in &d.scores {
                    if score.value.is_some_and(|v| !v.is_finite())
                        || score.max.is_some_and(|v| !v.is_finite())
                    {
                        return Err(Refusal {
                            reason: RejectReason::InvalidAmount,
                            field: format!("scores.{}", score.code).into(),
                            detail: "not a number".into(),
                            of_row: false,
                        });
                    }
                }
                vec![
                    ("farm", required(&d.farm, "farm")?),
                    ("method", required(&d.method, "method")?),
                    ("method_version", V::Text(d.method_version.clone())),
                    ("survey_year", required(&d.survey_year, "survey_year")?),
                    ("area_ha", quantity(d.area_ha, "area_ha")?),
                    ("workers", quantity(d.workers, "workers")?),
                    ("farm_type", V::opt_text(d.farm_type.clone())),
                    ("departement", V::opt_text(d.departement.clone())),
                ]
            }
            Entity::Participation(p) => vec![
                ("household", self.opt_person(&p.household, "household")?),
                ("site", V::opt_text(p.site.clone())),
                ("date", date(p.date, "date")?),
                ("kind", required(&p.kind, "kind")?),
                ("role", V::opt_text(p.role.clone())),
                ("hours", quantity(p.hours, "hours")?),
                ("attendees", V::opt_u32(p.attendees)),
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
                        of_row: false,
                    });
                }
                vec![
                    ("worker", self.person(&p.worker, "worker")?),
                    ("site", V::opt_text(p.site.clone())),
                    ("entry_date", entry),
                    ("exit_date", exit),
                    ("weekly_hours", quantity(p.weekly_hours, "weekly_hours")?),
                    ("exit_label", V::opt_text(p.exit_label.clone())),
                    ("exit_category", V::opt_label(p.exit_category)),
                    (
                        "training_hours",
                        quantity(p.training_hours, "training_hours")?,
                    ),
                ]
            }
            Entity::SurveyResponse(s) => {
                let [pc, insee, epci, inside] = self.location(&s.residence, "residence")?;
                let submitted = time::OffsetDateTime::from_unix_timestamp(s.submitted_at)
                    .ok()
                    .filter(|t| (1900..=9999).contains(&t.year()))
                    .ok_or(Refusal {
                        reason: RejectReason::InvalidDate,
                        field: "submitted_at".into(),
                        detail: "timestamp out of range".into(),
                        of_row: false,
                    })?;
                vec![
                    ("household", self.respondent(s)?),
                    ("respondent_network", V::opt_text(s.network.clone())),
                    ("site", V::opt_text(s.site.clone())),
                    ("wave", required(&s.wave, "wave")?),
                    ("submitted_at", V::Timestamp(submitted)),
                    ("residence_postcode", pc),
                    ("residence_insee", insee),
                    ("residence_epci", epci),
                    ("residence_in_territory", inside),
                    ("instrument", required(&s.instrument, "instrument")?),
                    ("raw_score", V::opt_u32(s.raw_score)),
                ]
            }
        })
    }
}

/// A resolved location's columns: postcode, insee, epci, and whether it lies
/// in the territory made of `epcis` (all NULL without a location).
fn columns(r: Option<Residence>, epcis: &[String]) -> [Value; 4] {
    let Some(r) = r else {
        return [Value::Null, Value::Null, Value::Null, Value::Null];
    };
    let in_territory = r.in_territory(epcis).map_or(Value::Null, Value::Bool);
    [
        Value::opt_text(r.postcode),
        Value::opt_text(r.insee),
        Value::opt_text(r.epci_siren),
        in_territory,
    ]
}

/// Rows of the entity's child table: a diagnostic's scores, a survey
/// response's answers.
fn children(entity: &Entity) -> Vec<Child> {
    match entity {
        Entity::Diagnostic(d) => d
            .scores
            .iter()
            .map(|s| Child {
                table: "diagnostic_scores",
                values: vec![
                    ("level", Value::Text(s.level.as_str().to_string())),
                    ("code", Value::Text(s.code.clone())),
                    ("value", s.value.map(Value::Real).unwrap_or(Value::Null)),
                    ("max", s.max.map(Value::Real).unwrap_or(Value::Null)),
                ],
            })
            .collect(),
        Entity::SurveyResponse(s) => s
            .answers
            .iter()
            .map(|a| Child {
                table: "survey_answers",
                values: vec![
                    ("item", Value::Text(a.question.clone())),
                    ("answer", Value::Text(a.value.clone())),
                ],
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn date(d: Option<Date>, field: &'static str) -> Refused<Value> {
    let Some(d) = d else { return Ok(Value::Null) };
    match d.to_time() {
        Some(t) => Ok(Value::Date(t)),
        None => Err(Refusal {
            reason: RejectReason::InvalidDate,
            field: field.into(),
            detail: "no such calendar date".into(),
            of_row: false,
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
            of_row: false,
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
            of_row: false,
        }),
    }
}

fn required(s: &str, field: &'static str) -> Refused<Value> {
    if s.trim().is_empty() {
        Err(Refusal {
            reason: RejectReason::MissingRequired,
            field: field.into(),
            detail: "empty".into(),
            of_row: false,
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

/// A stable fingerprint of a row's values and children: equal values, equal hash.
pub fn row_hash(values: &[(&'static str, Value)], children: &[Child]) -> i64 {
    let mut h = Sha256::new();
    for (_, v) in values {
        hash_value(&mut h, v);
    }
    for c in children {
        h.update([9u8]);
        h.update(c.table.as_bytes());
        for (_, v) in &c.values {
            hash_value(&mut h, v);
        }
    }
    let out = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&out[..8]);
    i64::from_le_bytes(first)
}

fn hash_value(h: &mut Sha256, v: &Value) {
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
        Value::Date(d) => {
            h.update([5u8]);
            h.update(d.to_julian_day().to_le_bytes());
        }
        Value::Timestamp(t) => {
            h.update([6u8]);
            h.update(t.unix_timestamp_nanos().to_le_bytes());
        }
        Value::Key(k) => {
            h.update([7u8]);
            h.update(k);
        }
    }
}

/// The quarantine keeps only a hash of what was refused: the partner's key
/// (unique within the source) and the record's fields.
fn payload_hash(item: &Item) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(item.key.as_bytes());
    h.update(format!("{:?}", item.entity).as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::model::{Channel, Household, OrderLine};

    fn refuse(item: Item) -> Reject {
        let pseudonymiser =
            Pseudonymiser::new(&Secret::new("a test key of thirty-two bytes or more")).unwrap();
        let ctx = Context {
            source: "s",
            network: "vrac",
            territory_epcis: &[],
            site_territories: &[],
            pseudonymiser: &pseudonymiser,
            gazetteer: crate::geo::gazetteer().unwrap(),
        };
        ctx.normalise(item).expect_err("refused")
    }

    fn at(entity: Entity, cell: Option<&str>) -> Item {
        Item {
            key: "k".into(),
            origin: Some("commande_g1_2024-03.xlsx".into()),
            line: Some(12),
            cell: cell.map(str::to_string),
            entity,
        }
    }

    fn order_line(postcode: &str) -> OrderLine {
        OrderLine {
            household: Some(PersonId {
                scope: "g1".into(),
                local_id: "7".into(),
            }),
            site: None,
            channel: Channel::BuyingGroup,
            date: None,
            time: None,
            month: Some("2024-03".into()),
            product: "Lentilles".into(),
            dfc_type: String::new(),
            quantity: 1.0,
            unit: None,
            unit_price_paid: None,
            unit_reference_price: None,
            price_paid: None,
            reference_price: None,
            discount_percent: None,
            food_bank_donation: false,
            residence: Some(Location {
                postcode: Some(postcode.into()),
                commune: None,
                insee: None,
            }),
        }
    }

    /// Contract 0.2: what the host refuses is quarantined with the item's
    /// file and line; with its cell when the fault is the record's own, not
    /// the row's (an order line's residence is its member's `CP`).
    #[test]
    fn a_refusal_names_the_items_file_line_and_cell() {
        let r = refuse(at(
            Entity::OrderLine(order_line("99999")),
            Some("Commande!F12"),
        ));
        assert_eq!(r.reason, RejectReason::UnknownPostcode);
        assert_eq!(r.field, "residence.postcode");
        assert_eq!(
            (r.origin.as_deref(), r.line, r.cell.as_deref()),
            (Some("commande_g1_2024-03.xlsx"), Some(12), None)
        );

        let mut bad_quantity = order_line("69003");
        bad_quantity.quantity = f64::NAN;
        let r = refuse(at(Entity::OrderLine(bad_quantity), Some("Commande!F12")));
        assert_eq!(r.reason, RejectReason::InvalidQuantity);
        assert_eq!(
            (r.line, r.cell.as_deref()),
            (Some(12), Some("Commande!F12"))
        );

        let mut h = Household {
            person: PersonId {
                scope: "g1".into(),
                local_id: "7".into(),
            },
            size: None,
            adults: None,
            children: None,
            composition: None,
            residence: None,
            income: None,
            reste_a_vivre: None,
            rights_from: Some(Date {
                year: 2024,
                month: 2,
                day: 31,
            }),
            rights_to: None,
            monthly_cap: None,
            enrolment: None,
        };
        let r = refuse(at(Entity::Household(h.clone()), None));
        assert_eq!((r.reason, r.line), (RejectReason::InvalidDate, Some(12)));
        h.rights_from = None;
        h.residence = Some(Location {
            postcode: Some("99999".into()),
            commune: None,
            insee: None,
        });
        let r = refuse(at(Entity::Household(h), None));
        assert_eq!(
            (r.reason, r.line),
            (RejectReason::UnknownPostcode, Some(12))
        );
    }
}
