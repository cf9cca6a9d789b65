//! The one description of the warehouse's tables: names, columns, types, and
//! what each means (French term, English description, unit, provenance, the
//! connectors that fill it). A test checks the migrated schema of each
//! backend against it, so a migration that adds a column this file does not
//! describe fails the suite; the data dictionary (`vivres schema`,
//! `GET /api/v1/schema`) and the exports' column types are generated from it.

use serde::Serialize;

use crate::model::EntityKind;

/// A column's type, as each backend spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Text,
    /// 64-bit integer (counts, cents, ids).
    Int,
    Real,
    Bool,
    /// A calendar date (`YYYY-MM-DD` text on SQLite).
    Date,
    /// An instant (RFC 3339 text on SQLite, TIMESTAMPTZ on PostgreSQL).
    Timestamp,
    /// Bytes: the 16-byte keyed hashes of partner keys.
    Bytes,
}

impl Type {
    /// The type name the backend's catalogue reports (SQLite's declared type;
    /// PostgreSQL's `information_schema.columns.data_type`).
    pub fn declared(self, postgres: bool) -> &'static str {
        match (self, postgres) {
            (Type::Text, _) => "text",
            (Type::Int, false) => "bigint",
            (Type::Int, true) => "bigint",
            (Type::Real, _) => "double precision",
            (Type::Bool, _) => "boolean",
            (Type::Date, _) => "date",
            (Type::Timestamp, false) => "timestamp",
            (Type::Timestamp, true) => "timestamp with time zone",
            (Type::Bytes, false) => "blob",
            (Type::Bytes, true) => "bytea",
        }
    }

    /// The dictionary's name for the type (backend-neutral).
    pub fn name(self) -> &'static str {
        match self {
            Type::Text => "text",
            Type::Int => "integer",
            Type::Real => "real",
            Type::Bool => "boolean",
            Type::Date => "date",
            Type::Timestamp => "timestamp",
            Type::Bytes => "bytes",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: Type,
    pub nullable: bool,
    /// The partners' French term.
    pub fr: &'static str,
    /// What the column holds, in English.
    pub en: &'static str,
    /// Unit of a quantity (`cents` are euro cents).
    pub unit: Option<&'static str>,
    /// Where the row came from, not what it says.
    pub provenance: bool,
}

const fn req(name: &'static str, ty: Type, fr: &'static str, en: &'static str) -> Column {
    Column {
        name,
        ty,
        nullable: false,
        fr,
        en,
        unit: None,
        provenance: false,
    }
}

const fn opt(name: &'static str, ty: Type, fr: &'static str, en: &'static str) -> Column {
    Column {
        nullable: true,
        ..req(name, ty, fr, en)
    }
}

impl Column {
    const fn unit(self, unit: &'static str) -> Column {
        Column {
            unit: Some(unit),
            ..self
        }
    }
    const fn prov(self) -> Column {
        Column {
            provenance: true,
            ..self
        }
    }
}

/// What a table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The hub's own bookkeeping and reference data.
    Hub,
    /// Unified facts: provenance columns, then the entity's.
    Fact,
    /// Rows belonging to a fact row, named by its (stream_id, key).
    Child,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Hub => "hub",
            Role::Fact => "fact",
            Role::Child => "child",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    pub kind: Option<EntityKind>,
    pub role: Role,
    /// The partners' French name for what a row is.
    pub fr: &'static str,
    /// What a row is, in English.
    pub en: &'static str,
    /// The connectors whose streams fill it (facts and their children).
    pub connectors: &'static [&'static str],
    /// The date column exports filter with `--from`/`--to`, if any (a
    /// child's is its parent's).
    pub period: Option<&'static str>,
    /// A child's fact table (whose `stream_id`, `key` it shares).
    pub parent: Option<&'static str>,
    /// For facts, the entity's columns only (provenance comes first).
    pub columns: &'static [Column],
}

impl Table {
    /// Every column in migration order (facts: provenance first).
    pub fn all_columns(&self) -> impl Iterator<Item = &'static Column> + '_ {
        let prov: &'static [Column] = if self.role == Role::Fact {
            PROVENANCE
        } else {
            &[]
        };
        prov.iter().chain(self.columns.iter())
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&'static Column> {
        self.all_columns().find(|c| c.name == name)
    }
}

use Type::*;

/// Provenance columns every fact row starts with.
#[rustfmt::skip]
pub const PROVENANCE: &[Column] = &[
    req("stream_id", Int, "flux", "The stream the row came from (`streams.id`: source and stream name).").prov(),
    req("key", Bytes, "clé (pseudonyme)", "Keyed hash (HMAC) of the partner's record key: a pseudonym, never the key itself.").prov(),
    req("territory", Text, "territoire", "The territory of the source (`territories.id`).").prov(),
    req("network", Text, "réseau", "The network of the source (`networks.id`).").prov(),
    req("run_id", Int, "exécution", "The run that last wrote the row (`runs.id`).").prov(),
    opt("origin_id", Int, "fichier d'origine", "The export file the row came from (`origins.id`), for file sources.").prov(),
    req("row_hash", Int, "empreinte de ligne", "Hash of the row's values: tells an unchanged re-sent record from an updated one.").prov(),
];

#[rustfmt::skip]
const TERRITORIES: &[Column] = &[
    req("id", Text, "identifiant du territoire", "Short id of the territory (`lyon`, `toulouse`…)."),
    req("name", Text, "nom du territoire", "Name of the territory."),
    req("active", Bool, "actif", "Whether the territory is in the hub's configuration now."),
];

#[rustfmt::skip]
const TERRITORY_EPCIS: &[Column] = &[
    req("territory", Text, "territoire", "The territory (`territories.id`)."),
    req("epci_siren", Text, "SIREN de l'EPCI", "An EPCI (intercommunality) the territory covers."),
];

