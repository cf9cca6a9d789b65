//! Embeds the set of French postcodes (La Poste, from the hub's gazetteer
//! `hub/data/communes.csv`) as a 100 000-bit bitmap: the guest must quarantine a
//! VRAC member's order lines whose residence postcode is not French (`99999`),
//! and an order line has no residence the hub could check itself.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let csv = manifest.join("../../hub/data/communes.csv");
    println!("cargo::rerun-if-changed={}", csv.display());
    let text = fs::read_to_string(&csv).expect("hub/data/communes.csv (the commune gazetteer)");
    let mut lines = text.lines();
    let header = lines.next().expect("communes.csv header");
    let col = header
        .split(',')
        .position(|h| h == "postcodes")
        .expect("communes.csv: a `postcodes` column");
    let mut bits = vec![0u8; 100_000 / 8];
    let mut count = 0usize;
    for line in lines {
        // Names may be quoted and hold commas: the postcodes column is counted from the end.
        let fields = split_csv(line);
        let Some(codes) = fields.get(col) else {
            continue;
        };
        for code in codes.split('|') {
            if code.len() == 5 && code.bytes().all(|b| b.is_ascii_digit()) {
                let n: usize = code.parse().expect("digits");
                if bits[n / 8] & (1 << (n % 8)) == 0 {
                    count += 1;
                }
                bits[n / 8] |= 1 << (n % 8);
            }
        }
    }
    assert!(count > 5_000, "communes.csv: only {count} postcodes");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("postcodes.bin");
    fs::write(out, bits).expect("write postcodes.bin");
}

fn split_csv(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}
