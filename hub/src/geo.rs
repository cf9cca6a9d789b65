//! Geography: the French commune gazetteer and residence resolution.
//!
//! The reference data (`hub/data/communes.csv`, `hub/data/epci.csv`, derived from
//! `@etalab/decoupage-administratif` 6.0.0, Licence Ouverte / Etalab, postcodes from
//! La Poste) is embedded in the binary and parsed once, on first use, by
//! [`gazetteer()`].
//!
//! [`Gazetteer::resolve`] turns a partner's residence ([`Location`]: postcode, commune
//! name, INSEE code, each optional and messy) into a [`Residence`], or refuses it with a
//! [`LocationError`] carrying the partners' quarantine reason. It never guesses:
//!
//! 1. A known INSEE code wins.
//! 2. A postcode is cleaned ([`clean_postcode`]: spaces, U+00A0/U+202F, `CEDEX…`, lost
//!    leading zero). Not five digits, or not a La Poste postcode → `unknown_postcode`.
//!    One commune for it → that commune. Several (a shared rural postcode) → the one
//!    whose name key matches the given commune name; without such a match the residence
//!    keeps the postcode and only what all candidates agree on (EPCI, département),
//!    with no INSEE code, and the EPCIs of all candidates: a territory that holds
//!    all or none of them knows whether the residence is inside
//!    ([`Residence::in_territory`]). The postcodes of Paris, Lyon and Marseille
//!    resolve to the municipal arrondissement (`69003` → Lyon 3e, `69123` is not a
//!    candidate).
//! 3. No postcode, a commune name: exactly one commune with that name key → it;
//!    several (in several départements) or none → `unresolved_location`.
//! 4. Nothing given → an unknown residence (`Ok`, all fields `None`).
//!
//! Two quirks are normalised rather than quarantined:
//! - a **city written in the postcode field** (letters only, e.g. `Villeurbanne`) is
//!   read as the commune name when the commune field is empty or says the same; a
//!   letters-only value that is no commune name (`ABCDE`) stays `unknown_postcode`;
//! - a **CEDEX code** (`69361 CEDEX 07`, absent from the La Poste commune list) is
//!   resolved by the commune name within the postcode's département when that is
//!   unambiguous; otherwise it is `unknown_postcode`.
//!
//! Mojibake (`VÃ©nissieux`) is repaired before names are compared
//! ([`repair_mojibake`]). Postcode cleaning, name keys and mojibake repair are the
//! French-data rules the connectors' SDK applies too: one crate, `vivres-fr`
//! (`plugins/FRENCH-DATA.md`).
//!
//! Error details never contain the input value (it may be personal).

use vivres_fr::given_text;
pub use vivres_fr::{CleanPostcode, Code5, clean_postcode, name_key, repair_mojibake};

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::model::{Location, RejectReason};

/// The embedded commune list.
pub const COMMUNES_CSV: &str = include_str!("../data/communes.csv");
/// The embedded EPCI list.
pub const EPCI_CSV: &str = include_str!("../data/epci.csv");

/// The reference data could not be parsed (a bug in the shipped files).
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("{file}: unreadable CSV: {source}")]
    Csv {
        file: &'static str,
        #[source]
        source: csv::Error,
    },
    #[error("{file}: missing column `{column}`")]
    MissingColumn {
        file: &'static str,
        column: &'static str,
    },
    #[error("{file} line {line}: invalid `{column}`")]
    InvalidField {
        file: &'static str,
        line: u64,
        column: &'static str,
    },
    #[error("{file} line {line}: duplicate code")]
    Duplicate { file: &'static str, line: u64 },
    #[error("communes.csv: arrondissement {insee} has unknown parent")]
    UnknownParent { insee: String },
}

/// `Commune::kind` of a commune.
pub const KIND_COMMUNE: &str = "commune-actuelle";
/// `Commune::kind` of a municipal arrondissement of Paris, Lyon or Marseille.
pub const KIND_ARRONDISSEMENT: &str = "arrondissement-municipal";