#[rustfmt::skip]
const EPCIS: &[Column] = &[
    req("siren", Text, "SIREN de l'EPCI", "SIREN number of the EPCI."),
    req("name", Text, "nom de l'EPCI", "Name of the EPCI."),
    req("kind", Text, "nature juridique", "Legal kind of the EPCI (métropole, CA, CC…)."),
    opt("population", Int, "population municipale", "Population of the EPCI.").unit("inhabitants"),
];

#[rustfmt::skip]
const COMMUNES: &[Column] = &[
    req("insee", Text, "code INSEE (COG)", "INSEE code of the commune (or municipal arrondissement)."),
    req("name", Text, "nom de la commune", "Name of the commune."),
    req("kind", Text, "type de commune", "Commune, municipal arrondissement or delegated commune."),
    opt("departement", Text, "département", "Code of the département."),
    opt("parent_insee", Text, "commune de rattachement", "For an arrondissement, its commune's INSEE code."),
    opt("epci_siren", Text, "EPCI", "The EPCI the commune belongs to (`epcis.siren`)."),
    req("postcodes", Text, "codes postaux", "The commune's postcodes, space-separated."),
    opt("population", Int, "population municipale", "Population of the commune.").unit("inhabitants"),
];

#[rustfmt::skip]
const NETWORKS: &[Column] = &[
    req("id", Text, "identifiant du réseau", "Short id of the network (`cocagne`, `vrac`…)."),
    req("name", Text, "nom du réseau", "Name of the network."),
];

#[rustfmt::skip]
const SOURCES: &[Column] = &[
    req("id", Text, "source", "Id of the source in the hub's configuration."),
    req("connector", Text, "connecteur", "The connector plugin that reads it."),
    req("network", Text, "réseau", "The network whose tool it is."),
    req("territory", Text, "territoire", "The territory its records belong to."),
];

#[rustfmt::skip]
const STREAMS: &[Column] = &[
    req("id", Int, "identifiant du flux", "Id of the stream, referenced by facts' `stream_id`."),
    req("source", Text, "source", "The source offering the stream (`sources.id`)."),
    req("name", Text, "nom du flux", "The stream's name, as the connector declares it."),
];

#[rustfmt::skip]
const ORIGINS: &[Column] = &[
    req("id", Int, "identifiant du fichier", "Id of the export file, referenced by facts' `origin_id`."),
    req("stream_id", Int, "flux", "The stream it was read for."),
    req("name", Text, "nom du fichier", "The file's name (never a path)."),
    req("replaced", Bool, "remplacé", "Whether a newer version of the file replaced it."),
    req("created_at", Timestamp, "reçu le", "When the hub first read it."),
];

#[rustfmt::skip]
const RUNS: &[Column] = &[
    req("id", Int, "exécution", "Id of the run."),
    req("source", Text, "source", "The source synchronised."),
    req("status", Text, "statut", "running, succeeded, failed, interrupted or cancelled."),
    req("full_refresh", Bool, "relecture complète", "Whether checkpoints were ignored."),
    req("started_at", Timestamp, "début", "When the run started."),
    opt("ended_at", Timestamp, "fin", "When the run ended."),
    req("heartbeat_at", Timestamp, "dernier signe de vie", "When the run last committed a batch."),
    opt("owner_pid", Int, "processus", "Id of the process running it."),
    opt("owner_host", Text, "machine", "Host name of the machine running it."),
    opt("connector", Text, "connecteur", "Name of the connector that ran."),
    opt("connector_version", Text, "version du connecteur", "Its version."),
    req("batches", Int, "lots", "Batches committed.").unit("batches"),
    req("read", Int, "lus", "Records the connector returned.").unit("records"),
    req("inserted", Int, "insérés", "Records stored for the first time.").unit("records"),
    req("updated", Int, "mis à jour", "Records whose values changed.").unit("records"),
    req("unchanged", Int, "inchangés", "Records read again without change.").unit("records"),
    req("quarantined", Int, "mis en quarantaine", "Records refused by validation.").unit("records"),
    req("removed", Int, "retirés", "Records a re-sent file no longer holds.").unit("records"),
    req("http_requests", Int, "requêtes HTTP", "Requests to the partner.").unit("requests"),
    req("http_retries", Int, "nouvelles tentatives", "Requests retried.").unit("requests"),
    req("http_denied", Int, "requêtes refusées", "Requests to hosts not granted.").unit("requests"),
    req("http_failures", Int, "échecs HTTP", "Requests that failed for good.").unit("requests"),
    req("http_waited_ms", Int, "attente", "Time spent waiting before retries.").unit("ms"),
    opt("error_kind", Text, "type d'erreur", "Kind of the error that ended the run."),
    opt("error", Text, "erreur", "The error, without personal values or secrets."),
    opt("cancel_requested_at", Timestamp, "annulation demandée le", "When a cancel was asked for (the run's process stops it)."),
    opt("node_id", Text, "nœud", "The hub node holding the run's lease (`nodes.id`); none while it waits in the queue."),
    req("takeovers", Int, "reprises", "Times another node took the run over after its node's lease went stale.").unit("takeovers"),
    opt("trigger_kind", Text, "déclenchement", "What started it: manual, schedule, replay or resume."),
    opt("token_name", Text, "demandé par", "The name of the API token that asked for it (never the token)."),
    opt("committed_at", Timestamp, "dernier lot le", "When it last committed a batch: an interrupted run ended then."),
    opt("files_read", Text, "fichiers lus", "The inbox files it read, by name (a JSON array)."),
    opt("files_ignored", Text, "fichiers ignorés", "The inbox files no stream of its connector reads (a misnamed export), by name (a JSON array)."),
];

