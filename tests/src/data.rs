//! The data one garden serves, generated deterministically from (seed, garden id).
//!
//! Records are kept as compact structs sorted by their keyset position
//! `(instant, number)`: a page is a binary search and a slice, and a million deliveries
//! stay a few tens of megabytes. Ids are zero-padded to one width per garden, so the
//! numeric order of `number` is also the string order of `id` that partners promise.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use rand::seq::{SliceRandom, index};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::ser::{Serialize, SerializeStruct, Serializer};
use time::{Date, Duration, OffsetDateTime};

use crate::places;
use crate::{Expected, Garden};

/// 2024-01-08T08:00:00Z: the first subscription update.
const SUBSCRIPTIONS_EPOCH: i64 = 1_704_700_800;
/// 2024-01-15T08:00:00Z: the first delivery update.
const DELIVERIES_EPOCH: i64 = 1_705_305_600;

/// How a partner rendered an instant: the same instant appears with different offsets,
/// so clients must compare instants, not strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Offset {
    Z,
    Utc,
    Paris,
    ParisSummer,
}

impl Offset {
    fn pick(rng: &mut ChaCha8Rng) -> Self {
        match rng.random_range(0..4u8) {
            0 => Offset::Z,
            1 => Offset::Utc,
            2 => Offset::Paris,
            _ => Offset::ParisSummer,
        }
    }
}

/// Renders `secs` (Unix time) at second precision with the given offset.
pub(crate) fn render_instant(secs: i64, offset: Offset) -> String {
    let (shift, suffix) = match offset {
        Offset::Z => (0, "Z"),
        Offset::Utc => (0, "+00:00"),
        Offset::Paris => (3600, "+01:00"),
        Offset::ParisSummer => (7200, "+02:00"),
    };
    // Our instants lie in 2024-2030; out of range can only mean a bug, shown as epoch.
    let local =
        OffsetDateTime::from_unix_timestamp(secs + shift).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let mut out = String::with_capacity(25);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}",
        local.year(),
        u8::from(local.month()),
        local.day(),
        local.hour(),
        local.minute(),
        local.second(),
        suffix
    );
    out
}

fn render_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Collected,
    Absent,
    Postponed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Collected => "collected",
            Status::Absent => "absent",
            Status::Postponed => "postponed",
        }
    }

    fn next(self) -> Self {
        match self {
            Status::Collected => Status::Absent,
            Status::Absent => Status::Postponed,
            Status::Postponed => Status::Collected,
        }
    }
}

pub(crate) struct Subscription {
    pub(crate) at: i64,
    pub(crate) no: u32,
    offset: Offset,
    member_no: String,
    member_name: String,
    household_size: u8,
    postcode: String,
    city: &'static str,
    formula: &'static str,
    solidarity: bool,
    price_eur: String,
    reference_price_eur: String,
    prescriber: &'static str,
    start: String,
    end: Option<String>,
    drop_point: &'static str,
}

/// 40 bytes: a million of these is cheap to hold and to generate.
pub(crate) struct Delivery {
    pub(crate) at: i64,
    pub(crate) no: u32,
    subscription: u32,
    /// Tenths of a kilogram; negative ones are the `invalid_quantity` records.
    basket_dkg: Option<i32>,
    contents: u16,
    year: u16,
    week: u8,
    status: Status,
    offset: Offset,
}

/// Something an item has in keyset order.
pub(crate) trait Keyed {
    fn key(&self) -> (i64, u32);
}

impl Keyed for Subscription {
    fn key(&self) -> (i64, u32) {
        (self.at, self.no)
    }
}

impl Keyed for Delivery {
    fn key(&self) -> (i64, u32) {
        (self.at, self.no)
    }
}

/// One garden's data, as served now.
pub(crate) struct GardenData {
    pub(crate) garden: Garden,
    seed: u64,
    ties: usize,
    sub_width: usize,
    delivery_width: usize,
    pub(crate) subscriptions: Vec<Subscription>,
    pub(crate) deliveries: Vec<Delivery>,
    contents: Vec<String>,
    pub(crate) expected: Expected,
    changes: u64,
}

