//! CSV sniffing and decoding on arbitrary files: every line is read or
//! refused with an error, never a panic, and reading ends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vivres_sdk::csv::{self, CsvReader};

fuzz_target!(|data: &[u8]| {
    let _ = csv::sniff_encoding(data);
    let _ = csv::sniff_separator(data);
    let Ok(mut reader) = CsvReader::from_reader(std::io::Cursor::new(data.to_vec())) else {
        return;
    };
    let header = reader.header().clone();
    // A file of n bytes has at most n + 1 records.
    for _ in 0..=data.len() + 1 {
        match reader.next_record() {
            Ok(Some(record)) => {
                let _ = csv::is_blank(&record);
                let _ = csv::is_total_line(&record);
                let _ = csv::is_header_repeat(&record, &header);
                let _ = record.raw(reader.separator());
            }
            Ok(None) | Err(_) => return,
        }
    }
    panic!("the reader did not end");
});
