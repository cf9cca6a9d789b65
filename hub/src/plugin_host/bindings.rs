//! The one place with `bindgen!`: one module per supported WIT version, the
//! adapter that turns an older version's types into the latest's (field by
//! field, what the older one lacked left empty), and the conversions of the
//! latest's types into `crate::model` beside them. Nothing outside
//! `plugin_host` sees a generated type, so a new contract version touches this
//! file (a new module, its adapter, the conversions moved to it) and nothing else.

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store};

use super::HostError;
use super::state::HostState;
use crate::model;

pub mod since_v0_1_0 {
    wasmtime::component::bindgen!({
        world: "connector-plugin",
        path: "../wit/since_v0.1.0",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

pub mod since_v0_2_0 {
    wasmtime::component::bindgen!({
        world: "connector-plugin",
        path: "../wit/since_v0.2.0",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

use since_v0_1_0::vivres::connector::types as v1;
use since_v0_2_0::vivres::connector::types as latest;

/// Contract versions this hub runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WitVersion {
    V0_1_0,
    V0_2_0,
}

impl WitVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            WitVersion::V0_1_0 => "0.1.0",
            WitVersion::V0_2_0 => "0.2.0",
        }
    }
}

const HOST_INTERFACE: &str = "vivres:connector/host@";
const CONNECTOR_INTERFACE: &str = "vivres:connector/connector@";

/// Which contract version a component was built against, read from the
/// versioned names of its imports and exports.
pub fn wit_version(engine: &Engine, component: &Component) -> Result<WitVersion, String> {
    let ty = component.component_type();
    let names = ty
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .chain(ty.exports(engine).map(|(name, _)| name.to_string()))
        .collect::<Vec<_>>();
    let version = names.iter().find_map(|name| {
        name.strip_prefix(CONNECTOR_INTERFACE)
            .or_else(|| name.strip_prefix(HOST_INTERFACE))
    });
    match version {
        Some("0.1.0") => Ok(WitVersion::V0_1_0),
        Some("0.2.0") => Ok(WitVersion::V0_2_0),
        Some(other) => Err(format!(
            "built against connector contract {other}; this hub runs 0.1.0 and 0.2.0"
        )),
        None => Err("not a Vivres connector: it exports no `vivres:connector/connector`".into()),
    }
}

/// One linker for every version: each version's `host` interface has its own
/// versioned name, so they sit side by side.
pub fn linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    // WASI p2 is linked whole so any guest language's runtime links; what
    // it can reach is decided by the `WasiCtx` (see `files`).
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    since_v0_1_0::ConnectorPlugin::add_to_linker::<HostState, HasSelf<HostState>>(
        &mut linker,
        |state| state,
    )?;
    since_v0_2_0::ConnectorPlugin::add_to_linker::<HostState, HasSelf<HostState>>(
        &mut linker,
        |state| state,
    )?;
    Ok(linker)
}

/// A linked, type-checked component, ready to instantiate.
#[derive(Clone)]
pub enum GuestPre {
    V0_1_0(since_v0_1_0::ConnectorPluginPre<HostState>),
    V0_2_0(since_v0_2_0::ConnectorPluginPre<HostState>),
}

impl GuestPre {
    pub fn new(
        linker: &Linker<HostState>,
        version: WitVersion,
        component: &Component,
    ) -> wasmtime::Result<Self> {
        let pre = linker.instantiate_pre(component)?;
        Ok(match version {
            WitVersion::V0_1_0 => GuestPre::V0_1_0(since_v0_1_0::ConnectorPluginPre::new(pre)?),
            WitVersion::V0_2_0 => GuestPre::V0_2_0(since_v0_2_0::ConnectorPluginPre::new(pre)?),
        })
    }

    pub fn version(&self) -> WitVersion {
        match self {
            GuestPre::V0_1_0(_) => WitVersion::V0_1_0,
            GuestPre::V0_2_0(_) => WitVersion::V0_2_0,
        }
    }