/// The irregularities a subscription can carry; at most one per record, so each
/// quarantined record has exactly one expected reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quirk {
    None,
    LostLeadingZero,
    SpacedPostcode,
    Cedex,
    UniqueCityOnly,
    ThousandsPrice,
    UnknownPostcode,
    UnresolvedLocation,
    InvalidAmount,
    InvalidDate,
    MissingRequired,
}

/// Each quirk and its share of subscriptions. Below [`MIN_QUIRKY`] subscriptions none
/// is applied; from there each applies to at least one record, so small test data
/// still shows every quirk.
const QUIRK_RATES: &[(Quirk, f64)] = &[
    (Quirk::LostLeadingZero, 0.02),
    (Quirk::SpacedPostcode, 0.02),
    (Quirk::Cedex, 0.02),
    (Quirk::UniqueCityOnly, 0.01),
    (Quirk::ThousandsPrice, 0.01),
    (Quirk::UnknownPostcode, 0.01),
    (Quirk::UnresolvedLocation, 0.01),
    (Quirk::InvalidAmount, 0.01),
    (Quirk::InvalidDate, 0.01),
    (Quirk::MissingRequired, 0.01),
];
pub(crate) const MIN_QUIRKY: usize = 10;

/// Share of deliveries with a negative `basket_kg`, applied from [`MIN_NEGATIVE`] on.
const NEGATIVE_RATE: f64 = 0.005;
pub(crate) const MIN_NEGATIVE: usize = 100;

fn quirk_count(n: usize, rate: f64, min_n: usize) -> usize {
    if n < min_n {
        0
    } else {
        ((n as f64 * rate).round() as usize).max(1)
    }
}

/// Mixes the seed and the garden id (FNV-1a, stable across Rust versions unlike
/// `DefaultHasher`) so each garden has its own, reproducible stream.
fn garden_seed(seed: u64, garden: &str, salt: u64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in garden.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt.wrapping_mul(0xd6e8_feb8_6659_fd93)
}

fn width(n: usize, min: usize) -> usize {
    n.max(1).to_string().len().max(min)
}

/// Instants for `n` items in keyset order: groups of `ties` items share a second,
/// groups are 1 to 120 s apart.
fn instants(rng: &mut ChaCha8Rng, n: usize, ties: usize, from: i64) -> Vec<i64> {
    let mut out = Vec::with_capacity(n);
    let mut at = from;
    for i in 0..n {
        if i > 0 && i % ties == 0 {
            at += rng.random_range(1..=120);
        }
        out.push(at);
    }
    out
}

/// Assigns record numbers 1..=n to instants in a shuffled order, so that `updated_at`
/// order is unrelated to id order, then sorts each tie group by number: the result is
/// in keyset order without a full sort.
fn shuffled_numbers(rng: &mut ChaCha8Rng, n: usize, ties: usize) -> Vec<u32> {
    let mut numbers: Vec<u32> = (1..=n as u32).collect();
    numbers.shuffle(rng);
    for group in numbers.chunks_mut(ties) {
        group.sort_unstable();
    }
    numbers
}

/// "12.50", "12,50", "12,50 €" (with a space or U+00A0), and thousands grouped by a
/// space, U+00A0 or U+202F: the formats partners' spreadsheets produce.
fn render_price(rng: &mut ChaCha8Rng, cents: u32) -> String {
    let euros = cents / 100;
    let cents = cents % 100;
    let integer = if euros >= 1000 {
        let sep = ["\u{202f}", "\u{a0}", " "][rng.random_range(0..3)];
        format!("{}{sep}{:03}", euros / 1000, euros % 1000)
    } else {
        euros.to_string()
    };
    match rng.random_range(0..5u8) {
        0 if euros < 1000 => format!("{integer}.{cents:02}"),
        1 => format!("{integer},{cents:02} €"),
        2 => format!("{integer},{cents:02}\u{a0}€"),
        _ => format!("{integer},{cents:02}"),
    }
}

