//! The unified data model of the contract (`vivres:connector/types@0.2.0`),
//! with a constructor for every record that takes its required fields and
//! leaves every optional one empty, and `From<record> for Entity`.

pub use crate::bindings::vivres::connector::types::{
    AidKind, Answer, Batch, Cents, Channel, Composition, ConnectorError, ConnectorSpec, Date,
    Diagnostic, Distribution, DistributionStatus, Enrolment, Entity, EntityKind, ExitCategory,
    Household, IncomeBand, Item, Location, OrderLine, Participation, Pathway, PersonId, Product,
    Reject, RejectReason, Score, ScoreLevel, Site, SiteKind, StreamInfo, Supply, SurveyResponse,
    Timestamp, Unavailable,
};

impl PersonId {
    /// `local_id` as the partner writes it, local to `scope` (a team, grocery,
    /// group or garden). The host pseudonymises it; never log it.
    pub fn new(scope: impl Into<String>, local_id: impl Into<String>) -> Self {
        PersonId {
            scope: scope.into(),
            local_id: local_id.into(),
        }
    }
}

impl Date {
    /// An unchecked date; build dates from partner text with [`crate::fr::parse_date`].
    pub fn ymd(year: i32, month: u8, day: u8) -> Self {
        Date { year, month, day }
    }
}

impl Location {
    pub fn new(postcode: Option<String>, commune: Option<String>) -> Self {
        Location {
            postcode,
            commune,
            insee: None,
        }
    }
}

impl Household {
    pub fn new(person: PersonId) -> Self {
        Household {
            person,
            size: None,
            adults: None,
            children: None,
            composition: None,
            residence: None,
            income: None,
            reste_a_vivre: None,
            rights_from: None,
            rights_to: None,
            monthly_cap: None,
            enrolment: None,
        }
    }
}

impl Enrolment {
    pub fn new(programme: impl Into<String>) -> Self {
        Enrolment {
            programme: programme.into(),
            solidarity: false,
            price_paid: None,
            reference_price: None,
            prescriber: None,
            start: None,
            end: None,
            site: None,
        }
    }
}

impl Distribution {
    pub fn new(kind: AidKind) -> Self {
        Distribution {
            household: None,
            household_key: None,
            site: None,
            date: None,
            week: None,
            kind,
            label: None,
            status: None,
            amount: None,
            quantity_kg: None,
            contents: None,
            ordinal: 0,
            residence: None,
        }
    }
}

impl Site {
    pub fn new(kind: SiteKind) -> Self {
        Site {
            kind,
            name: None,
            location: None,
            group: None,
            short_circuit: None,
            siret: None,
        }
    }
}

impl Product {
    /// `dfc_type` starts `unclassified`: set it with [`crate::dfc::classify`].
    pub fn new(label: impl Into<String>) -> Self {
        Product {
            label: label.into(),
            category: None,
            dfc_type: UNCLASSIFIED.into(),
            unit: None,
            organic: None,
            producer: None,
            ean: None,
        }
    }
}

/// The `dfc_type` of a product the partner's label does not classify.
pub const UNCLASSIFIED: &str = "unclassified";

impl OrderLine {
    /// `dfc_type` starts `unclassified`: set it with [`crate::dfc::classify`].
    pub fn new(channel: Channel, product: impl Into<String>, quantity: f64) -> Self {
        OrderLine {
            household: None,
            site: None,
            channel,
            date: None,
            time: None,
            month: None,
            product: product.into(),
            dfc_type: UNCLASSIFIED.into(),
            quantity,
            unit: None,
            unit_price_paid: None,
            unit_reference_price: None,
            price_paid: None,
            reference_price: None,
            discount_percent: None,
            food_bank_donation: false,
            residence: None,
        }
    }
}

impl Supply {
    pub fn new(producer: impl Into<String>) -> Self {
        Supply {
            site: None,
            producer: producer.into(),
            producer_location: None,
            distance_km: None,
            organic: None,
            product: None,
            month: None,
        }
    }
}

impl Score {
    /// `value` `None` means not assessed (never 0).
    pub fn new(level: ScoreLevel, code: impl Into<String>, value: Option<f64>) -> Self {
        Score {
            level,
            code: code.into(),
            value,
            max: None,
        }
    }
}

impl Diagnostic {
    pub fn new(
        farm: impl Into<String>,
        method: impl Into<String>,
        method_version: impl Into<String>,
        survey_year: impl Into<String>,
    ) -> Self {
        Diagnostic {
            farm: farm.into(),
            method: method.into(),
            method_version: method_version.into(),
            survey_year: survey_year.into(),
            area_ha: None,
            workers: None,
            farm_type: None,
            departement: None,
            scores: Vec::new(),
        }
    }
}

impl Participation {
    /// `kind`: the partner's kind of event (`atelier`, `comite`, …).
    pub fn new(kind: impl Into<String>) -> Self {
        Participation {
            household: None,
            site: None,
            date: None,
            kind: kind.into(),
            role: None,
            hours: None,
            attendees: None,
        }
    }
}