    pub async fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<Guest> {
        Ok(match self {
            GuestPre::V0_1_0(pre) => {
                Guest::V0_1_0(std::sync::Arc::new(pre.instantiate_async(store).await?))
            }
            GuestPre::V0_2_0(pre) => {
                Guest::V0_2_0(std::sync::Arc::new(pre.instantiate_async(store).await?))
            }
        })
    }
}

/// A live instance's exports, whatever its contract version; every method
/// returns `crate::model` types (an older version's through [`Upgrade`]).
#[derive(Clone)]
pub enum Guest {
    V0_1_0(std::sync::Arc<since_v0_1_0::ConnectorPlugin>),
    V0_2_0(std::sync::Arc<since_v0_2_0::ConnectorPlugin>),
}

impl Guest {
    fn version(&self) -> WitVersion {
        match self {
            Guest::V0_1_0(_) => WitVersion::V0_1_0,
            Guest::V0_2_0(_) => WitVersion::V0_2_0,
        }
    }

    pub async fn spec(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Result<model::ConnectorSpec, HostError>> {
        let spec = match self {
            Guest::V0_1_0(guest) => guest
                .vivres_connector_connector()
                .call_spec(store)
                .await?
                .upgrade(),
            Guest::V0_2_0(guest) => guest.vivres_connector_connector().call_spec(store).await?,
        };
        Ok(spec_from(spec, self.version()))
    }

    pub async fn check(
        &self,
        store: &mut Store<HostState>,
        config: &str,
    ) -> wasmtime::Result<Result<(), model::ConnectorError>> {
        let result: Result<(), latest::ConnectorError> = match self {
            Guest::V0_1_0(guest) => guest
                .vivres_connector_connector()
                .call_check(store, config)
                .await?
                .map_err(Upgrade::upgrade),
            Guest::V0_2_0(guest) => {
                guest
                    .vivres_connector_connector()
                    .call_check(store, config)
                    .await?
            }
        };
        Ok(result.map_err(Into::into))
    }

    pub async fn discover(
        &self,
        store: &mut Store<HostState>,
        config: &str,
    ) -> wasmtime::Result<Result<Vec<model::StreamInfo>, model::ConnectorError>> {
        let result: Result<Vec<latest::StreamInfo>, latest::ConnectorError> = match self {
            Guest::V0_1_0(guest) => guest
                .vivres_connector_connector()
                .call_discover(store, config)
                .await?
                .map(Upgrade::upgrade)
                .map_err(Upgrade::upgrade),
            Guest::V0_2_0(guest) => {
                guest
                    .vivres_connector_connector()
                    .call_discover(store, config)
                    .await?
            }
        };
        Ok(result
            .map(|streams| streams.into_iter().map(Into::into).collect())
            .map_err(Into::into))
    }

    /// `max_items` is checked before converting, so an oversized batch costs
    /// no conversion.
    pub async fn read(
        &self,
        store: &mut Store<HostState>,
        config: &str,
        stream: &str,
        state: Option<&str>,
        max_items: usize,
    ) -> wasmtime::Result<Result<Result<model::Batch, model::ConnectorError>, HostError>> {
        let too_large = |items: usize| {
            (items > max_items).then_some(HostError::BatchTooLarge {
                items,
                max: max_items,
            })
        };
        let result: Result<latest::Batch, latest::ConnectorError> = match self {
            Guest::V0_1_0(guest) => {
                match guest
                    .vivres_connector_connector()
                    .call_read(store, config, stream, state)
                    .await?
                {
                    Ok(batch) => match too_large(batch.items.len() + batch.rejects.len()) {
                        Some(e) => return Ok(Err(e)),
                        None => Ok(batch.upgrade()),
                    },
                    Err(e) => Err(e.upgrade()),
                }
            }
            Guest::V0_2_0(guest) => {
                guest
                    .vivres_connector_connector()
                    .call_read(store, config, stream, state)
                    .await?
            }
        };
        Ok(match result {
            Ok(batch) => match too_large(batch.items.len() + batch.rejects.len()) {
                Some(e) => Err(e),
                None => Ok(Ok(batch.into())),
            },
            Err(error) => Ok(Err(error.into())),
        })
    }
}

/// An older contract's value as the latest's: what the older version did
/// not have is left empty (a 0.1 item has no line, its aids no residence).
trait Upgrade<T> {
    fn upgrade(self) -> T;
}

impl<A: Upgrade<B>, B> Upgrade<Option<B>> for Option<A> {
    fn upgrade(self) -> Option<B> {
        self.map(Upgrade::upgrade)
    }
}

impl<A: Upgrade<B>, B> Upgrade<Vec<B>> for Vec<A> {
    fn upgrade(self) -> Vec<B> {
        self.into_iter().map(Upgrade::upgrade).collect()
    }
}

macro_rules! unchanged {
    ($($t:ty),*) => {
        $(impl Upgrade<$t> for $t {
            fn upgrade(self) -> $t {
                self
            }
        })*
    };
}

unchanged!(String, u8, u32, i32, i64, u64, f64, bool);

/// Records: the fields both versions have, then those only the latest has (empty).
macro_rules! upgrade_records {
    ($($name:ident { $($field:ident),* $(,)? } $(new { $($new:ident),* })?;)*) => {
        $(impl Upgrade<latest::$name> for v1::$name {
            fn upgrade(self) -> latest::$name {
                latest::$name {
                    $($field: self.$field.upgrade(),)*
                    $($($new: None,)*)?
                }
            }
        })*
    };
}

macro_rules! upgrade_enums {
    ($($name:ident { $($case:ident),* $(,)? };)*) => {
        $(impl Upgrade<latest::$name> for v1::$name {
            fn upgrade(self) -> latest::$name {
                match self {
                    $(v1::$name::$case => latest::$name::$case,)*
                }
            }
        })*
    };
}

upgrade_records! {
    Date { year, month, day };
    PersonId { scope, local_id };
    Location { postcode, commune, insee };
    Enrolment { programme, solidarity, price_paid, reference_price, prescriber, start, end, site };
    Household {
        person, size, adults, children, composition, residence, income, reste_a_vivre,
        rights_from, rights_to, monthly_cap, enrolment,
    };
    Site { kind, name, location, group, short_circuit, siret };
    Product { label, category, dfc_type, unit, organic, producer, ean };
    Distribution {
        household, household_key, site, date, week, kind, label, status, amount, quantity_kg,
        contents, ordinal,
    } new { residence };
    OrderLine {
        household, site, channel, date, time, month, product, dfc_type, quantity, unit,
        unit_price_paid, unit_reference_price, price_paid, reference_price, discount_percent,
        food_bank_donation,
    } new { residence };
    Supply { site, producer, producer_location, distance_km, organic, product, month };
    Score { level, code, value, max };
    Diagnostic {
        farm, method, method_version, survey_year, area_ha, workers, farm_type, departement,
        scores,
    };
    Participation { household, site, date, kind, role, hours, attendees };
    Pathway {
        worker, site, entry, exit, weekly_hours, exit_label, exit_category, training_hours,
    };
    Answer { question, value };
    SurveyResponse {
        household, network, site, wave, submitted_at, residence, instrument, answers, raw_score,
    };
    Item { key, origin, entity } new { line, cell };
    Reject { key, origin, line, reason, field, detail, raw } new { cell };
    Batch { items, rejects, state, replace_origins, more };
    StreamInfo { name, entity, primary_key, cursor_field, description };
    ConnectorSpec { name, version, description, config_schema, streams };
    Unavailable { message, retry_after_secs };
}

upgrade_enums! {
    Composition { Single, CoupleWithoutChildren, CoupleWithChildren, SingleParent, Other };
    IncomeBand { Below300, From300to599, From600to899, From900to1199, From1200 };
    SiteKind { Garden, Grocery, BuyingGroup, AidTeam, Farm, DropPoint, Other };
    AidKind { Basket, FoodVoucher, PrepaidCard, Parcel, Meal, Referral, Other };
    DistributionStatus { Collected, Absent, Postponed, Given };
    Channel { BuyingGroup, Grocery, Basket, Market, Other };
    ScoreLevel { Item, Indicator, Component, Dimension };
    ExitCategory { Durable, Transition, Positive, Other, Neutralised };
    EntityKind {
        Household, Site, Product, Distribution, OrderLine, Supply, Diagnostic, Participation,
        Pathway, SurveyResponse,
    };
    RejectReason {
        InvalidDate, InvalidAmount, InvalidQuantity, UnknownPostcode, UnresolvedLocation,
        MissingRequired, UnknownLabel, InconsistentDates, MalformedFile,
    };
}

impl Upgrade<latest::Entity> for v1::Entity {
    fn upgrade(self) -> latest::Entity {
        use latest::Entity as L;
        use v1::Entity as W;
        match self {
            W::Household(x) => L::Household(x.upgrade()),
            W::Site(x) => L::Site(x.upgrade()),
            W::Product(x) => L::Product(x.upgrade()),
            W::Distribution(x) => L::Distribution(x.upgrade()),
            W::OrderLine(x) => L::OrderLine(x.upgrade()),
            W::Supply(x) => L::Supply(x.upgrade()),
            W::Diagnostic(x) => L::Diagnostic(x.upgrade()),
            W::Participation(x) => L::Participation(x.upgrade()),
            W::Pathway(x) => L::Pathway(x.upgrade()),
            W::SurveyResponse(x) => L::SurveyResponse(x.upgrade()),
        }
    }
}

impl Upgrade<latest::ConnectorError> for v1::ConnectorError {
    fn upgrade(self) -> latest::ConnectorError {
        use latest::ConnectorError as L;
        use v1::ConnectorError as W;
        match self {
            W::BadConfig(m) => L::BadConfig(m),
            W::AuthFailed(m) => L::AuthFailed(m),
            W::PartnerUnavailable(u) => L::PartnerUnavailable(u.upgrade()),
            W::BadData(m) => L::BadData(m),
        }
    }
}

fn spec_from(
    spec: latest::ConnectorSpec,
    version: WitVersion,
) -> Result<model::ConnectorSpec, HostError> {
    let config_schema = serde_json::from_str(&spec.config_schema).map_err(|e| {
        HostError::InvalidOutput(format!(
            "connector {} returned a config schema that is not JSON: {e}",
            spec.name
        ))
    })?;
    Ok(model::ConnectorSpec {
        name: spec.name,
        version: spec.version,
        description: spec.description,
        config_schema,
        streams: spec.streams.into_iter().map(Into::into).collect(),
        wit_version: version.as_str().to_string(),
    })
}

impl From<latest::ConnectorError> for model::ConnectorError {
    fn from(e: latest::ConnectorError) -> Self {
        match e {
            latest::ConnectorError::BadConfig(m) => model::ConnectorError::BadConfig(m),
            latest::ConnectorError::AuthFailed(m) => model::ConnectorError::AuthFailed(m),
            latest::ConnectorError::PartnerUnavailable(u) => {
                model::ConnectorError::PartnerUnavailable {
                    message: u.message,
                    retry_after_secs: u.retry_after_secs,
                }
            }
            latest::ConnectorError::BadData(m) => model::ConnectorError::BadData(m),
        }
    }
}

impl From<latest::StreamInfo> for model::StreamInfo {
    fn from(s: latest::StreamInfo) -> Self {
        model::StreamInfo {
            name: s.name,
            entity: s.entity.into(),
            primary_key: s.primary_key,
            cursor_field: s.cursor_field,
            description: s.description,
        }
    }
}

impl From<latest::EntityKind> for model::EntityKind {
    fn from(k: latest::EntityKind) -> Self {
        use latest::EntityKind as W;
        use model::EntityKind as M;
        match k {
            W::Household => M::Household,
            W::Site => M::Site,
            W::Product => M::Product,
            W::Distribution => M::Distribution,
            W::OrderLine => M::OrderLine,
            W::Supply => M::Supply,
            W::Diagnostic => M::Diagnostic,
            W::Participation => M::Participation,
            W::Pathway => M::Pathway,
            W::SurveyResponse => M::SurveyResponse,
        }
    }
}

impl From<latest::Batch> for model::Batch {
    fn from(b: latest::Batch) -> Self {
        model::Batch {
            items: b.items.into_iter().map(Into::into).collect(),
            rejects: b.rejects.into_iter().map(Into::into).collect(),
            state: b.state,
            replace_origins: b.replace_origins,
            more: b.more,
        }
    }
}

impl From<latest::Item> for model::Item {
    fn from(i: latest::Item) -> Self {
        model::Item {
            key: i.key,
            origin: i.origin,
            line: i.line,
            cell: i.cell,
            entity: i.entity.into(),
        }
    }
}

impl From<latest::Reject> for model::Reject {
    // The raw payload is hashed right here: it never leaves the plugin host.
    fn from(r: latest::Reject) -> Self {
        model::Reject {
            key: r.key,
            origin: r.origin,
            line: r.line,
            cell: r.cell,
            reason: r.reason.into(),
            field: r.field,
            detail: r.detail,
            payload_hash: Sha256::digest(&r.raw).into(),
            partner_key: None,
        }
    }
}

impl From<latest::RejectReason> for model::RejectReason {
    fn from(r: latest::RejectReason) -> Self {
        use latest::RejectReason as W;
        use model::RejectReason as M;
        match r {
            W::InvalidDate => M::InvalidDate,
            W::InvalidAmount => M::InvalidAmount,
            W::InvalidQuantity => M::InvalidQuantity,
            W::UnknownPostcode => M::UnknownPostcode,
            W::UnresolvedLocation => M::UnresolvedLocation,
            W::MissingRequired => M::MissingRequired,
            W::UnknownLabel => M::UnknownLabel,
            W::InconsistentDates => M::InconsistentDates,
            W::MalformedFile => M::MalformedFile,
        }
    }
}

impl From<latest::Entity> for model::Entity {
    fn from(e: latest::Entity) -> Self {
        use latest::Entity as W;
        use model::Entity as M;
        match e {
            W::Household(x) => M::Household(x.into()),
            W::Site(x) => M::Site(x.into()),
            W::Product(x) => M::Product(x.into()),
            W::Distribution(x) => M::Distribution(x.into()),
            W::OrderLine(x) => M::OrderLine(x.into()),
            W::Supply(x) => M::Supply(x.into()),
            W::Diagnostic(x) => M::Diagnostic(x.into()),
            W::Participation(x) => M::Participation(x.into()),
            W::Pathway(x) => M::Pathway(x.into()),
            W::SurveyResponse(x) => M::SurveyResponse(x.into()),
        }
    }
}

impl From<latest::Date> for model::Date {
    fn from(d: latest::Date) -> Self {
        model::Date {
            year: d.year,
            month: d.month,
            day: d.day,
        }
    }
}

impl From<latest::PersonId> for model::PersonId {
    fn from(p: latest::PersonId) -> Self {
        model::PersonId {
            scope: p.scope,
            local_id: p.local_id,
        }
    }
}

impl From<latest::Location> for model::Location {
    fn from(l: latest::Location) -> Self {
        model::Location {
            postcode: l.postcode,
            commune: l.commune,
            insee: l.insee,
        }
    }
}

impl From<latest::Composition> for model::Composition {
    fn from(c: latest::Composition) -> Self {
        use latest::Composition as W;
        use model::Composition as M;
        match c {
            W::Single => M::Single,
            W::CoupleWithoutChildren => M::CoupleWithoutChildren,
            W::CoupleWithChildren => M::CoupleWithChildren,
            W::SingleParent => M::SingleParent,
            W::Other => M::Other,
        }
    }
}

impl From<latest::IncomeBand> for model::IncomeBand {
    fn from(b: latest::IncomeBand) -> Self {
        use latest::IncomeBand as W;
        use model::IncomeBand as M;
        match b {
            W::Below300 => M::Below300,
            W::From300to599 => M::From300To599,
            W::From600to899 => M::From600To899,
            W::From900to1199 => M::From900To1199,
            W::From1200 => M::From1200,
        }
    }
}

impl From<latest::Enrolment> for model::Enrolment {
    fn from(e: latest::Enrolment) -> Self {
        model::Enrolment {
            programme: e.programme,
            solidarity: e.solidarity,
            price_paid: e.price_paid,
            reference_price: e.reference_price,
            prescriber: e.prescriber,
            start: e.start.map(Into::into),
            end: e.end.map(Into::into),
            site: e.site,
        }
    }
}

impl From<latest::Household> for model::Household {
    fn from(h: latest::Household) -> Self {
        model::Household {
            person: h.person.into(),
            size: h.size,
            adults: h.adults,
            children: h.children,
            composition: h.composition.map(Into::into),
            residence: h.residence.map(Into::into),
            income: h.income.map(Into::into),
            reste_a_vivre: h.reste_a_vivre.map(Into::into),
            rights_from: h.rights_from.map(Into::into),
            rights_to: h.rights_to.map(Into::into),
            monthly_cap: h.monthly_cap,
            enrolment: h.enrolment.map(Into::into),
        }
    }
}

impl From<latest::SiteKind> for model::SiteKind {
    fn from(k: latest::SiteKind) -> Self {
        use latest::SiteKind as W;
        use model::SiteKind as M;
        match k {
            W::Garden => M::Garden,
            W::Grocery => M::Grocery,
            W::BuyingGroup => M::BuyingGroup,
            W::AidTeam => M::AidTeam,
            W::Farm => M::Farm,
            W::DropPoint => M::DropPoint,
            W::Other => M::Other,
        }
    }
}

impl From<latest::Site> for model::Site {
    fn from(s: latest::Site) -> Self {
        model::Site {
            kind: s.kind.into(),
            name: s.name,
            location: s.location.map(Into::into),
            group: s.group,
            short_circuit: s.short_circuit,
            siret: s.siret,
        }
    }
}

impl From<latest::Product> for model::Product {
    fn from(p: latest::Product) -> Self {
        model::Product {
            label: p.label,
            category: p.category,
            dfc_type: p.dfc_type,
            unit: p.unit,
            organic: p.organic,
            producer: p.producer,
            ean: p.ean,
        }
    }
}

impl From<latest::AidKind> for model::AidKind {
    fn from(k: latest::AidKind) -> Self {
        use latest::AidKind as W;
        use model::AidKind as M;
        match k {
            W::Basket => M::Basket,
            W::FoodVoucher => M::FoodVoucher,
            W::PrepaidCard => M::PrepaidCard,
            W::Parcel => M::Parcel,
            W::Meal => M::Meal,
            W::Referral => M::Referral,
            W::Other => M::Other,
        }
    }
}

impl From<latest::DistributionStatus> for model::DistributionStatus {
    fn from(s: latest::DistributionStatus) -> Self {
        use latest::DistributionStatus as W;
        use model::DistributionStatus as M;
        match s {
            W::Collected => M::Collected,
            W::Absent => M::Absent,
            W::Postponed => M::Postponed,
            W::Given => M::Given,
        }
    }
}

impl From<latest::Distribution> for model::Distribution {
    fn from(d: latest::Distribution) -> Self {
        model::Distribution {
            household: d.household.map(Into::into),
            household_key: d.household_key,
            site: d.site,
            date: d.date.map(Into::into),
            week: d.week,
            kind: d.kind.into(),
            label: d.label,
            status: d.status.map(Into::into),
            amount: d.amount,
            quantity_kg: d.quantity_kg,
            contents: d.contents,
            ordinal: d.ordinal,
            residence: d.residence.map(Into::into),
        }
    }
}

impl From<latest::Channel> for model::Channel {
    fn from(c: latest::Channel) -> Self {
        use latest::Channel as W;
        use model::Channel as M;
        match c {
            W::BuyingGroup => M::BuyingGroup,
            W::Grocery => M::Grocery,
            W::Basket => M::Basket,
            W::Market => M::Market,
            W::Other => M::Other,
        }
    }
}

impl From<latest::OrderLine> for model::OrderLine {
    fn from(o: latest::OrderLine) -> Self {
        model::OrderLine {
            household: o.household.map(Into::into),
            site: o.site,
            channel: o.channel.into(),
            date: o.date.map(Into::into),
            time: o.time,
            month: o.month,
            product: o.product,
            dfc_type: o.dfc_type,
            quantity: o.quantity,
            unit: o.unit,
            unit_price_paid: o.unit_price_paid,
            unit_reference_price: o.unit_reference_price,
            price_paid: o.price_paid,
            reference_price: o.reference_price,
            discount_percent: o.discount_percent,
            food_bank_donation: o.food_bank_donation,
            residence: o.residence.map(Into::into),
        }
    }
}

impl From<latest::Supply> for model::Supply {
    fn from(s: latest::Supply) -> Self {
        model::Supply {
            site: s.site,
            producer: s.producer,
            producer_location: s.producer_location.map(Into::into),
            distance_km: s.distance_km,
            organic: s.organic,
            product: s.product,
            month: s.month,
        }
    }
}

impl From<latest::ScoreLevel> for model::ScoreLevel {
    fn from(l: latest::ScoreLevel) -> Self {
        use latest::ScoreLevel as W;
        use model::ScoreLevel as M;
        match l {
            W::Item => M::Item,
            W::Indicator => M::Indicator,
            W::Component => M::Component,
            W::Dimension => M::Dimension,
        }
    }
}

impl From<latest::Score> for model::Score {
    fn from(s: latest::Score) -> Self {
        model::Score {
            level: s.level.into(),
            code: s.code,
            value: s.value,
            max: s.max,
        }
    }
}

impl From<latest::Diagnostic> for model::Diagnostic {
    fn from(d: latest::Diagnostic) -> Self {
        model::Diagnostic {
            farm: d.farm,
            method: d.method,
            method_version: d.method_version,
            survey_year: d.survey_year,
            area_ha: d.area_ha,
            workers: d.workers,
            farm_type: d.farm_type,
            departement: d.departement,
            scores: d.scores.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<latest::Participation> for model::Participation {
    fn from(p: latest::Participation) -> Self {
        model::Participation {
            household: p.household.map(Into::into),
            site: p.site,
            date: p.date.map(Into::into),
            kind: p.kind,
            role: p.role,
            hours: p.hours,
            attendees: p.attendees,
        }
    }
}

impl From<latest::ExitCategory> for model::ExitCategory {
    fn from(c: latest::ExitCategory) -> Self {
        use latest::ExitCategory as W;
        use model::ExitCategory as M;
        match c {
            W::Durable => M::Durable,
            W::Transition => M::Transition,
            W::Positive => M::Positive,
            W::Other => M::Other,
            W::Neutralised => M::Neutralised,
        }
    }
}

impl From<latest::Pathway> for model::Pathway {
    fn from(p: latest::Pathway) -> Self {
        model::Pathway {
            worker: p.worker.into(),
            site: p.site,
            entry: p.entry.into(),
            exit: p.exit.map(Into::into),
            weekly_hours: p.weekly_hours,
            exit_label: p.exit_label,
            exit_category: p.exit_category.map(Into::into),
            training_hours: p.training_hours,
        }
    }
}

impl From<latest::Answer> for model::Answer {
    fn from(a: latest::Answer) -> Self {
        model::Answer {
            question: a.question,
            value: a.value,
        }
    }
}

impl From<latest::SurveyResponse> for model::SurveyResponse {
    fn from(s: latest::SurveyResponse) -> Self {
        model::SurveyResponse {
            household: s.household.map(Into::into),
            network: s.network,
            site: s.site,
            wave: s.wave,
            submitted_at: s.submitted_at,
            residence: s.residence.map(Into::into),
            instrument: s.instrument,
            answers: s.answers.into_iter().map(Into::into).collect(),
            raw_score: s.raw_score,
        }
    }
}

// Host side of the `host` interface: WIT values in and out, the work done
// by the capability modules on plain Rust types.
pub mod host_v0_2_0 {
    use super::since_v0_2_0::vivres::connector::host as wit;
    use super::since_v0_2_0::vivres::connector::types;
    use crate::plugin_host::http::{HttpFailure, HttpRequest};
    use crate::plugin_host::logging::LogLevel;
    use crate::plugin_host::state::HostState;

    impl types::Host for HostState {}

    impl wit::Host for HostState {
        async fn log(&mut self, level: wit::LogLevel, message: String) -> wasmtime::Result<()> {
            let level = match level {
                wit::LogLevel::Trace => LogLevel::Trace,
                wit::LogLevel::Debug => LogLevel::Debug,
                wit::LogLevel::Info => LogLevel::Info,
                wit::LogLevel::Warn => LogLevel::Warn,
                wit::LogLevel::Error => LogLevel::Error,
            };
            self.emit_log(level, &message);
            Ok(())
        }

        async fn secret(&mut self, name: String) -> wasmtime::Result<Option<String>> {
            Ok(self.lookup_secret(&name))
        }

        async fn http_send(
            &mut self,
            request: wit::HttpRequest,
        ) -> wasmtime::Result<Result<wit::HttpResponse, wit::HttpError>> {
            let request = HttpRequest {
                method: request.method,
                url: request.url,
                headers: request.headers,
                body: request.body,
            };
            Ok(match self.send_http(request).await {
                Ok(response) => Ok(wit::HttpResponse {
                    status: response.status,
                    headers: response.headers,
                    body: response.body,
                }),
                Err(failure) => Err(match failure {
                    HttpFailure::Denied(m) => wit::HttpError::Denied(m),
                    HttpFailure::Timeout(m) => wit::HttpError::Timeout(m),
                    HttpFailure::BudgetExhausted => wit::HttpError::BudgetExhausted,
                    HttpFailure::Transport(m) => wit::HttpError::Transport(m),
                    HttpFailure::InvalidRequest(m) => wit::HttpError::InvalidRequest(m),
                }),
            })
        }

        async fn inbox_dir(&mut self) -> wasmtime::Result<Option<String>> {
            Ok(self.inbox_path())
        }

        async fn now(&mut self) -> wasmtime::Result<i64> {
            Ok(self.wall_clock())
        }
    }
}

// The 0.1 `host` interface: the latest's, its values converted both ways.
pub mod host_v0_1_0 {
    use super::since_v0_1_0::vivres::connector::host as wit;
    use super::since_v0_1_0::vivres::connector::types;
    use super::since_v0_2_0::vivres::connector::host as latest;
    use crate::plugin_host::state::HostState;

    impl types::Host for HostState {}

    impl wit::Host for HostState {
        async fn log(&mut self, level: wit::LogLevel, message: String) -> wasmtime::Result<()> {
            let level = match level {
                wit::LogLevel::Trace => latest::LogLevel::Trace,
                wit::LogLevel::Debug => latest::LogLevel::Debug,
                wit::LogLevel::Info => latest::LogLevel::Info,
                wit::LogLevel::Warn => latest::LogLevel::Warn,
                wit::LogLevel::Error => latest::LogLevel::Error,
            };
            latest::Host::log(self, level, message).await
        }

        async fn secret(&mut self, name: String) -> wasmtime::Result<Option<String>> {
            latest::Host::secret(self, name).await
        }

        async fn http_send(
            &mut self,
            request: wit::HttpRequest,
        ) -> wasmtime::Result<Result<wit::HttpResponse, wit::HttpError>> {
            let request = latest::HttpRequest {
                method: request.method,
                url: request.url,
                headers: request.headers,
                body: request.body,
            };
            Ok(match latest::Host::http_send(self, request).await? {
                Ok(r) => Ok(wit::HttpResponse {
                    status: r.status,
                    headers: r.headers,
                    body: r.body,
                }),
                Err(e) => Err(match e {
                    latest::HttpError::Denied(m) => wit::HttpError::Denied(m),
                    latest::HttpError::Timeout(m) => wit::HttpError::Timeout(m),
                    latest::HttpError::BudgetExhausted => wit::HttpError::BudgetExhausted,
                    latest::HttpError::Transport(m) => wit::HttpError::Transport(m),
                    latest::HttpError::InvalidRequest(m) => wit::HttpError::InvalidRequest(m),
                }),
            })
        }

        async fn inbox_dir(&mut self) -> wasmtime::Result<Option<String>> {
            latest::Host::inbox_dir(self).await
        }

        async fn now(&mut self) -> wasmtime::Result<i64> {
            latest::Host::now(self).await
        }
    }
}