fn spaced(postcode: &str) -> String {
    let (dept, rest) = postcode.split_at(2);
    format!("{dept} {rest}")
}

impl GardenData {
    pub(crate) fn generate(seed: u64, size: usize, ties: usize, garden: Garden) -> Self {
        let ties = ties.max(1);
        let mut rng = ChaCha8Rng::seed_from_u64(garden_seed(seed, &garden.id, 0));
        let territory = garden.territory;
        let n_subs = size / 20 + 1;
        let sub_width = width(n_subs, 4);
        let delivery_width = width(size, 7);

        let mut expected = Expected {
            subscriptions_total: n_subs,
            deliveries_total: size,
            ..Expected::default()
        };

        // Quirks go to distinct, randomly chosen subscription numbers.
        let mut quirks = vec![Quirk::None; n_subs];
        let counts: Vec<(Quirk, usize)> = QUIRK_RATES
            .iter()
            .map(|&(quirk, rate)| (quirk, quirk_count(n_subs, rate, MIN_QUIRKY)))
            .collect();
        let total: usize = counts.iter().map(|c| c.1).sum::<usize>().min(n_subs);
        let mut chosen = index::sample(&mut rng, n_subs, total).into_iter();
        for (quirk, count) in counts {
            for _ in 0..count {
                if let Some(i) = chosen.next() {
                    quirks[i] = quirk;
                }
            }
        }

        let numbers = shuffled_numbers(&mut rng, n_subs, ties);
        let stamps = instants(&mut rng, n_subs, ties, SUBSCRIPTIONS_EPOCH);
        let first_start = time::macros::date!(2023 - 09 - 01);
        let mut subscriptions = Vec::with_capacity(n_subs);
        let mut person_values = BTreeSet::new();
        for (no, at) in numbers.into_iter().zip(stamps) {
            let quirk = quirks[no as usize - 1];
            let id = format!("SUB-2024-{no:0sub_width$}");
            let member_no = if quirk == Quirk::MissingRequired {
                String::new()
            } else {
                format!("M-{}-{no:05}", garden.id)
            };
            let member_name = format!(
                "{} {}",
                places::FIRST_NAMES[rng.random_range(0..places::FIRST_NAMES.len())],
                places::LAST_NAMES[rng.random_range(0..places::LAST_NAMES.len())]
            );
            if !member_no.is_empty() {
                person_values.insert(member_no.clone());
            }
            person_values.insert(member_name.clone());

            let inside = places::inside(territory);
            let (postcode, city) = if rng.random_bool(0.12) {
                let outside = places::outside(territory);
                outside[rng.random_range(0..outside.len())]
            } else {
                inside[rng.random_range(0..inside.len())]
            };
            let (postcode, city, resolves_to) = match quirk {
                Quirk::LostLeadingZero => (
                    places::LOST_ZERO.0[1..].to_string(),
                    places::LOST_ZERO.1,
                    Some(places::LOST_ZERO.0),
                ),
                Quirk::SpacedPostcode => {
                    let (p, c) = inside[rng.random_range(0..inside.len())];
                    (spaced(p), c, Some(p))
                }
                Quirk::Cedex => {
                    let (p, c) = inside[rng.random_range(0..inside.len())];
                    (format!("{p} CEDEX"), c, Some(p))
                }
                Quirk::UniqueCityOnly => {
                    let (p, c) = places::unique_city(territory);
                    (String::new(), c, Some(p))
                }
                Quirk::UnknownPostcode => ("99999".to_string(), "", None),
                Quirk::UnresolvedLocation => {
                    (String::new(), places::ambiguous_city(territory), None)
                }
                _ => (postcode.to_string(), city, None),
            };
            if let Some(p) = resolves_to {
                expected
                    .normalised_postcodes
                    .insert(id.clone(), p.to_string());
            }

            let (formula, reference_cents) = match rng.random_range(0..3u8) {
                0 => ("petit", 950),
                1 => ("moyen", 1400),
                _ => ("grand", 1950),
            };
            let solidarity = rng.random_bool(0.4);
            let (reference_cents, price_cents) = if quirk == Quirk::ThousandsPrice {
                // A collective order (a social grocery buying baskets by the dozen):
                // the one realistic way a basket price passes 1,000 €.
                let total = reference_cents * rng.random_range(55..120u32);
                (total, total)
            } else if solidarity {
                let pays = if rng.random_bool(0.5) { 50 } else { 30 };
                (reference_cents, reference_cents * pays / 100)
            } else {
                (reference_cents, reference_cents)
            };
            let price_eur = if quirk == Quirk::InvalidAmount {
                "douze".to_string()
            } else {
                render_price(&mut rng, price_cents)
            };
            let reference_price_eur = render_price(&mut rng, reference_cents);
            let prescriber = if solidarity {
                places::PRESCRIBERS[rng.random_range(0..places::PRESCRIBERS.len())]
            } else {
                "Adhésion directe"
            };
            let start_date = first_start + Duration::days(rng.random_range(0..660));
            let start = if quirk == Quirk::InvalidDate {
                "2024-02-31".to_string()
            } else {
                render_date(start_date)
            };
            let end = rng
                .random_bool(0.3)
                .then(|| render_date(start_date + Duration::days(rng.random_range(90..365))));
            let drop_points = places::drop_points(territory);

            let reason = match quirk {
                Quirk::UnknownPostcode => Some("unknown_postcode"),
                Quirk::UnresolvedLocation => Some("unresolved_location"),
                Quirk::InvalidAmount => Some("invalid_amount"),
                Quirk::InvalidDate => Some("invalid_date"),
                Quirk::MissingRequired => Some("missing_required"),
                _ => None,
            };
            if let Some(reason) = reason {
                *expected
                    .subscriptions_quarantined
                    .entry(reason.to_string())
                    .or_default() += 1;
                expected.quarantined_ids.insert(id, reason.to_string());
            }

            subscriptions.push(Subscription {
                at,
                no,
                offset: Offset::pick(&mut rng),
                member_no,
                member_name,
                household_size: [1, 1, 2, 2, 2, 3, 3, 4, 4, 5, 6, 7][rng.random_range(0..12)],
                postcode,
                city,
                formula,
                solidarity,
                price_eur,
                reference_price_eur,
                prescriber,
                start,
                end,
                drop_point: drop_points[rng.random_range(0..drop_points.len())],
            });
        }
        expected.raw_person_values = person_values.into_iter().collect();

        // A fixed table of basket contents: deliveries point into it (2 bytes each).
        let contents: Vec<String> = (0..256)
            .map(|_| {
                let mut produce: Vec<_> = places::PRODUCE.to_vec();
                produce.shuffle(&mut rng);
                let count = rng.random_range(3..=5);
                let mut text = String::new();
                for (i, (label, quantity)) in produce.into_iter().take(count).enumerate() {
                    if i == 0 {
                        let mut chars = label.chars();
                        if let Some(first) = chars.next() {
                            text.extend(first.to_uppercase());
                            text.push_str(chars.as_str());
                        }
                    } else {
                        text.push_str(", ");
                        text.push_str(label);
                    }
                    text.push(' ');
                    text.push_str(quantity);
                }
                text
            })
            .collect();

        let negatives = quirk_count(size, NEGATIVE_RATE, MIN_NEGATIVE);
        let mut negative = vec![false; size];
        for i in index::sample(&mut rng, size, negatives.min(size)) {
            negative[i] = true;
        }
        let numbers = shuffled_numbers(&mut rng, size, ties);
        let stamps = instants(&mut rng, size, ties, DELIVERIES_EPOCH);
        let mut deliveries = Vec::with_capacity(size);
        for (no, at) in numbers.into_iter().zip(stamps) {
            let status = match rng.random_range(0..100u8) {
                0..80 => Status::Collected,
                80..92 => Status::Absent,
                _ => Status::Postponed,
            };
            let basket_dkg = if negative[no as usize - 1] {
                Some(-rng.random_range(5..60))
            } else if rng.random_bool(0.05) {
                None
            } else {
                Some(rng.random_range(20..90))
            };
            deliveries.push(Delivery {
                at,
                no,
                subscription: rng.random_range(1..=n_subs as u32),
                basket_dkg,
                contents: rng.random_range(0..contents.len() as u16),
                year: rng.random_range(2024..=2025),
                week: rng.random_range(1..=52),
                status,
                offset: Offset::pick(&mut rng),
            });
        }
        if negatives > 0 {
            expected
                .deliveries_quarantined
                .insert("invalid_quantity".to_string(), negatives);
            for (i, _) in negative.iter().enumerate().filter(|(_, n)| **n) {
                let id = format!("DLV-2024-{:0delivery_width$}", i + 1);
                expected
                    .quarantined_ids
                    .insert(id, "invalid_quantity".to_string());
            }
        }

        GardenData {
            garden,
            seed,
            ties,
            sub_width,
            delivery_width,
            subscriptions,
            deliveries,
            contents,
            expected,
            changes: 0,
        }
    }