#[rustfmt::skip]
const NODES: &[Column] = &[
    req("id", Text, "nœud", "Id of the hub node (host, process and a random part)."),
    req("host", Text, "machine", "Host name of the machine it runs on."),
    req("pid", Int, "processus", "Its process id on that machine."),
    req("version", Text, "version", "The vivres version it runs."),
    req("started_at", Timestamp, "démarré le", "When it started."),
    req("heartbeat_at", Timestamp, "dernier signe de vie", "When it last renewed its heartbeat and its runs' leases."),
    opt("stopped_at", Timestamp, "arrêté le", "When it stopped cleanly (none: running, or killed)."),
];

#[rustfmt::skip]
const SCHEDULE_TICKS: &[Column] = &[
    req("source", Text, "source", "The source whose schedule fired."),
    req("tick_at", Int, "échéance", "The tick, in seconds since 1970 (UTC).").unit("s"),
    req("node_id", Text, "nœud", "The node that claimed and queued it."),
    req("claimed_at", Timestamp, "pris le", "When it was claimed."),
    opt("run_id", Int, "exécution", "The run queued for it (none: the source was already syncing)."),
];

#[rustfmt::skip]
const RUN_STREAMS: &[Column] = &[
    req("run_id", Int, "exécution", "The run."),
    req("stream", Text, "flux", "The stream."),
    req("batches", Int, "lots", "Batches committed.").unit("batches"),
    req("read", Int, "lus", "Records the connector returned.").unit("records"),
    req("inserted", Int, "insérés", "Records stored for the first time.").unit("records"),
    req("updated", Int, "mis à jour", "Records whose values changed.").unit("records"),
    req("unchanged", Int, "inchangés", "Records read again without change.").unit("records"),
    req("quarantined", Int, "mis en quarantaine", "Records refused by validation.").unit("records"),
    req("removed", Int, "retirés", "Records a re-sent file no longer holds.").unit("records"),
    req("read_ms", Int, "temps de lecture", "Time in the plugin.").unit("ms"),
    req("normalise_ms", Int, "temps de normalisation", "Time validating and pseudonymising.").unit("ms"),
    req("commit_ms", Int, "temps d'écriture", "Time committing.").unit("ms"),
];

#[rustfmt::skip]
const RUN_HTTP: &[Column] = &[
    req("run_id", Int, "exécution", "The run."),
    req("status", Int, "code HTTP", "Status code of the partner's responses (0: no response)."),
    req("responses", Int, "réponses", "Responses with that status.").unit("responses"),
];

#[rustfmt::skip]
const RUN_LOGS: &[Column] = &[
    req("run_id", Int, "exécution", "The run."),
    req("seq", Int, "rang", "Order of the line in the run's log."),
    req("at", Timestamp, "horodatage", "When it was logged."),
    req("level", Text, "niveau", "error, warn, info or debug."),
    req("message", Text, "message", "The line, secrets redacted."),
];

#[rustfmt::skip]
const CHECKPOINTS: &[Column] = &[
    req("source", Text, "source", "The source."),
    req("stream", Text, "flux", "The stream."),
    opt("state", Text, "point de reprise", "The connector's opaque checkpoint."),
    req("run_id", Int, "exécution", "The run that saved it."),
    req("updated_at", Timestamp, "enregistré le", "When it was saved."),
];

#[rustfmt::skip]
const QUARANTINE: &[Column] = &[
    req("id", Int, "identifiant", "Id of the entry."),
    req("source", Text, "source", "The source."),
    req("stream", Text, "flux", "The stream."),
    req("run_id", Int, "exécution", "The run that refused the record."),
    opt("key", Bytes, "clé (pseudonyme)", "Keyed hash of the record's partner key."),
    opt("origin", Text, "fichier", "The export file's name."),
    opt("line", Int, "ligne", "Line in that file."),
    req("reason", Text, "motif", "Why the record was refused (stable code)."),
    req("field", Text, "champ", "The field at fault."),
    req("detail", Text, "détail", "Explanation, never the personal value."),
    req("payload_hash", Text, "empreinte", "SHA-256 of the refused record."),
    req("created_at", Timestamp, "refusé le", "When it was refused."),
    opt("replayed_by", Int, "rejoué par", "The run that replayed it."),
    opt("cell", Text, "cellule", "The workbook cell at fault (`Commande!F12`)."),
    req("identity", Text, "identité", "What the entry is about, hashed: a partner record (its key, or its content) with the reason and field, which a record refused again replaces; unique for a file's row."),
    opt("closed_at", Timestamp, "close le", "When the entry closed (empty: open, the record is still refused)."),
    opt("closed_reason", Text, "motif de clôture", "Why it closed: resent (its file came again without this refusal), replayed (a full re-read no longer refused it), accepted (the record was stored since)."),
    opt("closed_by", Int, "close par", "The run that closed it."),
    req("stale", Bool, "à revoir", "Its file is being read again and has not refused the record again yet: closed when the stream ends."),
    opt("partner_key", Text, "identifiant partenaire", "The partner's record id, when the connector declares the stream's keys non-personal (a subscription id, never a dossier number)."),
];

#[rustfmt::skip]
const SOURCE_PAUSES: &[Column] = &[
    req("source", Text, "source", "The source paused."),
    req("paused_at", Timestamp, "suspendue le", "When it was paused."),
    req("run_id", Int, "exécution", "The failed run that paused it."),
    req("failures", Int, "échecs", "Failed runs in a row when it was paused.").unit("runs"),
    req("reason", Text, "motif", "Why, with the last run's error."),
    opt("resumed_at", Timestamp, "reprise le", "When a coordinator resumed it."),
    opt("resumed_by", Text, "reprise par", "The token name that resumed it."),
];

