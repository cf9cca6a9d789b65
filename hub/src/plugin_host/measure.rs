//! Sizes of what a plugin returns: each item and reject of a batch against
//! `max_record_bytes`, each of their strings against `max_string_bytes`.
//!
//! A serde serializer that writes nothing: it walks a record as
//! `vivres connector read` would print it, adds up its strings' bytes (plus
//! 8 per other value) and stops at the first string over the limit, naming
//! its field. Raw person identifiers print as `***`, so they are measured
//! apart (see [`person_ids`]).

use serde::Serialize;
use serde::ser::{self, Impossible};

use super::HostError;
use crate::model::{Batch, Entity, PersonId};

/// Bytes counted for a value that is not a string.
const SCALAR_BYTES: usize = 8;

pub fn check_batch(batch: &Batch, max_record: usize, max_string: usize) -> Result<(), HostError> {
    for (i, item) in batch.items.iter().enumerate() {
        let mut m = Measure::new(max_string);
        let mut total = measure(&mut m, item, || format!("items[{i}]"))?;
        for (field, person) in person_ids(&item.entity) {
            for (name, value) in [("scope", &person.scope), ("local_id", &person.local_id)] {
                if value.len() > max_string {
                    return Err(HostError::StringTooLong {
                        at: format!("items[{i}].{field}.{name}"),
                        bytes: value.len(),
                        max: max_string,
                    });
                }
            }
            total += person.local_id.len();
        }
        if total > max_record {
            return Err(HostError::RecordTooLarge {
                at: format!("items[{i}]"),
                bytes: total,
                max: max_record,
            });
        }
    }
    for (i, reject) in batch.rejects.iter().enumerate() {
        let mut m = Measure::new(max_string);
        let total = measure(&mut m, reject, || format!("rejects[{i}]"))?;
        if total > max_record {
            return Err(HostError::RecordTooLarge {
                at: format!("rejects[{i}]"),
                bytes: total,
                max: max_record,
            });
        }
    }
    // The batch's own strings (state, replaced origins) are bounded by the
    // per-call copy limit; the state is stored, so it gets the string limit.
    if let Some(state) = &batch.state
        && state.len() > max_string
    {
        return Err(HostError::StringTooLong {
            at: "state".into(),
            bytes: state.len(),
            max: max_string,
        });
    }
    Ok(())
}

fn measure<T: Serialize>(
    m: &mut Measure,
    value: &T,
    at: impl Fn() -> String,
) -> Result<usize, HostError> {
    match value.serialize(&mut *m) {
        Ok(()) => Ok(m.total),
        Err(TooLong { bytes }) => Err(HostError::StringTooLong {
            at: std::iter::once(at())
                .chain(m.path.iter().map(|s| s.to_string()))
                .collect::<Vec<_>>()
                .join("."),
            bytes,
            max: m.max_string,
        }),
    }
}

/// The raw person identifiers of an entity, with the field holding them.
fn person_ids(entity: &Entity) -> Vec<(&'static str, &PersonId)> {
    match entity {
        Entity::Household(h) => vec![("person", &h.person)],
        Entity::Distribution(d) => d.household.iter().map(|p| ("household", p)).collect(),
        Entity::OrderLine(o) => o.household.iter().map(|p| ("household", p)).collect(),
        Entity::Participation(p) => p.household.iter().map(|p| ("household", p)).collect(),
        Entity::Pathway(p) => vec![("worker", &p.worker)],
        Entity::SurveyResponse(s) => s.household.iter().map(|p| ("household", p)).collect(),
        Entity::Site(_) | Entity::Product(_) | Entity::Supply(_) | Entity::Diagnostic(_) => {
            Vec::new()
        }
    }
}

struct Measure {
    max_string: usize,
    total: usize,
    /// Field and variant names from the record down to the current value.
    path: Vec<&'static str>,
}

impl Measure {
    fn new(max_string: usize) -> Self {
        Measure {
            max_string,
            total: 0,
            path: Vec::new(),
        }
    }

    fn scalar(&mut self) -> Result<(), TooLong> {
        self.total += SCALAR_BYTES;
        Ok(())
    }

    fn nested<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), TooLong> {
        self.path.push(name);
        value.serialize(&mut *self)?;
        self.path.pop();
        Ok(())
    }
}

#[derive(Debug)]
struct TooLong {
    bytes: usize,
}

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a string of {} bytes", self.bytes)
    }
}

impl std::error::Error for TooLong {}

impl ser::Error for TooLong {
    fn custom<T: std::fmt::Display>(_msg: T) -> Self {
        // Our model's Serialize impls never fail; measure nothing more.
        TooLong { bytes: 0 }
    }
}