    /// The members' numbers as served (empty for the `missing_required` quirk).
    pub(crate) fn member_nos(&self) -> impl Iterator<Item = &str> {
        self.subscriptions.iter().map(|s| s.member_no.as_str())
    }

    pub(crate) fn delivery_id(&self, no: u32) -> String {
        format!("DLV-2024-{no:0w$}", w = self.delivery_width)
    }

    /// Changes `round(share × deliveries)` deliveries (status and basket) and moves them
    /// after every existing instant, as an edit in the partner's tool would.
    pub(crate) fn change_share(&mut self, share: f64) -> Vec<String> {
        let n = self.deliveries.len();
        let count = ((share.clamp(0.0, 1.0) * n as f64).round() as usize).min(n);
        self.changes += 1;
        let mut rng =
            ChaCha8Rng::seed_from_u64(garden_seed(self.seed, &self.garden.id, self.changes));
        let mut picked = vec![false; n];
        for i in index::sample(&mut rng, n, count) {
            picked[i] = true;
        }
        let latest = self
            .deliveries
            .iter()
            .map(|d| d.at)
            .chain(self.subscriptions.iter().map(|s| s.at))
            .max()
            .unwrap_or(DELIVERIES_EPOCH);

        let mut changed = Vec::with_capacity(count);
        let mut kept = Vec::with_capacity(n - count);
        for (delivery, picked) in std::mem::take(&mut self.deliveries).into_iter().zip(picked) {
            if picked {
                changed.push(delivery);
            } else {
                kept.push(delivery);
            }
        }
        changed.sort_unstable_by_key(|d| d.no);
        let stamps = instants(&mut rng, count, self.ties, latest + 1);
        for (delivery, at) in changed.iter_mut().zip(stamps) {
            delivery.at = at;
            delivery.offset = Offset::pick(&mut rng);
            delivery.status = delivery.status.next();
            // A negative basket stays negative so the expected quarantine is unchanged.
            delivery.basket_dkg = match delivery.basket_dkg {
                None => Some(25),
                Some(kg) if kg < 0 => Some(kg - 10),
                Some(kg) => Some(kg + 5),
            };
        }
        let ids = changed.iter().map(|d| self.delivery_id(d.no)).collect();
        kept.extend(changed);
        self.deliveries = kept;
        ids
    }
}