#[rustfmt::skip]
const API_TOKENS: &[Column] = &[
    req("id", Int, "identifiant", "Id of the token."),
    req("name", Text, "nom", "Name of the token (what logs show)."),
    req("role", Text, "rôle", "admin, coordinator or evaluator."),
    req("territories", Text, "territoires", "A coordinator's territories, comma-separated."),
    req("token_sha256", Text, "empreinte du jeton", "SHA-256 of the token (never the token)."),
    req("created_at", Timestamp, "créé le", "When it was created."),
    opt("revoked_at", Timestamp, "révoqué le", "When it was revoked."),
];

#[rustfmt::skip]
const CONSOLE_SESSIONS: &[Column] = &[
    req("id_sha256", Text, "empreinte de la session", "SHA-256 of the session cookie (never the cookie)."),
    req("token_sha256", Text, "empreinte du jeton", "SHA-256 of the API token the session signed in with."),
    req("created_at", Timestamp, "ouverte le", "When the session began."),
    req("expires_at", Int, "expire à", "When it ends, unix seconds.").unit("s"),
];

#[rustfmt::skip]
const CONSOLE_LINKS: &[Column] = &[
    req("code_sha256", Text, "empreinte du lien", "SHA-256 of the one-time sign-in link's code."),
    req("token_sha256", Text, "empreinte du jeton", "SHA-256 of the API token it signs in with."),
    req("created_at", Timestamp, "créé le", "When it was made."),
    req("expires_at", Int, "expire à", "When it stops working, unix seconds.").unit("s"),
    opt("used_at", Timestamp, "utilisé le", "When it was used (it works once)."),
];

#[rustfmt::skip]
const HOUSEHOLD_PERIODS: &[Column] = &[
    req("granularity", Text, "type de période", "`month`, `quarter` or `year`: each fact counts once in each."),
    req("territory", Text, "territoire", "Territory of the facts' source."),
    req("period", Text, "période", "`YYYY-MM`, `YYYY-Qn` or `YYYY`."),
    req("network", Text, "réseau", "Network of the facts' source."),
    req("household", Text, "foyer (pseudonyme)", "Pseudonym of the household the facts name; empty when they name none."),
    req("household_key", Bytes, "fiche foyer", "The household record a Cocagne basket names (`households.key`), resolved when read; empty otherwise."),
    req("entity", Text, "type de fait", "`distribution` (`distributions`) or `order_line` (`order_lines`)."),
    req("channel", Text, "canal", "The order line's channel, or the distribution's kind (`basket`, `food-voucher`…)."),
    req("facts", Int, "faits", "Fact rows counted here."),
    req("active", Int, "faits d'activité", "Rows that make the household active: order lines; distributions collected, given or without status."),
    req("collected", Int, "retirés", "Distributions collected or without status."),
    req("weight_g", Int, "poids retiré", "Weight of the collected distributions (`quantity_kg`), in grams.").unit("g"),
    req("priced", Int, "lignes valorisées", "Order lines whose price paid and reference price are both known."),
    req("paid_cents", Int, "montant payé", "Price paid of the priced order lines.").unit("cents"),
    req("reference_cents", Int, "montant de référence", "Reference price of the priced order lines.").unit("cents"),
    req("amounts", Int, "aides chiffrées", "Distributions with an amount."),
    req("amount_cents", Int, "montant des aides", "Sum of those amounts.").unit("cents"),
];

#[rustfmt::skip]
const PRODUCT_PERIODS: &[Column] = &[
    req("granularity", Text, "type de période", "`month`, `quarter` or `year`: each line counts once in each."),
    req("territory", Text, "territoire", "Territory of the lines' source."),
    req("period", Text, "période", "`YYYY-MM`, `YYYY-Qn` or `YYYY`."),
    req("network", Text, "réseau", "Network of the lines' source."),
    req("channel", Text, "canal", "The order lines' channel."),
    req("dfc_type", Text, "type DFC", "The products' DFC type."),
    req("lines", Int, "lignes", "Order lines naming a household."),
    req("weighed", Int, "lignes pesées", "Those sold by the kg or the g."),
    req("weight_g", Int, "poids", "Their quantity in grams (rounded to the gram).").unit("g"),
];

const PERSON: &str = "Pseudonym of the household (keyed hash of the partner's identifier, per network): joins facts of one household, never reveals it.";

#[rustfmt::skip]
const HOUSEHOLDS: &[Column] = &[
    req("person", Text, "foyer (pseudonyme)", PERSON),
    opt("size", Int, "taille du foyer", "People in the household.").unit("people"),
    opt("adults", Int, "adultes", "Adults in the household.").unit("people"),
    opt("children", Int, "enfants", "Children in the household.").unit("people"),
    opt("composition", Text, "composition familiale", "Single, couple, single parent, couple with children, other."),
    opt("residence_postcode", Text, "code postal de résidence", "Postcode of residence."),
    opt("residence_insee", Text, "commune de résidence", "INSEE code of the commune of residence, resolved by the hub."),
    opt("residence_epci", Text, "EPCI de résidence", "SIREN of the EPCI of residence."),
    opt("residence_in_territory", Bool, "réside dans le territoire", "Whether the residence lies in the source's territory."),
    opt("income_band", Text, "tranche de revenus", "Income band."),
    opt("reste_a_vivre_band", Text, "tranche de reste à vivre", "Band of income left after fixed costs, per day and person."),
    opt("rights_from", Date, "droits ouverts du", "Start of the household's rights to aid."),
    opt("rights_to", Date, "droits ouverts jusqu'au", "End of those rights."),
    opt("monthly_cap_cents", Int, "plafond mensuel", "Monthly spending cap at solidarity prices.").unit("cents"),
    opt("programme", Text, "dispositif", "The programme the household is enrolled in."),
    opt("solidarity", Bool, "tarif solidaire", "Whether the household pays a solidarity price."),
    opt("price_paid_cents", Int, "prix payé", "Price the household pays for its subscription.").unit("cents"),
    opt("reference_price_cents", Int, "prix de référence", "Reference (full) price of the subscription.").unit("cents"),
    opt("prescriber", Text, "prescripteur", "Kind of body that referred the household."),
    opt("enrolment_start", Date, "début d'inscription", "Start of enrolment."),
    opt("enrolment_end", Date, "fin d'inscription", "End of enrolment."),
    opt("enrolment_site", Text, "lieu d'inscription", "Site of enrolment (drop point, grocery)."),
];