/// A commune or municipal arrondissement.
#[derive(Debug, Clone, PartialEq)]
pub struct Commune {
    /// INSEE code (`69388`, `2A004`).
    pub insee: String,
    /// Official name (`Lyon 8e Arrondissement`).
    pub name: String,
    /// [`KIND_COMMUNE`] (`commune-actuelle`) or [`KIND_ARRONDISSEMENT`]
    /// (`arrondissement-municipal`).
    pub kind: String,
    /// Département code (`69`, `2A`, `974`).
    pub departement: String,
    /// For an arrondissement, its commune (`69123`).
    pub parent_insee: Option<String>,
    /// SIREN of its EPCI; an arrondissement without one inherits its parent's.
    pub epci_siren: Option<String>,
    /// La Poste postcodes.
    pub postcodes: Vec<String>,
    pub population: Option<u64>,
}

impl Commune {
    /// A municipal arrondissement (of Paris, Lyon or Marseille).
    pub fn is_arrondissement(&self) -> bool {
        self.kind == KIND_ARRONDISSEMENT
    }
}

/// An EPCI (intercommunal body).
#[derive(Debug, Clone, PartialEq)]
pub struct Epci {
    pub siren: String,
    pub name: String,
    /// `CC`, `CA`, `CU`, `METRO`, `MET69`.
    pub kind: String,
    pub population: Option<u64>,
}

/// A resolved residence. `insee` is `None` when only the postcode is known (a shared
/// postcode without a matching name) or when nothing was given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Residence {
    pub insee: Option<String>,
    /// Cleaned postcode (`01000`, not `1000`).
    pub postcode: Option<String>,
    /// Official commune name.
    pub commune: Option<String>,
    /// The EPCI, when every commune the residence may be agrees on one.
    pub epci_siren: Option<String>,
    pub departement: Option<String>,
    /// The EPCIs the residence may lie in, distinct and sorted: its commune's, or
    /// for a postcode shared by several communes that no name settles, those of
    /// all of them. `None` stands for a commune in no EPCI. Empty when nothing
    /// was given.
    pub candidate_epcis: Vec<Option<String>>,
}

impl Residence {
    /// Whether the residence lies in a territory made of these EPCIs: known when
    /// every commune it may be agrees (a shared postcode whose communes all lie
    /// outside is outside), unknown (`None`) when it could be inside or outside,
    /// or when nothing locates it.
    pub fn in_territory(&self, territory_epcis: &[String]) -> Option<bool> {
        let mut inside = self
            .candidate_epcis
            .iter()
            .map(|e| e.as_ref().is_some_and(|e| territory_epcis.contains(e)));
        let first = inside.next()?;
        inside.all(|i| i == first).then_some(first)
    }
}

/// Borrowed, allocation-free form of [`Residence`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ResolvedRef<'a> {
    pub commune: Option<&'a Commune>,
    pub postcode: Option<Code5>,
    pub epci_siren: Option<&'a str>,
    pub departement: Option<&'a str>,
    /// The communes a shared postcode may be when no name settled it (indices
    /// into the gazetteer); empty otherwise.
    shared: &'a [u32],
}

/// Why a residence was refused. `detail` never holds the input value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {field}: {detail}", reason.as_str())]
pub struct LocationError {
    /// `UnknownPostcode` or `UnresolvedLocation`.
    pub reason: RejectReason,
    /// `postcode`, `commune` or `insee`.
    pub field: &'static str,
    pub detail: String,
}

impl LocationError {
    fn new(reason: RejectReason, field: &'static str, detail: &str) -> Self {
        LocationError {
            reason,
            field,
            detail: detail.to_owned(),
        }
    }
}

/// The commune gazetteer.
pub struct Gazetteer {
    communes: Vec<Commune>,
    /// `name_key` of each commune, parallel to `communes`.
    keys: Vec<String>,
    by_insee: HashMap<Code5, u32>,
    by_postcode: HashMap<Code5, Vec<u32>>,
    by_name: HashMap<String, Vec<u32>>,
    epcis: Vec<Epci>,
    epci_by_siren: HashMap<String, u32>,
}

impl std::fmt::Debug for Gazetteer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gazetteer")
            .field("communes", &self.communes.len())
            .field("epcis", &self.epcis.len())
            .finish()
    }
}