/// A record as the partner's JSON renders it.
pub(crate) struct View<'a, T> {
    pub(crate) item: &'a T,
    pub(crate) data: &'a GardenData,
}

impl Serialize for View<'_, Subscription> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let s = self.item;
        let mut out = serializer.serialize_struct("Subscription", 16)?;
        out.serialize_field(
            "id",
            &format!("SUB-2024-{:0w$}", s.no, w = self.data.sub_width),
        )?;
        out.serialize_field("member_no", &s.member_no)?;
        out.serialize_field("member_name", &s.member_name)?;
        out.serialize_field("household_size", &s.household_size)?;
        out.serialize_field("postcode", &s.postcode)?;
        out.serialize_field("city", s.city)?;
        out.serialize_field("formula", s.formula)?;
        out.serialize_field("solidarity", &s.solidarity)?;
        out.serialize_field("price_eur", &s.price_eur)?;
        out.serialize_field("reference_price_eur", &s.reference_price_eur)?;
        out.serialize_field("prescriber", s.prescriber)?;
        out.serialize_field("start", &s.start)?;
        out.serialize_field("end", &s.end)?;
        out.serialize_field("drop_point", s.drop_point)?;
        out.serialize_field("updated_at", &render_instant(s.at, s.offset))?;
        out.end()
    }
}