#[rustfmt::skip]
const SITES: &[Column] = &[
    req("kind", Text, "type de lieu", "garden, grocery, buying-group, aid-team, farm, drop-point, other."),
    opt("name", Text, "nom du lieu", "Name of the site (an organisation, never a person)."),
    opt("location_postcode", Text, "code postal", "Postcode of the site."),
    opt("location_insee", Text, "commune", "INSEE code of its commune."),
    opt("location_epci", Text, "EPCI", "SIREN of its EPCI."),
    opt("location_in_territory", Bool, "dans le territoire", "Whether it lies in the territory it is filed under (the source's, or the one of the source's `site_territories` its commune lies in)."),
    opt("site_group", Text, "groupe", "Group the site belongs to in its network."),
    opt("short_circuit", Bool, "circuit court", "Whether it sells through at most one intermediary."),
    opt("siret", Text, "SIRET", "SIRET number of the organisation."),
];

#[rustfmt::skip]
const PRODUCTS: &[Column] = &[
    req("label", Text, "libellé du produit", "The product's label."),
    opt("category", Text, "catégorie", "The partner's category."),
    req("dfc_type", Text, "type DFC", "Product type in the Data Food Consortium taxonomy (`vegetable`, `fruit`…)."),
    opt("unit", Text, "unité", "Unit it is sold in."),
    opt("organic", Bool, "bio", "Whether it is certified organic."),
    opt("producer", Text, "producteur", "The producer (a farm or company)."),
    opt("ean", Text, "code EAN", "Barcode."),
];

#[rustfmt::skip]
const DISTRIBUTIONS: &[Column] = &[
    opt("household", Text, "foyer (pseudonyme)", PERSON),
    opt("household_key", Bytes, "fiche foyer", "Keyed hash of the household record's key (joins `households.key`)."),
    opt("site", Text, "lieu", "Site of the distribution or aid."),
    opt("date", Date, "date", "Date of the distribution or aid."),
    opt("week", Text, "semaine", "ISO week of a basket delivery (`2024-W10`)."),
    req("kind", Text, "nature", "basket, aid (financial or in kind), voucher…"),
    opt("label", Text, "libellé", "The partner's label of the aid type."),
    opt("status", Text, "statut", "Delivered, missed, cancelled…"),
    opt("amount_cents", Int, "montant", "Amount of a financial aid.").unit("cents"),
    opt("quantity_kg", Real, "poids", "Weight of food handed out.").unit("kg"),
    opt("contents", Text, "contenu", "Contents of the basket (products)."),
    req("ordinal", Int, "rang", "Order of the line within the partner's record."),
];

#[rustfmt::skip]
const ORDER_LINES: &[Column] = &[
    opt("household", Text, "foyer (pseudonyme)", PERSON),
    opt("site", Text, "lieu", "Grocery, buying group or drop point."),
    req("channel", Text, "canal", "buying-group, grocery, basket, market, other."),
    opt("date", Date, "date", "Date of the order or sale."),
    opt("time", Text, "heure", "Time of the sale (HH:MM)."),
    opt("month", Text, "mois", "Month of the order (`YYYY-MM`) when no date is known."),
    req("product", Text, "produit", "The product's label."),
    req("dfc_type", Text, "type DFC", "Product type in the DFC taxonomy."),
    req("quantity", Real, "quantité", "Quantity, in `unit`."),
    opt("unit", Text, "unité", "Unit of the quantity (kg, piece, l…)."),
    opt("unit_price_paid_cents", Int, "prix unitaire payé", "Unit price the household paid.").unit("cents"),
    opt("unit_reference_price_cents", Int, "prix unitaire de référence", "Unit reference price.").unit("cents"),
    opt("price_paid_cents", Int, "montant payé", "Amount the household paid for the line.").unit("cents"),
    opt("reference_price_cents", Int, "montant de référence", "Line amount at reference price.").unit("cents"),
    opt("discount_percent", Real, "remise", "Solidarity discount.").unit("percent"),
    req("food_bank_donation", Bool, "don banque alimentaire", "Whether the product came from a food bank."),
];

#[rustfmt::skip]
const SUPPLIES: &[Column] = &[
    opt("site", Text, "lieu", "The site supplied."),
    req("producer", Text, "fournisseur", "The supplier (a farm or company)."),
    opt("producer_postcode", Text, "code postal du fournisseur", "Postcode of the supplier."),
    opt("producer_insee", Text, "commune du fournisseur", "INSEE code of its commune."),
    opt("producer_epci", Text, "EPCI du fournisseur", "SIREN of its EPCI."),
    opt("producer_in_territory", Bool, "fournisseur du territoire", "Whether it lies in the source's territory."),
    opt("distance_km", Real, "distance", "Distance from supplier to site.").unit("km"),
    opt("organic", Bool, "bio", "Whether the supply is certified organic."),
    opt("product", Text, "produit", "What is supplied."),
    opt("month", Text, "mois", "Month of supply (`YYYY-MM`)."),
];

