//! A real reader for the hub's exports: pyarrow, from PyPI, in a venv of our
//! own (`target/reader-venv`), pinned, created on first use (the shape of
//! `xtask/src/python.rs`'s venv). Tests hand it an export file and get back
//! what pyarrow (and Python's csv module) read: rows, column types, metadata.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The pyarrow release the exports are tested with.
pub const PYARROW: &str = "22.0.0";

/// Reads one export and prints JSON: `{"rows": [...], "types": {...},
/// "metadata": {...}, "bom": bool, "dictionary": [...]}`. Dates come back
/// as `YYYY-MM-DD`, instants as `YYYY-MM-DDTHH:MM:SSZ`, CSV cells as text.
const SCRIPT: &str = r#"
import csv, datetime, io, json, sys
import pyarrow as pa, pyarrow.csv as pcsv, pyarrow.json as pjson, pyarrow.parquet as pq

def norm(v):
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    if isinstance(v, datetime.date):
        return v.isoformat()
    return v

kind, path = sys.argv[1], sys.argv[2]
out = {"metadata": {}, "bom": False, "dictionary": []}
if kind == 'parquet':
    f = pq.ParquetFile(path)
    table = f.read()
    out["metadata"] = {k.decode(): v.decode() for k, v in (f.metadata.metadata or {}).items()}
    if f.metadata.num_row_groups:
        rg = f.metadata.row_group(0)
        for i in range(rg.num_columns):
            c = rg.column(i)
            if any('DICTIONARY' in e for e in c.encodings):
                out["dictionary"].append(c.path_in_schema)
elif kind == 'csv':
    raw = open(path, 'rb').read()
    out["bom"] = raw.startswith(b'\xef\xbb\xbf')
    table = pcsv.read_csv(path, parse_options=pcsv.ParseOptions(delimiter=';'),
                          convert_options=pcsv.ConvertOptions(strings_can_be_null=False))
    text = raw.decode('utf-8-sig')
    out["header_line"] = text.split('\n', 1)[0]
    out["csv_rows"] = list(csv.DictReader(io.StringIO(text, newline=''), delimiter=';'))
else:
    table = pjson.read_json(path) if open(path, 'rb').read(1) else pa.table({})
    # JSON has no date type (pyarrow guesses instants): the lines as written.
    out["json_rows"] = [json.loads(line) for line in open(path, encoding='utf-8')]
out["types"] = {f.name: str(f.type) for f in table.schema}
out["rows"] = [{k: norm(v) for k, v in r.items()} for r in table.to_pylist()]
json.dump(out, sys.stdout, default=str)
"#;

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target")
}

fn venv_python() -> PathBuf {
    target_dir().join("reader-venv/bin/python")
}

fn installed(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import pyarrow; print(pyarrow.__version__)"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == PYARROW)
        .unwrap_or(false)
}

static SETUP: Mutex<()> = Mutex::new(());

/// The venv's interpreter, with the pinned pyarrow (installed if missing:
/// needs `python3` and PyPI once).
pub fn python() -> Result<PathBuf, String> {
    let _guard = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let python = venv_python();
    if installed(&python) {
        return Ok(python);
    }
    let system = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    if !python.exists() {
        let status = Command::new(&system)
            .args(["-m", "venv"])
            .arg(target_dir().join("reader-venv"))
            .status()
            .map_err(|e| format!("cannot run `{system} -m venv`: {e}"))?;
        if !status.success() {
            return Err(format!("`{system} -m venv target/reader-venv` failed"));
        }
    }
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("pyarrow=={PYARROW}"),
        ])
        .status()
        .map_err(|e| format!("cannot run pip: {e}"))?;
    if !status.success() || !installed(&python) {
        return Err(format!(
            "pip install pyarrow=={PYARROW} into target/reader-venv failed"
        ));
    }
    Ok(python)
}

/// What pyarrow reads from an export file of `format` (`csv`, `jsonl`, `parquet`).
pub fn read(format: &str, path: &Path) -> Result<serde_json::Value, String> {
    let python = python()?;
    let out = Command::new(python)
        .args(["-c", SCRIPT, format])
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run the reader: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "pyarrow could not read {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("reader output: {e}"))
}
