//! The one place with `bindgen!`: one module per supported WIT version, and
//! the conversions of its types into `crate::model` beside it. Nothing
//! outside `plugin_host` sees a generated type, so a new contract version
//! touches this file (a new module and its conversions) and nothing else.

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

use since_v0_1_0::vivres::connector::types as v1;

/// Contract versions this hub runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WitVersion {
    V0_1_0,
}

impl WitVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            WitVersion::V0_1_0 => "0.1.0",
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
        Some(other) => Err(format!(
            "built against connector contract {other}; this hub runs 0.1.0"
        )),
        None => Err("not a Vivres connector: it exports no `vivres:connector/connector`".into()),
    }
}

pub fn linker_v0_1_0(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    // WASI p2 is linked whole so any guest language's runtime links; what
    // it can reach is decided by the `WasiCtx` (see `files`).
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    since_v0_1_0::ConnectorPlugin::add_to_linker::<HostState, HasSelf<HostState>>(
        &mut linker,
        |state| state,
    )?;
    Ok(linker)
}

/// A linked, type-checked component, ready to instantiate.
#[derive(Clone)]
pub enum GuestPre {
    V0_1_0(since_v0_1_0::ConnectorPluginPre<HostState>),
}

impl GuestPre {
    pub fn v0_1_0(linker: &Linker<HostState>, component: &Component) -> wasmtime::Result<Self> {
        let pre = linker.instantiate_pre(component)?;
        Ok(GuestPre::V0_1_0(since_v0_1_0::ConnectorPluginPre::new(
            pre,
        )?))
    }

    pub fn version(&self) -> WitVersion {
        match self {
            GuestPre::V0_1_0(_) => WitVersion::V0_1_0,
        }
    }

    pub async fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<Guest> {
        match self {
            GuestPre::V0_1_0(pre) => Ok(Guest::V0_1_0(std::sync::Arc::new(
                pre.instantiate_async(store).await?,
            ))),
        }
    }
}

/// A live instance's exports, whatever its contract version; every method
/// returns `crate::model` types.
#[derive(Clone)]
pub enum Guest {
    V0_1_0(std::sync::Arc<since_v0_1_0::ConnectorPlugin>),
}

impl Guest {
    pub async fn spec(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Result<model::ConnectorSpec, HostError>> {
        match self {
            Guest::V0_1_0(guest) => {
                let spec = guest.vivres_connector_connector().call_spec(store).await?;
                Ok(spec_from_v1(spec))
            }
        }
    }

    pub async fn check(
        &self,
        store: &mut Store<HostState>,
        config: &str,
    ) -> wasmtime::Result<Result<(), model::ConnectorError>> {
        match self {
            Guest::V0_1_0(guest) => {
                let result = guest
                    .vivres_connector_connector()
                    .call_check(store, config)
                    .await?;
                Ok(result.map_err(Into::into))
            }
        }
    }

    pub async fn discover(
        &self,
        store: &mut Store<HostState>,
        config: &str,
    ) -> wasmtime::Result<Result<Vec<model::StreamInfo>, model::ConnectorError>> {
        match self {
            Guest::V0_1_0(guest) => {
                let result = guest
                    .vivres_connector_connector()
                    .call_discover(store, config)
                    .await?;
                Ok(result
                    .map(|streams| streams.into_iter().map(Into::into).collect())
                    .map_err(Into::into))
            }
        }
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
        match self {
            Guest::V0_1_0(guest) => {
                let result = guest
                    .vivres_connector_connector()
                    .call_read(store, config, stream, state)
                    .await?;
                Ok(match result {
                    Ok(batch) => {
                        let items = batch.items.len() + batch.rejects.len();
                        if items > max_items {
                            Err(HostError::BatchTooLarge {
                                items,
                                max: max_items,
                            })
                        } else {
                            Ok(Ok(batch.into()))
                        }
                    }
                    Err(error) => Ok(Err(error.into())),
                })
            }
        }
    }
}

fn spec_from_v1(spec: v1::ConnectorSpec) -> Result<model::ConnectorSpec, HostError> {
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
        wit_version: WitVersion::V0_1_0.as_str().to_string(),
    })
}