#[rustfmt::skip]
const DIAGNOSTICS: &[Column] = &[
    req("farm", Text, "ferme (pseudonyme)", "Pseudonym of the diagnosed farm."),
    req("method", Text, "méthode", "Diagnostic method (IDEA4…)."),
    req("method_version", Text, "version de la méthode", "Version of the method or its calculator."),
    req("survey_year", Text, "année d'enquête", "Year the diagnostic describes."),
    opt("area_ha", Real, "SAU", "Utilised agricultural area.").unit("ha"),
    opt("workers", Real, "UTH", "Annual work units.").unit("AWU"),
    opt("farm_type", Text, "OTEX", "Type of farming."),
    opt("departement", Text, "département", "Département of the farm."),
];

#[rustfmt::skip]
const DIAGNOSTIC_SCORES: &[Column] = &[
    req("stream_id", Int, "flux", "The diagnostic's stream (with `key`, names the diagnostic).").prov(),
    req("key", Bytes, "clé (pseudonyme)", "The diagnostic's key (`diagnostics.key`).").prov(),
    req("level", Text, "niveau", "dimension, component or indicator."),
    req("code", Text, "code", "Code of the dimension, component or indicator (IDEA4's)."),
    opt("value", Real, "note", "The score.").unit("points"),
    opt("max", Real, "note maximale", "The highest score possible.").unit("points"),
];

#[rustfmt::skip]
const PARTICIPATION: &[Column] = &[
    opt("household", Text, "foyer (pseudonyme)", PERSON),
    opt("site", Text, "lieu", "Where the event took place."),
    opt("date", Date, "date", "Date of the event."),
    req("kind", Text, "type d'événement", "Workshop, committee, collective meal…"),
    opt("role", Text, "rôle", "Participant, facilitator, volunteer…"),
    opt("hours", Real, "durée", "Hours of participation.").unit("h"),
    opt("attendees", Int, "participants", "People present (for an event counted as a whole).").unit("people"),
];

#[rustfmt::skip]
const PATHWAYS: &[Column] = &[
    req("worker", Text, "salarié en insertion (pseudonyme)", "Pseudonym of the worker in work integration (IAE)."),
    opt("site", Text, "chantier", "The garden or site of the contract."),
    req("entry_date", Date, "date d'entrée", "Start of the pathway."),
    opt("exit_date", Date, "date de sortie", "End of the pathway."),
    opt("weekly_hours", Real, "durée hebdomadaire", "Contract hours per week.").unit("h/week"),
    opt("exit_label", Text, "motif de sortie", "The partner's exit label."),
    opt("exit_category", Text, "type de sortie", "durable, transitional, positive, other (DARES categories)."),
    opt("training_hours", Real, "heures de formation", "Training hours during the pathway.").unit("h"),
];

#[rustfmt::skip]
const SURVEY_RESPONSES: &[Column] = &[
    opt("household", Text, "foyer (pseudonyme)", PERSON),
    opt("respondent_network", Text, "réseau du répondant", "The network that knows the household."),
    opt("site", Text, "lieu", "Site where the survey was taken."),
    req("wave", Text, "vague", "Survey wave (T0, T1, T2)."),
    req("submitted_at", Timestamp, "soumis le", "When the response was submitted."),
    opt("residence_postcode", Text, "code postal de résidence", "Postcode of residence."),
    opt("residence_insee", Text, "commune de résidence", "INSEE code of the commune of residence."),
    opt("residence_epci", Text, "EPCI de résidence", "SIREN of the EPCI of residence."),
    opt("residence_in_territory", Bool, "réside dans le territoire", "Whether the residence lies in the territory."),
    req("instrument", Text, "questionnaire", "The instrument (`fies`…)."),
    opt("raw_score", Int, "score brut", "Raw score (FIES: affirmative answers, 0–8).").unit("points"),
];

#[rustfmt::skip]
const SURVEY_ANSWERS: &[Column] = &[
    req("stream_id", Int, "flux", "The response's stream (with `key`, names the response).").prov(),
    req("key", Bytes, "clé (pseudonyme)", "The response's key (`survey_responses.key`).").prov(),
    req("item", Text, "question", "Item code of the instrument."),
    req("answer", Text, "réponse", "The coded answer (never free text)."),
];

const fn hub(
    name: &'static str,
    fr: &'static str,
    en: &'static str,
    columns: &'static [Column],
) -> Table {
    Table {
        name,
        kind: None,
        role: Role::Hub,
        fr,
        en,
        connectors: &[],
        period: None,
        parent: None,
        columns,
    }
}

const fn fact(
    name: &'static str,
    kind: EntityKind,
    fr: &'static str,
    en: &'static str,
    connectors: &'static [&'static str],
    period: Option<&'static str>,
    columns: &'static [Column],
) -> Table {
    Table {
        name,
        kind: Some(kind),
        role: Role::Fact,
        fr,
        en,
        connectors,
        period,
        parent: None,
        columns,
    }
}

const fn child(
    name: &'static str,
    parent: &'static str,
    fr: &'static str,
    en: &'static str,
    connectors: &'static [&'static str],
    columns: &'static [Column],
) -> Table {
    Table {
        name,
        kind: None,
        role: Role::Child,
        fr,
        en,
        connectors,
        period: None,
        parent: Some(parent),
        columns,
    }
}