impl Serialize for View<'_, Delivery> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let d = self.item;
        let mut out = serializer.serialize_struct("Delivery", 7)?;
        out.serialize_field("id", &self.data.delivery_id(d.no))?;
        out.serialize_field(
            "subscription_id",
            &format!("SUB-2024-{:0w$}", d.subscription, w = self.data.sub_width),
        )?;
        out.serialize_field("week", &format!("{}-W{:02}", d.year, d.week))?;
        out.serialize_field("status", d.status.as_str())?;
        out.serialize_field("basket_kg", &d.basket_dkg.map(|dkg| f64::from(dkg) / 10.0))?;
        let contents = self
            .data
            .contents
            .get(usize::from(d.contents))
            .map_or("", String::as_str);
        out.serialize_field("contents", contents)?;
        out.serialize_field("updated_at", &render_instant(d.at, d.offset))?;
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Territory;
    use std::collections::BTreeMap;

    #[test]
    fn renders_the_same_instant_with_each_offset() {
        let secs = 1_704_700_800;
        assert_eq!(render_instant(secs, Offset::Z), "2024-01-08T08:00:00Z");
        assert_eq!(
            render_instant(secs, Offset::Utc),
            "2024-01-08T08:00:00+00:00"
        );
        assert_eq!(
            render_instant(secs, Offset::Paris),
            "2024-01-08T09:00:00+01:00"
        );
        assert_eq!(
            render_instant(secs, Offset::ParisSummer),
            "2024-01-08T10:00:00+02:00"
        );
    }

    #[test]
    fn keeps_keyset_order_and_ties() {
        let garden = Garden {
            id: "lyon".into(),
            territory: Territory::Lyon,
            token: "t".into(),
        };
        let data = GardenData::generate(7, 500, 7, garden);
        let keys: Vec<_> = data.deliveries.iter().map(Keyed::key).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        let mut per_second = BTreeMap::<i64, usize>::new();
        for (at, _) in &keys {
            *per_second.entry(*at).or_default() += 1;
        }
        assert!(per_second.values().all(|&n| n <= 7));
        assert_eq!(per_second.values().filter(|&&n| n == 7).count(), 500 / 7);
    }

    #[test]
    fn prices_use_partner_formats() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let rendered: BTreeSet<String> =
            (0..200).map(|_| render_price(&mut rng, 123_450)).collect();
        assert!(rendered.contains("1\u{202f}234,50"));
        assert!(rendered.contains("1\u{a0}234,50 €"));
        assert!(
            rendered
                .iter()
                .all(|p| p.starts_with('1') && p.contains("234,50"))
        );
        let small: BTreeSet<String> = (0..200).map(|_| render_price(&mut rng, 1250)).collect();
        let expected: BTreeSet<String> = ["12.50", "12,50", "12,50 €", "12,50\u{a0}€"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(small, expected);
    }
}
