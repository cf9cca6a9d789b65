//! The unified data model as plain Rust types.
//!
//! WIT-generated types stop at the plugin host: it converts them into these,
//! so the sync engine and the warehouse never see a generated type.

use serde::Serialize;

/// A calendar date as the connector gave it; not yet validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// The validated date, `None` for an impossible one (31/02).
    pub fn to_time(self) -> Option<time::Date> {
        let month = time::Month::try_from(self.month).ok()?;
        time::Date::from_calendar_date(self.year, month, self.day).ok()
    }
}

/// A raw person identifier. It lives only between the plugin host and the
/// privacy module, which turns it into a [`Pseudonym`].
#[derive(Clone, PartialEq, Eq)]
pub struct PersonId {
    pub scope: String,
    pub local_id: String,
}

impl Serialize for PersonId {
    // Shown to connector authors by `vivres connector read`: never the raw id.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("PersonId", 2)?;
        st.serialize_field("scope", &self.scope)?;
        st.serialize_field("local_id", "***")?;
        st.end()
    }
}

impl std::fmt::Debug for PersonId {
    // Never print the raw identifier, even in a debug dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PersonId({:?}, ***)", self.scope)
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Location {
    pub postcode: Option<String>,
    pub commune: Option<String>,
    pub insee: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Composition {
    Single,
    CoupleWithoutChildren,
    CoupleWithChildren,
    SingleParent,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum IncomeBand {
    #[serde(rename = "<300")]
    Below300,
    #[serde(rename = "300-599")]
    From300To599,
    #[serde(rename = "600-899")]
    From600To899,
    #[serde(rename = "900-1199")]
    From900To1199,
    #[serde(rename = "1200+")]
    From1200,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Enrolment {
    pub programme: String,
    pub solidarity: bool,
    pub price_paid: Option<i64>,
    pub reference_price: Option<i64>,
    pub prescriber: Option<String>,
    pub start: Option<Date>,
    pub end: Option<Date>,
    pub site: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Household {
    pub person: PersonId,
    pub size: Option<u32>,
    pub adults: Option<u32>,
    pub children: Option<u32>,
    pub composition: Option<Composition>,
    pub residence: Option<Location>,
    pub income: Option<IncomeBand>,
    pub reste_a_vivre: Option<IncomeBand>,
    pub rights_from: Option<Date>,
    pub rights_to: Option<Date>,
    pub monthly_cap: Option<i64>,
    pub enrolment: Option<Enrolment>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SiteKind {
    Garden,
    Grocery,
    BuyingGroup,
    AidTeam,
    Farm,
    DropPoint,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Site {
    pub kind: SiteKind,
    pub name: Option<String>,
    pub location: Option<Location>,
    pub group: Option<String>,
    pub short_circuit: Option<bool>,
    pub siret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Product {
    pub label: String,
    pub category: Option<String>,
    pub dfc_type: String,
    pub unit: Option<String>,
    pub organic: Option<bool>,
    pub producer: Option<String>,
    pub ean: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AidKind {
    Basket,
    FoodVoucher,
    PrepaidCard,
    Parcel,
    Meal,
    Referral,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DistributionStatus {
    Collected,
    Absent,
    Postponed,
    Given,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distribution {
    pub household: Option<PersonId>,
    pub household_key: Option<String>,
    pub site: Option<String>,
    pub date: Option<Date>,
    pub week: Option<String>,
    pub kind: AidKind,
    pub label: Option<String>,
    pub status: Option<DistributionStatus>,
    pub amount: Option<i64>,
    pub quantity_kg: Option<f64>,
    pub contents: Option<String>,
    pub ordinal: u32,
    /// The household's residence as the row gives it: checked (a row is
    /// taken or refused whole), not stored with the aid.
    pub residence: Option<Location>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    BuyingGroup,
    Grocery,
    Basket,
    Market,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderLine {
    pub household: Option<PersonId>,
    pub site: Option<String>,
    pub channel: Channel,
    pub date: Option<Date>,
    pub time: Option<String>,
    pub month: Option<String>,
    pub product: String,
    pub dfc_type: String,
    pub quantity: f64,
    pub unit: Option<String>,
    pub unit_price_paid: Option<i64>,
    pub unit_reference_price: Option<i64>,
    pub price_paid: Option<i64>,
    pub reference_price: Option<i64>,
    pub discount_percent: Option<f64>,
    pub food_bank_donation: bool,
    /// The household's residence as the row gives it: checked, not stored.
    pub residence: Option<Location>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Supply {
    pub site: Option<String>,
    pub producer: String,
    pub producer_location: Option<Location>,
    pub distance_km: Option<f64>,
    pub organic: Option<bool>,
    pub product: Option<String>,
    pub month: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScoreLevel {
    Item,
    Indicator,
    Component,
    Dimension,
}

impl ScoreLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreLevel::Item => "item",
            ScoreLevel::Indicator => "indicator",
            ScoreLevel::Component => "component",
            ScoreLevel::Dimension => "dimension",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    pub level: ScoreLevel,
    pub code: String,
    pub value: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub farm: String,
    pub method: String,
    pub method_version: String,
    pub survey_year: String,
    pub area_ha: Option<f64>,
    pub workers: Option<f64>,
    pub farm_type: Option<String>,
    pub departement: Option<String>,
    pub scores: Vec<Score>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Participation {
    pub household: Option<PersonId>,
    pub site: Option<String>,
    pub date: Option<Date>,
    pub kind: String,
    pub role: Option<String>,
    pub hours: Option<f64>,
    pub attendees: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitCategory {
    Durable,
    Transition,
    Positive,
    Other,
    Neutralised,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pathway {
    pub worker: PersonId,
    pub site: Option<String>,
    pub entry: Date,
    pub exit: Option<Date>,
    pub weekly_hours: Option<f64>,
    pub exit_label: Option<String>,
    pub exit_category: Option<ExitCategory>,
    pub training_hours: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    pub question: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurveyResponse {
    pub household: Option<PersonId>,
    pub network: Option<String>,
    pub site: Option<String>,
    pub wave: String,
    pub submitted_at: i64,
    pub residence: Option<Location>,
    pub instrument: String,
    pub answers: Vec<Answer>,
    pub raw_score: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Entity {
    Household(Household),
    Site(Site),
    Product(Product),
    Distribution(Distribution),
    OrderLine(OrderLine),
    Supply(Supply),
    Diagnostic(Diagnostic),
    Participation(Participation),
    Pathway(Pathway),
    SurveyResponse(SurveyResponse),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntityKind {
    Household,
    Site,
    Product,
    Distribution,
    OrderLine,
    Supply,
    Diagnostic,
    Participation,
    Pathway,
    SurveyResponse,
}

impl EntityKind {
    pub const ALL: [EntityKind; 10] = [
        EntityKind::Household,
        EntityKind::Site,
        EntityKind::Product,
        EntityKind::Distribution,
        EntityKind::OrderLine,
        EntityKind::Supply,
        EntityKind::Diagnostic,
        EntityKind::Participation,
        EntityKind::Pathway,
        EntityKind::SurveyResponse,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Household => "household",
            EntityKind::Site => "site",
            EntityKind::Product => "product",
            EntityKind::Distribution => "distribution",
            EntityKind::OrderLine => "order-line",
            EntityKind::Supply => "supply",
            EntityKind::Diagnostic => "diagnostic",
            EntityKind::Participation => "participation",
            EntityKind::Pathway => "pathway",
            EntityKind::SurveyResponse => "survey-response",
        }
    }
}

impl Entity {
    pub fn kind(&self) -> EntityKind {
        match self {
            Entity::Household(_) => EntityKind::Household,
            Entity::Site(_) => EntityKind::Site,
            Entity::Product(_) => EntityKind::Product,
            Entity::Distribution(_) => EntityKind::Distribution,
            Entity::OrderLine(_) => EntityKind::OrderLine,
            Entity::Supply(_) => EntityKind::Supply,
            Entity::Diagnostic(_) => EntityKind::Diagnostic,
            Entity::Participation(_) => EntityKind::Participation,
            Entity::Pathway(_) => EntityKind::Pathway,
            Entity::SurveyResponse(_) => EntityKind::SurveyResponse,
        }
    }
}

/// One record as a connector emitted it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub key: String,
    pub origin: Option<String>,
    /// Where in `origin` it was read: its line (a workbook's row), its cell.
    pub line: Option<u64>,
    pub cell: Option<String>,
    pub entity: Entity,
}

/// Why a record was refused. The names are the partners' rulings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    InvalidDate,
    InvalidAmount,
    InvalidQuantity,
    UnknownPostcode,
    UnresolvedLocation,
    MissingRequired,
    UnknownLabel,
    InconsistentDates,
    MalformedFile,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::InvalidDate => "invalid_date",
            RejectReason::InvalidAmount => "invalid_amount",
            RejectReason::InvalidQuantity => "invalid_quantity",
            RejectReason::UnknownPostcode => "unknown_postcode",
            RejectReason::UnresolvedLocation => "unresolved_location",
            RejectReason::MissingRequired => "missing_required",
            RejectReason::UnknownLabel => "unknown_label",
            RejectReason::InconsistentDates => "inconsistent_dates",
            RejectReason::MalformedFile => "malformed_file",
        }
    }
}

/// A record the connector (or the host's validation) refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reject {
    pub key: Option<String>,
    pub origin: Option<String>,
    pub line: Option<u64>,
    /// The workbook cell at fault (`Commande!F12`).
    pub cell: Option<String>,
    pub reason: RejectReason,
    pub field: String,
    /// Free of personal values (connectors promise it; the host redacts secrets).
    pub detail: String,
    /// SHA-256 of the raw payload; the payload itself is never kept.
    #[serde(serialize_with = "hex_hash")]
    pub payload_hash: [u8; 32],
    /// The partner's record id as the partner shows it, set by the host only
    /// when the connector declares the stream's keys non-personal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_key: Option<String>,
}

/// What one `read` call returned.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Batch {
    pub items: Vec<Item>,
    pub rejects: Vec<Reject>,
    pub state: Option<String>,
    pub replace_origins: Vec<String>,
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamInfo {
    pub name: String,
    pub entity: EntityKind,
    pub primary_key: Vec<String>,
    pub cursor_field: Option<String>,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectorSpec {
    pub name: String,
    pub version: String,
    pub description: String,
    /// JSON Schema of the configuration, as the connector wrote it.
    pub config_schema: serde_json::Value,
    pub streams: Vec<StreamInfo>,
    /// The contract version the plugin was built against.
    pub wit_version: String,
}

fn hex_hash<S: serde::Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(h))
}

/// A connector's own error, as the WIT variant says.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConnectorError {
    #[error("bad configuration: {0}")]
    BadConfig(String),
    #[error("authentication failed: {0}")]
    AuthFailed(String),
    #[error("partner unavailable: {message}")]
    PartnerUnavailable {
        message: String,
        retry_after_secs: Option<u32>,
    },
    #[error("bad data: {0}")]
    BadData(String),
}

impl ConnectorError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, ConnectorError::PartnerUnavailable { .. })
    }
}

/// The stored text of an enumerated value (the same words as the WIT).
pub trait Label: Copy {
    fn label(self) -> &'static str;
}

macro_rules! labels {
    ($t:ty { $($v:ident => $s:literal),+ $(,)? }) => {
        impl Label for $t {
            fn label(self) -> &'static str {
                match self { $(<$t>::$v => $s),+ }
            }
        }
    };
}

labels!(Composition { Single => "single", CoupleWithoutChildren => "couple-without-children", CoupleWithChildren => "couple-with-children", SingleParent => "single-parent", Other => "other" });
labels!(IncomeBand { Below300 => "<300", From300To599 => "300-599", From600To899 => "600-899", From900To1199 => "900-1199", From1200 => "1200+" });
labels!(SiteKind { Garden => "garden", Grocery => "grocery", BuyingGroup => "buying-group", AidTeam => "aid-team", Farm => "farm", DropPoint => "drop-point", Other => "other" });
labels!(AidKind { Basket => "basket", FoodVoucher => "food-voucher", PrepaidCard => "prepaid-card", Parcel => "parcel", Meal => "meal", Referral => "referral", Other => "other" });
labels!(DistributionStatus { Collected => "collected", Absent => "absent", Postponed => "postponed", Given => "given" });
labels!(Channel { BuyingGroup => "buying-group", Grocery => "grocery", Basket => "basket", Market => "market", Other => "other" });
labels!(ExitCategory { Durable => "durable", Transition => "transition", Positive => "positive", Other => "other", Neutralised => "neutralised" });