/// Every table of the warehouse, in migration order.
pub const TABLES: &[Table] = &[
    hub(
        "territories",
        "territoires",
        "The experiments' territories.",
        TERRITORIES,
    ),
    hub(
        "territory_epcis",
        "EPCI des territoires",
        "Which EPCIs each territory covers.",
        TERRITORY_EPCIS,
    ),
    hub(
        "epcis",
        "EPCI",
        "Intercommunalities (from the official geography).",
        EPCIS,
    ),
    hub(
        "communes",
        "communes",
        "Communes and arrondissements with their postcodes.",
        COMMUNES,
    ),
    hub("networks", "réseaux", "The coalition's networks.", NETWORKS),
    hub(
        "sources",
        "sources",
        "Configured sources: a connector reading one partner tool for a territory.",
        SOURCES,
    ),
    hub("streams", "flux", "Streams of the sources.", STREAMS),
    hub(
        "origins",
        "fichiers reçus",
        "Export files read by file sources.",
        ORIGINS,
    ),
    hub(
        "runs",
        "exécutions",
        "Syncs of a source, with their counts.",
        RUNS,
    ),
    hub(
        "run_streams",
        "exécutions par flux",
        "A run's figures per stream.",
        RUN_STREAMS,
    ),
    hub(
        "run_http",
        "réponses HTTP",
        "A run's partner responses by status.",
        RUN_HTTP,
    ),
    hub("run_logs", "journal", "A run's log lines.", RUN_LOGS),
    hub(
        "checkpoints",
        "points de reprise",
        "Where each stream resumes.",
        CHECKPOINTS,
    ),
    hub(
        "quarantine",
        "quarantaine",
        "Records refused by validation, without their values.",
        QUARANTINE,
    ),
    hub(
        "source_pauses",
        "sources suspendues",
        "Sources paused after repeated failed runs, until a coordinator resumes them.",
        SOURCE_PAUSES,
    ),
    hub(
        "nodes",
        "nœuds",
        "Hub processes (`vivres serve`) on this warehouse, with their heartbeat.",
        NODES,
    ),
    hub(
        "schedule_ticks",
        "échéances",
        "Ticks of the sources' schedules, each queued once whatever the number of nodes.",
        SCHEDULE_TICKS,
    ),
    hub(
        "api_tokens",
        "jetons d'accès",
        "API tokens, hashed.",
        API_TOKENS,
    ),
    hub(
        "console_sessions",
        "sessions de la console",
        "Web console sessions, hashed.",
        CONSOLE_SESSIONS,
    ),
    hub(
        "console_links",
        "liens de connexion",
        "One-time sign-in links of the console, hashed.",
        CONSOLE_LINKS,
    ),
    hub(
        "household_periods",
        "activité des foyers par période",
        "Pre-aggregate of distributions and order lines per household, channel and period (month, quarter, year), kept exact by every sync: what indicators read.",
        HOUSEHOLD_PERIODS,
    ),
    hub(
        "product_periods",
        "achats par type de produit et période",
        "Pre-aggregate of order lines naming a household, per DFC product type and period, kept exact by every sync.",
        PRODUCT_PERIODS,
    ),
    fact(
        "households",
        EntityKind::Household,
        "foyers",
        "Households (or members) known to a network, pseudonymised.",
        &[
            "cocagne-gardens",
            "secours-catholique-aid",
            "ugess-groceries",
            "vrac-orders",
        ],
        Some("enrolment_start"),
        HOUSEHOLDS,
    ),
    fact(
        "sites",
        EntityKind::Site,
        "lieux",
        "Gardens, groceries, buying groups, aid teams, farms, drop points.",
        &[
            "civam-diagnostics",
            "cocagne-gardens",
            "secours-catholique-aid",
            "ugess-groceries",
        ],
        None,
        SITES,
    ),
    fact(
        "products",
        EntityKind::Product,
        "produits",
        "Products of a catalogue.",
        &["vrac-orders"],
        None,
        PRODUCTS,
    ),
    fact(
        "distributions",
        EntityKind::Distribution,
        "distributions et aides",
        "Baskets handed out and aid granted.",
        &["cocagne-gardens", "secours-catholique-aid"],
        Some("date"),
        DISTRIBUTIONS,
    ),
    fact(
        "order_lines",
        EntityKind::OrderLine,
        "lignes de commande et ventes",
        "Order lines and sales, price paid vs reference price.",
        &["ugess-groceries", "vrac-orders"],
        Some("date"),
        ORDER_LINES,
    ),
    fact(
        "supplies",
        EntityKind::Supply,
        "approvisionnements",
        "Supplies of the sites: origin, distance, organic.",
        &["vrac-orders"],
        None,
        SUPPLIES,
    ),
    fact(
        "diagnostics",
        EntityKind::Diagnostic,
        "diagnostics de durabilité",
        "Farm sustainability diagnostics.",
        &["civam-diagnostics"],
        None,
        DIAGNOSTICS,
    ),
    child(
        "diagnostic_scores",
        "diagnostics",
        "notes des diagnostics",
        "A diagnostic's scores by dimension, component and indicator.",
        &["civam-diagnostics"],
        DIAGNOSTIC_SCORES,
    ),
    fact(
        "participation",
        EntityKind::Participation,
        "participation",
        "Participation in collective events (food democracy, social ties).",
        &[],
        Some("date"),
        PARTICIPATION,
    ),
    fact(
        "pathways",
        EntityKind::Pathway,
        "parcours d'insertion",
        "Work-integration pathways: entry, hours, exit.",
        &["cocagne-gardens"],
        Some("entry_date"),
        PATHWAYS,
    ),
    fact(
        "survey_responses",
        EntityKind::SurveyResponse,
        "réponses aux enquêtes",
        "Survey responses (food insecurity, FAO FIES).",
        &["kobo-surveys"],
        Some("submitted_at"),
        SURVEY_RESPONSES,
    ),
    child(
        "survey_answers",
        "survey_responses",
        "réponses par question",
        "A survey response's answers by item.",
        &["kobo-surveys"],
        SURVEY_ANSWERS,
    ),
];

