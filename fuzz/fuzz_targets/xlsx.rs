//! The XLSX path (VRAC order workbooks) on arbitrary bytes: an unreadable
//! workbook is an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut book) = vivres_sdk::xlsx::from_bytes(data.to_vec()) else {
        return;
    };
    for name in book.sheet_names() {
        if let Ok(rows) = book.rows(&name) {
            for row in rows {
                let _ = row.is_blank();
                let _ = row.get(0).to_text();
                let _ = row.get(0).as_number();
            }
        }
    }
});