impl From<v1::ConnectorError> for model::ConnectorError {
    fn from(e: v1::ConnectorError) -> Self {
        match e {
            v1::ConnectorError::BadConfig(m) => model::ConnectorError::BadConfig(m),
            v1::ConnectorError::AuthFailed(m) => model::ConnectorError::AuthFailed(m),
            v1::ConnectorError::PartnerUnavailable(u) => {
                model::ConnectorError::PartnerUnavailable {
                    message: u.message,
                    retry_after_secs: u.retry_after_secs,
                }
            }
            v1::ConnectorError::BadData(m) => model::ConnectorError::BadData(m),
        }
    }
}

impl From<v1::StreamInfo> for model::StreamInfo {
    fn from(s: v1::StreamInfo) -> Self {
        model::StreamInfo {
            name: s.name,
            entity: s.entity.into(),
            primary_key: s.primary_key,
            cursor_field: s.cursor_field,
            description: s.description,
        }
    }
}

impl From<v1::EntityKind> for model::EntityKind {
    fn from(k: v1::EntityKind) -> Self {
        use model::EntityKind as M;
        use v1::EntityKind as W;
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

impl From<v1::Batch> for model::Batch {
    fn from(b: v1::Batch) -> Self {
        model::Batch {
            items: b.items.into_iter().map(Into::into).collect(),
            rejects: b.rejects.into_iter().map(Into::into).collect(),
            state: b.state,
            replace_origins: b.replace_origins,
            more: b.more,
        }
    }
}

impl From<v1::Item> for model::Item {
    fn from(i: v1::Item) -> Self {
        model::Item {
            key: i.key,
            origin: i.origin,
            entity: i.entity.into(),
        }
    }
}

impl From<v1::Reject> for model::Reject {
    // The raw payload is hashed right here: it never leaves the plugin host.
    fn from(r: v1::Reject) -> Self {
        model::Reject {
            key: r.key,
            origin: r.origin,
            line: r.line,
            reason: r.reason.into(),
            field: r.field,
            detail: r.detail,
            payload_hash: Sha256::digest(&r.raw).into(),
        }
    }
}

impl From<v1::RejectReason> for model::RejectReason {
    fn from(r: v1::RejectReason) -> Self {
        use model::RejectReason as M;
        use v1::RejectReason as W;
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

impl From<v1::Entity> for model::Entity {
    fn from(e: v1::Entity) -> Self {
        use model::Entity as M;
        use v1::Entity as W;
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

impl From<v1::Date> for model::Date {
    fn from(d: v1::Date) -> Self {
        model::Date {
            year: d.year,
            month: d.month,
            day: d.day,
        }
    }
}

impl From<v1::PersonId> for model::PersonId {
    fn from(p: v1::PersonId) -> Self {
        model::PersonId {
            scope: p.scope,
            local_id: p.local_id,
        }
    }
}

impl From<v1::Location> for model::Location {
    fn from(l: v1::Location) -> Self {
        model::Location {
            postcode: l.postcode,
            commune: l.commune,
            insee: l.insee,
        }
    }
}

impl From<v1::Composition> for model::Composition {
    fn from(c: v1::Composition) -> Self {
        use model::Composition as M;
        use v1::Composition as W;
        match c {
            W::Single => M::Single,
            W::CoupleWithoutChildren => M::CoupleWithoutChildren,
            W::CoupleWithChildren => M::CoupleWithChildren,
            W::SingleParent => M::SingleParent,
            W::Other => M::Other,
        }
    }
}

impl From<v1::IncomeBand> for model::IncomeBand {
    fn from(b: v1::IncomeBand) -> Self {
        use model::IncomeBand as M;
        use v1::IncomeBand as W;
        match b {
            W::Below300 => M::Below300,
            W::From300to599 => M::From300To599,
            W::From600to899 => M::From600To899,
            W::From900to1199 => M::From900To1199,
            W::From1200 => M::From1200,
        }
    }
}

impl From<v1::Enrolment> for model::Enrolment {
    fn from(e: v1::Enrolment) -> Self {
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

impl From<v1::Household> for model::Household {
    fn from(h: v1::Household) -> Self {
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

impl From<v1::SiteKind> for model::SiteKind {
    fn from(k: v1::SiteKind) -> Self {
        use model::SiteKind as M;
        use v1::SiteKind as W;
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

impl From<v1::Site> for model::Site {
    fn from(s: v1::Site) -> Self {
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

impl From<v1::Product> for model::Product {
    fn from(p: v1::Product) -> Self {
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

impl From<v1::AidKind> for model::AidKind {
    fn from(k: v1::AidKind) -> Self {
        use model::AidKind as M;
        use v1::AidKind as W;
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

impl From<v1::DistributionStatus> for model::DistributionStatus {
    fn from(s: v1::DistributionStatus) -> Self {
        use model::DistributionStatus as M;
        use v1::DistributionStatus as W;
        match s {
            W::Collected => M::Collected,
            W::Absent => M::Absent,
            W::Postponed => M::Postponed,
            W::Given => M::Given,
        }
    }
}

impl From<v1::Distribution> for model::Distribution {
    fn from(d: v1::Distribution) -> Self {
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
        }
    }
}

impl From<v1::Channel> for model::Channel {
    fn from(c: v1::Channel) -> Self {
        use model::Channel as M;
        use v1::Channel as W;
        match c {
            W::BuyingGroup => M::BuyingGroup,
            W::Grocery => M::Grocery,
            W::Basket => M::Basket,
            W::Market => M::Market,
            W::Other => M::Other,
        }
    }
}

impl From<v1::OrderLine> for model::OrderLine {
    fn from(o: v1::OrderLine) -> Self {
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
        }
    }
}

impl From<v1::Supply> for model::Supply {
    fn from(s: v1::Supply) -> Self {
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

impl From<v1::ScoreLevel> for model::ScoreLevel {
    fn from(l: v1::ScoreLevel) -> Self {
        use model::ScoreLevel as M;
        use v1::ScoreLevel as W;
        match l {
            W::Item => M::Item,
            W::Indicator => M::Indicator,
            W::Component => M::Component,
            W::Dimension => M::Dimension,
        }
    }
}

impl From<v1::Score> for model::Score {
    fn from(s: v1::Score) -> Self {
        model::Score {
            level: s.level.into(),
            code: s.code,
            value: s.value,
            max: s.max,
        }
    }
}

impl From<v1::Diagnostic> for model::Diagnostic {
    fn from(d: v1::Diagnostic) -> Self {
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

impl From<v1::Participation> for model::Participation {
    fn from(p: v1::Participation) -> Self {
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

impl From<v1::ExitCategory> for model::ExitCategory {
    fn from(c: v1::ExitCategory) -> Self {
        use model::ExitCategory as M;
        use v1::ExitCategory as W;
        match c {
            W::Durable => M::Durable,
            W::Transition => M::Transition,
            W::Positive => M::Positive,
            W::Other => M::Other,
            W::Neutralised => M::Neutralised,
        }
    }
}

impl From<v1::Pathway> for model::Pathway {
    fn from(p: v1::Pathway) -> Self {
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

impl From<v1::Answer> for model::Answer {
    fn from(a: v1::Answer) -> Self {
        model::Answer {
            question: a.question,
            value: a.value,
        }
    }
}

impl From<v1::SurveyResponse> for model::SurveyResponse {
    fn from(s: v1::SurveyResponse) -> Self {
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
pub mod host_v0_1_0 {
    use super::since_v0_1_0::vivres::connector::host as wit;
    use super::since_v0_1_0::vivres::connector::types;
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
