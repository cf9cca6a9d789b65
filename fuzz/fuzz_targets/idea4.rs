//! The IDEA4 reader and scorer of the CIVAM connector on arbitrary export
//! files: a diagnostic or a refusal, never a panic. The connector is a wasm
//! component, not a library: its reading modules are compiled in from its
//! sources.
#![no_main]

#[allow(dead_code)]
#[path = "../../plugins/civam-diagnostics/src/idea4.rs"]
mod idea4;

#[allow(dead_code)]
#[path = "../../plugins/civam-diagnostics/src/diagnostic.rs"]
mod diagnostic;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn method() -> &'static idea4::Method {
    static METHOD: OnceLock<idea4::Method> = OnceLock::new();
    METHOD.get_or_init(|| idea4::Method::load().expect("the IDEA4 method table loads"))
}

fuzz_target!(|data: &[u8]| {
    let _ = diagnostic::read_file(method(), "idea4_FERME-01.json", data);
});