impl Pathway {
    pub fn new(worker: PersonId, entry: Date) -> Self {
        Pathway {
            worker,
            site: None,
            entry,
            exit: None,
            weekly_hours: None,
            exit_label: None,
            exit_category: None,
            training_hours: None,
        }
    }
}

impl Answer {
    pub fn new(question: impl Into<String>, value: impl Into<String>) -> Self {
        Answer {
            question: question.into(),
            value: value.into(),
        }
    }
}

impl SurveyResponse {
    pub fn new(
        instrument: impl Into<String>,
        wave: impl Into<String>,
        submitted_at: Timestamp,
    ) -> Self {
        SurveyResponse {
            household: None,
            network: None,
            site: None,
            wave: wave.into(),
            submitted_at,
            residence: None,
            instrument: instrument.into(),
            answers: Vec::new(),
            raw_score: None,
        }
    }
}

impl ConnectorSpec {
    /// `config_schema`: the JSON Schema of the configuration, as text.
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        description: impl Into<String>,
        config_schema: impl Into<String>,
        streams: Vec<StreamInfo>,
    ) -> Self {
        ConnectorSpec {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            config_schema: config_schema.into(),
            streams,
        }
    }
}

macro_rules! into_entity {
    ($($record:ident),* $(,)?) => {
        $(impl From<$record> for Entity {
            fn from(record: $record) -> Self {
                Entity::$record(record)
            }
        })*
    };
}

into_entity!(
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
);

impl Entity {
    /// The kind of record, as a stream declares it.
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

impl Item {
    /// `entity` is an [`Entity`] or any record of the model
    /// (`Item::new("P-1", distribution)`).
    pub fn new(key: impl Into<String>, entity: impl Into<Entity>) -> Self {
        Item {
            key: key.into(),
            origin: None,
            line: None,
            cell: None,
            entity: entity.into(),
        }
    }

    /// The file it was read from (the inbox helpers set it).
    pub fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// The 1-based physical line (a workbook's row) it was read from: a
    /// record the hub refuses is quarantined with it.
    pub fn with_line(mut self, line: u64) -> Self {
        self.line = Some(line);
        self
    }

    /// The workbook cell it was read from (`Commande!F12`), for a record
    /// read from one cell; a record read from a whole row has only its line.
    pub fn with_cell(mut self, cell: impl Into<String>) -> Self {
        self.cell = Some(cell.into());
        self
    }
}

impl Reject {
    /// `detail` says what is wrong, never the value itself (it may be personal).
    pub fn new(reason: RejectReason, field: impl Into<String>, detail: impl Into<String>) -> Self {
        Reject {
            key: None,
            origin: None,
            line: None,
            cell: None,
            reason,
            field: field.into(),
            detail: detail.into(),
            raw: Vec::new(),
        }
    }

    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    pub fn with_line(mut self, line: u64) -> Self {
        self.line = Some(line);
        self
    }

    /// The workbook cell at fault (`Commande!F12`).
    pub fn with_cell(mut self, cell: impl Into<String>) -> Self {
        self.cell = Some(cell.into());
        self
    }

    /// The record as read; the host hashes it and never stores it.
    pub fn with_raw(mut self, raw: impl Into<Vec<u8>>) -> Self {
        self.raw = raw.into();
        self
    }
}

impl Batch {
    /// An empty batch with no checkpoint and `more = false`.
    pub fn new() -> Self {
        Batch {
            items: Vec::new(),
            rejects: Vec::new(),
            state: None,
            replace_origins: Vec::new(),
            more: false,
        }
    }
}

impl Default for Batch {
    fn default() -> Self {
        Batch::new()
    }
}

impl StreamInfo {
    pub fn new(
        name: impl Into<String>,
        entity: EntityKind,
        primary_key: &[&str],
        cursor_field: Option<&str>,
        description: impl Into<String>,
    ) -> Self {
        StreamInfo {
            name: name.into(),
            entity,
            primary_key: primary_key.iter().map(|s| s.to_string()).collect(),
            cursor_field: cursor_field.map(str::to_string),
            description: description.into(),
        }
    }
}

impl ConnectorError {
    pub fn bad_config(message: impl Into<String>) -> Self {
        ConnectorError::BadConfig(message.into())
    }

    pub fn auth_failed(message: impl Into<String>) -> Self {
        ConnectorError::AuthFailed(message.into())
    }

    pub fn bad_data(message: impl Into<String>) -> Self {
        ConnectorError::BadData(message.into())
    }

    /// Retryable: the partner is down, rate-limiting or timing out.
    pub fn unavailable(message: impl Into<String>, retry_after_secs: Option<u32>) -> Self {
        ConnectorError::PartnerUnavailable(Unavailable {
            message: message.into(),
            retry_after_secs,
        })
    }
}