impl ser::Serializer for &mut Measure {
    type Ok = ();
    type Error = TooLong;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Impossible<(), TooLong>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, _: bool) -> Result<(), TooLong> {
        self.scalar()
    }
    fn serialize_i8(self, _: i8) -> Result<(), TooLong> {
        self.scalar()
    }
    fn serialize_i16(self, _: i16) -> Result<(), TooLong> {
        self.scalar()
    }
    fn serialize_i32(self, _: i32) -> Result<(), TooLong> {
        self.scalar()
    }
    fn serialize_i64(self, _: i64) -> Result<(), TooLong> {
        self.scalar()
    }
    fn serialize_u8(self, _: u8) -> Result<(), TooLong> {
        self.scalar()
    }
    fn serialize_u16(self, _: u16) -> Result<(), TooLong> {
        self.scalar()
    }
    fn serialize_u32(self, _: u32) -> Result<(), TooLong> {
        self.scalar()
    }
    fn serialize_u64(self, _: u64) -> Result<(), TooLong> {
        self.scalar()
    }
    fn serialize_f32(self, _: f32) -> Result<(), TooLong> {
        self.scalar()
    }
    fn serialize_f64(self, _: f64) -> Result<(), TooLong> {
        self.scalar()
    }
    fn serialize_char(self, _: char) -> Result<(), TooLong> {
        self.scalar()
    }
    fn serialize_str(self, v: &str) -> Result<(), TooLong> {
        if v.len() > self.max_string {
            return Err(TooLong { bytes: v.len() });
        }
        self.total += v.len();
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), TooLong> {
        self.total += v.len();
        Ok(())
    }
    fn serialize_none(self) -> Result<(), TooLong> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), TooLong> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), TooLong> {
        self.scalar()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), TooLong> {
        self.scalar()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<(), TooLong> {
        self.scalar()
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), TooLong> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), TooLong> {
        self.nested(variant, value)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, TooLong> {
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, TooLong> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, TooLong> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self, TooLong> {
        self.path.push(variant);
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, TooLong> {
        // No map in the model; measured as nothing rather than failing.
        Err(TooLong { bytes: 0 })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, TooLong> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self, TooLong> {
        self.path.push(variant);
        Ok(self)
    }
}

impl ser::SerializeSeq for &mut Measure {
    type Ok = ();
    type Error = TooLong;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), TooLong> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), TooLong> {
        Ok(())
    }
}

impl ser::SerializeTuple for &mut Measure {
    type Ok = ();
    type Error = TooLong;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), TooLong> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), TooLong> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for &mut Measure {
    type Ok = ();
    type Error = TooLong;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), TooLong> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), TooLong> {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for &mut Measure {
    type Ok = ();
    type Error = TooLong;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), TooLong> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), TooLong> {
        self.path.pop();
        Ok(())
    }
}

impl ser::SerializeStruct for &mut Measure {
    type Ok = ();
    type Error = TooLong;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), TooLong> {
        self.nested(key, value)
    }
    fn end(self) -> Result<(), TooLong> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut Measure {
    type Ok = ();
    type Error = TooLong;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), TooLong> {
        self.nested(key, value)
    }
    fn end(self) -> Result<(), TooLong> {
        self.path.pop();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Item, Participation, Reject, RejectReason};

    fn participation(kind: String, local_id: &str) -> Item {
        Item {
            key: "k1".into(),
            origin: None,
            line: None,
            cell: None,
            entity: Entity::Participation(Participation {
                household: Some(PersonId {
                    scope: "member".into(),
                    local_id: local_id.into(),
                }),
                site: None,
                date: None,
                kind,
                role: None,
                hours: Some(2.0),
                attendees: None,
            }),
        }
    }

    fn batch(items: Vec<Item>) -> Batch {
        Batch {
            items,
            ..Batch::default()
        }
    }

    #[test]
    fn a_long_string_is_named_by_its_field() {
        let b = batch(vec![
            participation("workshop".into(), "42"),
            participation("x".repeat(101), "42"),
        ]);
        let err = check_batch(&b, 10_000, 100).unwrap_err().to_string();
        assert!(
            err.contains("string of 101 bytes in `items[1].entity.Participation.kind`"),
            "{err}"
        );
        assert!(check_batch(&b, 10_000, 101).is_ok());
    }

    #[test]
    fn a_raw_person_id_counts_though_it_prints_as_stars() {
        let b = batch(vec![participation("w".into(), &"9".repeat(200))]);
        let err = check_batch(&b, 10_000, 100).unwrap_err().to_string();
        assert!(err.contains("items[0].household.local_id"), "{err}");
        let err = check_batch(&b, 150, 1_000).unwrap_err().to_string();
        assert!(
            err.contains("record of") && err.contains("items[0]"),
            "{err}"
        );
    }

    #[test]
    fn a_large_record_and_a_large_reject_are_refused() {
        let b = batch(vec![participation("a".repeat(60), "1")]);
        // 2 (key) + 60 (kind) + 6 (scope) + 8 (hours) + 1 (local id) + 8 (entity kind…)
        assert!(check_batch(&b, 1_000, 100).is_ok());
        assert!(check_batch(&b, 50, 100).is_err());
        let mut b = Batch::default();
        b.rejects.push(Reject {
            key: None,
            origin: Some("f.csv".into()),
            line: Some(3),
            cell: None,
            reason: RejectReason::InvalidDate,
            field: "date".into(),
            detail: "d".repeat(300),
            payload_hash: [0; 32],
            partner_key: None,
        });
        let err = check_batch(&b, 10_000, 100).unwrap_err().to_string();
        assert!(err.contains("rejects[0].detail"), "{err}");
    }
}