/// The fact table of an entity.
pub fn table(kind: EntityKind) -> &'static Table {
    TABLES
        .iter()
        .find(|t| t.kind == Some(kind))
        .unwrap_or_else(|| unreachable!("every entity kind has a fact table"))
}

/// The child table of an entity's fact table (scores, answers), if it has one.
pub fn child_of(kind: EntityKind) -> Option<&'static Table> {
    let parent = table(kind).name;
    TABLES.iter().find(|t| t.parent == Some(parent))
}

/// A table by name.
pub fn named(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

/// The data dictionary: what `vivres schema` and `GET /schema` show.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Dictionary {
    /// Changes whenever the description does (a hash of it).
    pub version: String,
    pub tables: Vec<TableDoc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TableDoc {
    pub name: String,
    /// `hub` (bookkeeping and reference), `fact` or `child` (of a fact).
    pub role: String,
    pub fr: String,
    pub en: String,
    /// Connectors whose streams fill the table.
    pub connectors: Vec<String>,
    /// The column exports filter by date, if any.
    pub period: Option<String>,
    /// Whether `vivres export` and `/data/{entity}` serve it.
    pub exportable: bool,
    pub columns: Vec<ColumnDoc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ColumnDoc {
    pub name: String,
    /// text, integer, real, boolean, date, timestamp or bytes.
    #[serde(rename = "type")]
    pub ty: String,
    pub nullable: bool,
    pub fr: String,
    pub en: String,
    pub unit: Option<String>,
    pub provenance: bool,
}

/// The tables evaluators may export: facts and their children.
pub fn exportable(t: &Table) -> bool {
    t.role != Role::Hub
}

/// The dictionary of every table.
pub fn dictionary() -> Dictionary {
    let tables: Vec<TableDoc> = TABLES
        .iter()
        .map(|t| TableDoc {
            name: t.name.to_string(),
            role: t.role.name().to_string(),
            fr: t.fr.to_string(),
            en: t.en.to_string(),
            connectors: t.connectors.iter().map(|c| c.to_string()).collect(),
            period: t
                .parent
                .and_then(named)
                .map_or(t.period, |p| p.period)
                .map(str::to_string),
            exportable: exportable(t),
            columns: t
                .all_columns()
                .map(|c| ColumnDoc {
                    name: c.name.to_string(),
                    ty: c.ty.name().to_string(),
                    nullable: c.nullable,
                    fr: c.fr.to_string(),
                    en: c.en.to_string(),
                    unit: c.unit.map(str::to_string),
                    provenance: c.provenance,
                })
                .collect(),
        })
        .collect();
    use sha2::Digest as _;
    let bytes = serde_json::to_vec(&tables).unwrap_or_default();
    let version = hex::encode(&sha2::Sha256::digest(&bytes)[..6]);
    Dictionary { version, tables }
}

/// The dictionary's version (see [`Dictionary::version`]).
pub fn version() -> String {
    dictionary().version
}

/// The dictionary as Markdown: a section per table, a row per column.
pub fn markdown(d: &Dictionary) -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "# Vivres data dictionary / Dictionnaire des données\n\nVersion `{}`. Person identifiers are pseudonyms (keyed hashes); amounts in `cents` are euro cents.\n",
        d.version
    );
    for t in &d.tables {
        let _ = write!(
            out,
            "\n## `{}` ({}): {}\n\n{}\n",
            t.name, t.role, t.fr, t.en
        );
        if !t.connectors.is_empty() {
            let _ = writeln!(
                out,
                "\nFilled by / alimentée par: {}.",
                t.connectors.join(", ")
            );
        }
        if let Some(p) = &t.period {
            let _ = writeln!(out, "\nExports filter dates on `{p}`.");
        }
        out.push_str("\n| column | type | null | unit | provenance | fr | en |\n|---|---|---|---|---|---|---|\n");
        for c in &t.columns {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} | {} |",
                c.name,
                c.ty,
                if c.nullable { "yes" } else { "no" },
                c.unit.as_deref().unwrap_or(""),
                if c.provenance { "yes" } else { "" },
                c.fr.replace('|', "\\|"),
                c.en.replace('|', "\\|"),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_has_one_fact_table() {
        for kind in EntityKind::ALL {
            assert_eq!(
                TABLES.iter().filter(|t| t.kind == Some(kind)).count(),
                1,
                "{kind:?}"
            );
            assert_eq!(table(kind).role, Role::Fact);
        }
    }

    #[test]
    fn every_table_and_column_is_described() {
        for t in TABLES {
            assert!(
                !t.fr.trim().is_empty() && !t.en.trim().is_empty(),
                "table {} has no description",
                t.name
            );
            for c in t.all_columns() {
                assert!(
                    c.fr.trim().len() >= 2 && c.en.trim().len() >= 8,
                    "{}.{} has no description (French term and English meaning)",
                    t.name,
                    c.name
                );
            }
            if let Some(parent) = t.parent {
                assert_eq!(
                    named(parent).map(|p| p.role),
                    Some(Role::Fact),
                    "{}",
                    t.name
                );
            }
            if let Some(p) = t.period {
                let c = t
                    .column(p)
                    .unwrap_or_else(|| panic!("{}: no period column {p}", t.name));
                assert!(
                    matches!(c.ty, Type::Date | Type::Timestamp),
                    "{}.{p}",
                    t.name
                );
            }
        }
    }

    #[test]
    fn the_dictionary_renders_every_column() {
        let d = dictionary();
        let md = markdown(&d);
        for t in TABLES {
            for c in t.all_columns() {
                assert!(
                    md.contains(&format!("| `{}` |", c.name)),
                    "{}.{}",
                    t.name,
                    c.name
                );
            }
        }
        assert_eq!(d.version.len(), 12);
        assert_eq!(d.version, version());
    }
}
