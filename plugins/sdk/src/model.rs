//! The unified data model of the contract (`vivres:connector/types@0.2.0`),
//! with constructors that leave every optional field empty.

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

impl Item {
    pub fn new(key: impl Into<String>, entity: Entity) -> Self {
        Item {
            key: key.into(),
            origin: None,
            line: None,
            cell: None,
            entity,
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
