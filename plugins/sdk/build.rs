//! With the `geo` feature: the hub's commune gazetteer (`hub/data/communes.csv`)
//! as the compact tables of `fr::geo` (layout in `src/fr/geo/table.rs`), the
//! names keyed by the hub's own `name_key` (the `vivres-fr` crate both use).

#[path = "src/fr/geo/table.rs"]
mod table;

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=src/fr/geo/table.rs");
    if env::var_os("CARGO_FEATURE_GEO").is_none() {
        return;
    }
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let path = manifest.join("../../hub/data/communes.csv");
    println!("cargo::rerun-if-changed={}", path.display());
    let text = fs::read_to_string(&path).expect("hub/data/communes.csv (the commune gazetteer)");
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let headers = rdr.headers().expect("communes.csv header").clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .unwrap_or_else(|| panic!("communes.csv: no `{name}` column"))
    };
    let (name, dep, postcodes) = (col("name"), col("departement"), col("postcodes"));

    let mut bits = vec![0u8; 100_000 / 8];
    let mut names: Vec<(u64, u16)> = Vec::with_capacity(36_000);
    for rec in rdr.records() {
        let rec = rec.expect("communes.csv record");
        let field = |i: usize| rec.get(i).unwrap_or("").trim();
        for code in field(postcodes).split('|').map(str::trim) {
            if code.len() == 5 && code.bytes().all(|b| b.is_ascii_digit()) {
                let n: usize = code.parse().expect("digits");
                bits[n / 8] |= 1 << (n % 8);
            }
        }
        let code = table::departement_code(field(dep));
        assert!(code != 0, "communes.csv: département {:?}", field(dep));
        names.push((table::key_hash(&vivres_fr::name_key(field(name))), code));
    }
    assert!(
        names.len() > 30_000,
        "communes.csv: only {} communes",
        names.len()
    );
    names.sort_unstable();
    let mut out = Vec::with_capacity(names.len() * table::ENTRY);
    for (hash, dep) in names {
        out.extend_from_slice(&hash.to_le_bytes());
        out.extend_from_slice(&dep.to_le_bytes());
    }
    let dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    fs::write(dir.join("postcodes.bin"), bits).expect("write postcodes.bin");
    fs::write(dir.join("names.bin"), out).expect("write names.bin");
}