static GAZETTEER: LazyLock<Result<Gazetteer, GeoError>> =
    LazyLock::new(|| Gazetteer::from_csv(COMMUNES_CSV, EPCI_CSV));

/// The gazetteer of the embedded data, parsed on first use (a few tens of ms).
/// An error means the shipped data is broken (a bug caught by this module's tests).
pub fn gazetteer() -> Result<&'static Gazetteer, &'static GeoError> {
    GAZETTEER.as_ref()
}

/// A field's trimmed value, `None` when empty or a missing marker.
fn given(o: &Option<String>) -> Option<&str> {
    given_text(o.as_deref())
}

/// Column positions by header name.
fn columns<const N: usize>(
    file: &'static str,
    headers: &csv::StringRecord,
    names: [&'static str; N],
) -> Result<[usize; N], GeoError> {
    let mut out = [0usize; N];
    for (slot, name) in out.iter_mut().zip(names) {
        *slot = headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or(GeoError::MissingColumn { file, column: name })?;
    }
    Ok(out)
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn population(file: &'static str, line: u64, s: &str) -> Result<Option<u64>, GeoError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| GeoError::InvalidField {
        file,
        line,
        column: "population",
    })
}

impl Gazetteer {
    /// Builds the gazetteer from the two CSV files (see `hub/data/README.md`).
    pub fn from_csv(communes: &str, epcis: &str) -> Result<Self, GeoError> {
        let epcis = Self::parse_epcis(epcis)?;
        let mut epci_by_siren = HashMap::with_capacity(epcis.len());
        for (i, e) in epcis.iter().enumerate() {
            if epci_by_siren.insert(e.siren.clone(), i as u32).is_some() {
                return Err(GeoError::Duplicate {
                    file: "epci.csv",
                    line: i as u64 + 2,
                });
            }
        }

        let mut communes = Self::parse_communes(communes)?;
        let mut by_insee = HashMap::with_capacity(communes.len());
        for (i, c) in communes.iter().enumerate() {
            let line = i as u64 + 2;
            let code = Code5::parse(&c.insee).ok_or(GeoError::InvalidField {
                file: "communes.csv",
                line,
                column: "insee",
            })?;
            if by_insee.insert(code, i as u32).is_some() {
                return Err(GeoError::Duplicate {
                    file: "communes.csv",
                    line,
                });
            }
        }
        // Arrondissements without an EPCI of their own inherit their parent's.
        for i in 0..communes.len() {
            let Some(parent) = communes[i].parent_insee.as_deref() else {
                continue;
            };
            let p = Code5::parse(parent)
                .and_then(|code| by_insee.get(&code))
                .copied()
                .ok_or_else(|| GeoError::UnknownParent {
                    insee: communes[i].insee.clone(),
                })?;
            if communes[i].epci_siren.is_none() {
                communes[i].epci_siren = communes[p as usize].epci_siren.clone();
            }
        }

        let mut by_postcode: HashMap<Code5, Vec<u32>> = HashMap::with_capacity(communes.len());
        for (i, c) in communes.iter().enumerate() {
            for pc in &c.postcodes {
                let code = Code5::parse(pc)
                    .filter(|code| code.as_str().bytes().all(|b| b.is_ascii_digit()))
                    .ok_or(GeoError::InvalidField {
                        file: "communes.csv",
                        line: i as u64 + 2,
                        column: "postcodes",
                    })?;
                by_postcode.entry(code).or_default().push(i as u32);
            }
        }
        // A postcode of Paris, Lyon or Marseille belongs to its arrondissement: drop the
        // parent commune where one of its arrondissements also has the postcode.
        for list in by_postcode.values_mut() {
            if list.len() < 2 {
                continue;
            }
            let parents: Vec<&str> = list
                .iter()
                .filter_map(|&i| communes[i as usize].parent_insee.as_deref())
                .collect();
            if parents.is_empty() {
                continue;
            }
            let keep: Vec<u32> = list
                .iter()
                .copied()
                .filter(|&i| !parents.contains(&communes[i as usize].insee.as_str()))
                .collect();
            *list = keep;
        }

        let keys: Vec<String> = communes.iter().map(|c| name_key(&c.name)).collect();
        let mut by_name: HashMap<String, Vec<u32>> = HashMap::with_capacity(communes.len());
        for (i, k) in keys.iter().enumerate() {
            by_name.entry(k.clone()).or_default().push(i as u32);
        }

        Ok(Gazetteer {
            communes,
            keys,
            by_insee,
            by_postcode,
            by_name,
            epcis,
            epci_by_siren,
        })
    }

    fn parse_epcis(text: &str) -> Result<Vec<Epci>, GeoError> {
        const FILE: &str = "epci.csv";
        let csv_err = |source| GeoError::Csv { file: FILE, source };
        let mut rdr = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let headers = rdr.headers().map_err(csv_err)?.clone();
        let [siren, name, kind, pop] =
            columns(FILE, &headers, ["siren", "name", "kind", "population"])?;
        let mut out = Vec::new();
        for (i, rec) in rdr.records().enumerate() {
            let rec = rec.map_err(csv_err)?;
            let line = i as u64 + 2;
            let field = |idx: usize| rec.get(idx).unwrap_or("");
            let invalid = |column| GeoError::InvalidField {
                file: FILE,
                line,
                column,
            };
            let s = field(siren).trim();
            if s.len() != 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid("siren"));
            }
            out.push(Epci {
                siren: s.to_owned(),
                name: non_empty(field(name)).ok_or_else(|| invalid("name"))?,
                kind: non_empty(field(kind)).ok_or_else(|| invalid("kind"))?,
                population: population(FILE, line, field(pop))?,
            });
        }
        Ok(out)
    }

    fn parse_communes(text: &str) -> Result<Vec<Commune>, GeoError> {
        const FILE: &str = "communes.csv";
        let csv_err = |source| GeoError::Csv { file: FILE, source };
        let mut rdr = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let headers = rdr.headers().map_err(csv_err)?.clone();
        let [insee, name, kind, dep, parent, epci, postcodes, pop] = columns(
            FILE,
            &headers,
            [
                "insee",
                "name",
                "kind",
                "departement",
                "parent_insee",
                "epci_siren",
                "postcodes",
                "population",
            ],
        )?;
        let mut out = Vec::with_capacity(36_000);
        for (i, rec) in rdr.records().enumerate() {
            let rec = rec.map_err(csv_err)?;
            let line = i as u64 + 2;
            let field = |idx: usize| rec.get(idx).unwrap_or("");
            let invalid = |column| GeoError::InvalidField {
                file: FILE,
                line,
                column,
            };
            let kind = match field(kind).trim() {
                KIND_COMMUNE => KIND_COMMUNE,
                KIND_ARRONDISSEMENT => KIND_ARRONDISSEMENT,
                _ => return Err(invalid("kind")),
            };
            let parent_insee = non_empty(field(parent));
            if (kind == KIND_ARRONDISSEMENT) != parent_insee.is_some() {
                return Err(invalid("parent_insee"));
            }
            out.push(Commune {
                insee: non_empty(field(insee)).ok_or_else(|| invalid("insee"))?,
                name: non_empty(field(name)).ok_or_else(|| invalid("name"))?,
                kind: kind.to_owned(),
                departement: non_empty(field(dep)).ok_or_else(|| invalid("departement"))?,
                parent_insee,
                epci_siren: non_empty(field(epci)),
                postcodes: field(postcodes)
                    .split('|')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect(),
                population: population(FILE, line, field(pop))?,
            });
        }
        Ok(out)
    }

    /// All communes and municipal arrondissements, in INSEE order of the data file.
    pub fn communes(&self) -> impl Iterator<Item = &Commune> {
        self.communes.iter()
    }

    /// All EPCIs.
    pub fn epcis(&self) -> impl Iterator<Item = &Epci> {
        self.epcis.iter()
    }

    /// The commune with this INSEE code (trimmed, case-insensitive: `2a004`).
    pub fn commune(&self, insee: &str) -> Option<&Commune> {
        let code = Code5::parse(insee.trim())?;
        self.by_insee
            .get(&code)
            .map(|&i| &self.communes[i as usize])
    }

    /// The EPCI with this SIREN.
    pub fn epci(&self, siren: &str) -> Option<&Epci> {
        self.epci_by_siren
            .get(siren.trim())
            .map(|&i| &self.epcis[i as usize])
    }

    /// The name of the EPCI with this SIREN.
    pub fn epci_name(&self, siren: &str) -> Option<&str> {
        self.epci(siren).map(|e| e.name.as_str())
    }

    /// The communes having this postcode (cleaned first: `69 008`, `1000`, `… CEDEX`).
    /// Paris, Lyon and Marseille postcodes give the arrondissement, not the city.
    pub fn communes_by_postcode(&self, postcode: &str) -> impl Iterator<Item = &Commune> {
        let list = match clean_postcode(postcode) {
            CleanPostcode::Code { code, .. } => self.by_postcode.get(&code).map(Vec::as_slice),
            _ => None,
        };
        list.unwrap_or_default()
            .iter()
            .map(|&i| &self.communes[i as usize])
    }

    /// The communes whose name has the same key as `name` (see [`name_key`]).
    pub fn communes_by_name(&self, name: &str) -> impl Iterator<Item = &Commune> {
        self.by_name
            .get(&name_key(name))
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|&i| &self.communes[i as usize])
    }

    /// Resolves a residence (see the module documentation for the rules).
    pub fn resolve(&self, loc: &Location) -> Result<Residence, LocationError> {
        self.resolve_ref(loc).map(|r| self.residence(&r))
    }

    /// The owned form of a resolution, with the EPCIs it may lie in.
    pub fn residence(&self, r: &ResolvedRef<'_>) -> Residence {
        let mut candidate_epcis: Vec<Option<String>> = match r.commune {
            Some(c) => vec![c.epci_siren.clone()],
            None => r
                .shared
                .iter()
                .map(|&i| self.communes[i as usize].epci_siren.clone())
                .collect(),
        };
        candidate_epcis.sort_unstable();
        candidate_epcis.dedup();
        Residence {
            insee: r.commune.map(|c| c.insee.clone()),
            postcode: r.postcode.map(|p| p.as_str().to_owned()),
            commune: r.commune.map(|c| c.name.clone()),
            epci_siren: r.epci_siren.map(str::to_owned),
            departement: r.departement.map(str::to_owned),
            candidate_epcis,
        }
    }

    /// [`resolve`](Self::resolve) without allocating on the postcode path (a name
    /// comparison allocates its key).
    pub fn resolve_ref(&self, loc: &Location) -> Result<ResolvedRef<'_>, LocationError> {
        let insee = given(&loc.insee);
        let postcode = given(&loc.postcode);
        let name = given(&loc.commune);

        if let Some(insee) = insee {
            if let Some(c) = self.commune(insee) {
                let postcode = postcode
                    .and_then(|p| match clean_postcode(p) {
                        CleanPostcode::Code { code, .. } => Some(code),
                        _ => None,
                    })
                    .filter(|code| c.postcodes.iter().any(|p| p == code.as_str()))
                    .or_else(|| self.sole_postcode(c));
                return Ok(self.of_commune(c, postcode));
            }
            if postcode.is_none() && name.is_none() {
                return Err(LocationError::new(
                    RejectReason::UnresolvedLocation,
                    "insee",
                    "not a known INSEE commune code",
                ));
            }
        }

        if let Some(raw) = postcode {
            return match clean_postcode(raw) {
                CleanPostcode::Empty => self.resolve_name(name, "commune"),
                CleanPostcode::Invalid => Err(LocationError::new(
                    RejectReason::UnknownPostcode,
                    "postcode",
                    "not a French postcode",
                )),
                CleanPostcode::Name(city) => {
                    let key = name_key(city);
                    let known = self.by_name.contains_key(&key);
                    let agrees = name.is_none_or(|n| name_key(n) == key);
                    if known && agrees {
                        self.resolve_key(&key, "postcode")
                    } else {
                        Err(LocationError::new(
                            RejectReason::UnknownPostcode,
                            "postcode",
                            "not a French postcode",
                        ))
                    }
                }
                CleanPostcode::Code { code, cedex } => self.resolve_postcode(code, cedex, name),
            };
        }

        self.resolve_name(name, "commune")
    }

    fn resolve_postcode(
        &self,
        code: Code5,
        cedex: bool,
        name: Option<&str>,
    ) -> Result<ResolvedRef<'_>, LocationError> {
        let Some(list) = self.by_postcode.get(&code) else {
            if cedex && let Some(c) = name.and_then(|n| self.unique_in_departement(n, code)) {
                return Ok(self.of_commune(c, self.sole_postcode(c)));
            }
            return Err(LocationError::new(
                RejectReason::UnknownPostcode,
                "postcode",
                "not a known French postcode",
            ));
        };
        if let [only] = list.as_slice() {
            return Ok(self.of_commune(&self.communes[*only as usize], Some(code)));
        }
        if let Some(name) = name {
            let key = name_key(name);
            let mut matching = list.iter().filter(|&&i| self.keys[i as usize] == key);
            if let (Some(&i), None) = (matching.next(), matching.next()) {
                return Ok(self.of_commune(&self.communes[i as usize], Some(code)));
            }
        }
        // Several communes share this postcode: keep only what they all agree on.
        let agreed = |f: fn(&Commune) -> Option<&str>| {
            let mut it = list.iter().map(|&i| f(&self.communes[i as usize]));
            let first = it.next().flatten()?;
            it.all(|v| v == Some(first)).then_some(first)
        };
        Ok(ResolvedRef {
            commune: None,
            postcode: Some(code),
            epci_siren: agreed(|c| c.epci_siren.as_deref()),
            departement: agreed(|c| Some(c.departement.as_str())),
            shared: list,
        })
    }

    fn resolve_name(
        &self,
        name: Option<&str>,
        field: &'static str,
    ) -> Result<ResolvedRef<'_>, LocationError> {
        match name {
            None => Ok(ResolvedRef::default()),
            Some(n) => self.resolve_key(&name_key(n), field),
        }
    }

    fn resolve_key(
        &self,
        key: &str,
        field: &'static str,
    ) -> Result<ResolvedRef<'_>, LocationError> {
        match self.by_name.get(key).map(Vec::as_slice) {
            Some([only]) => {
                let c = &self.communes[*only as usize];
                Ok(self.of_commune(c, self.sole_postcode(c)))
            }
            Some([_, _, ..]) => Err(LocationError::new(
                RejectReason::UnresolvedLocation,
                field,
                "commune name shared by several communes in several départements",
            )),
            _ => Err(LocationError::new(
                RejectReason::UnresolvedLocation,
                field,
                "no French commune has this name",
            )),
        }
    }

    /// The one commune of the CEDEX code's département with this name.
    fn unique_in_departement(&self, name: &str, code: Code5) -> Option<&Commune> {
        let pc = code.as_str();
        let in_dep = |dep: &str| match &pc[..2] {
            "20" => dep == "2A" || dep == "2B",
            "97" | "98" => pc.starts_with(dep) && dep.len() == 3,
            two => dep == two,
        };
        let list = self.by_name.get(&name_key(name))?;
        let mut it = list
            .iter()
            .map(|&i| &self.communes[i as usize])
            .filter(|c| in_dep(&c.departement));
        match (it.next(), it.next()) {
            (Some(c), None) => Some(c),
            _ => None,
        }
    }

    fn sole_postcode(&self, c: &Commune) -> Option<Code5> {
        match c.postcodes.as_slice() {
            [only] => Code5::parse(only),
            _ => None,
        }
    }

    fn of_commune<'a>(&'a self, c: &'a Commune, postcode: Option<Code5>) -> ResolvedRef<'a> {
        ResolvedRef {
            commune: Some(c),
            postcode,
            epci_siren: c.epci_siren.as_deref(),
            departement: Some(c.departement.as_str()),
            shared: &[],
        }
    }
}

#[cfg(test)]
mod tests;
