//! `vivres connector new`: writes a connector that builds and passes the
//! acceptance suite (`vivres connector test`) as it is, in Rust or in Python,
//! with sample files, a configuration for the suite and a README saying what
//! each file is. The templates are files under `scaffold/`, compiled in.

use std::path::{Path, PathBuf};

/// The componentize-py release the Python template is built with: the one
/// `cargo xtask build-plugins` installs (`COMPONENTIZE_PY` in
/// `xtask/src/python.rs`; a unit test keeps them equal).
pub const COMPONENTIZE_PY: &str = "0.25.1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
}

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "connector name `{0}`: use lowercase letters, digits and dashes, starting with a letter (`food-parcels`), at most 64"
    )]
    BadName(String),
    #[error("{0} exists and is not empty: choose another --dir, or remove it")]
    NotEmpty(String),
    #[error(
        "cannot find the Vivres repository (a folder with `plugins/sdk/Cargo.toml` and `wit/`) above the current directory or the `vivres` binary: pass --repo <your Vivres checkout>"
    )]
    NoRepository,
    #[error("--repo {0}: not a Vivres checkout (no `plugins/sdk/Cargo.toml` or `wit/since_v*`)")]
    NotARepository(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// What `connector new` was asked for.
#[derive(Debug, Clone)]
pub struct NewConnector {
    pub name: String,
    pub lang: Lang,
    /// Where to write it; default `./<name>`.
    pub dir: Option<PathBuf>,
    /// The Vivres checkout whose SDK and contract the connector uses; default:
    /// found above the current directory, else above the running binary.
    pub repo: Option<PathBuf>,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
    /// The file the build writes.
    pub wasm: PathBuf,
    /// The command that builds it, run in `dir`.
    pub build: String,
}

struct Template {
    path: &'static str,
    text: &'static str,
}

macro_rules! template {
    ($path:literal, $file:literal) => {
        Template {
            path: $path,
            text: include_str!(concat!("scaffold/", $file)),
        }
    };
}

const RUST: &[Template] = &[
    template!("Cargo.toml", "rust/Cargo.toml"),
    template!("src/lib.rs", "rust/src/lib.rs"),
    template!("README.md", "rust/README.md"),
];

const PYTHON: &[Template] = &[
    template!("src/app.py", "python/src/app.py"),
    template!("build.sh", "python/build.sh"),
    template!("README.md", "python/README.md"),
];

const FIXTURES: &[Template] = &[
    template!("fixtures/config.json", "fixtures/config.json"),
    template!("fixtures/planted.txt", "fixtures/planted.txt"),
    template!(
        "fixtures/inbox/parcels_2024-03.csv",
        "fixtures/inbox/parcels_2024-03.csv"
    ),
    template!(
        "fixtures/inbox/parcels_2024-04.csv",
        "fixtures/inbox/parcels_2024-04.csv"
    ),
];

/// Writes the connector; refuses a non-empty folder.
pub fn write(request: &NewConnector) -> Result<Written, ScaffoldError> {
    let name = request.name.as_str();
    if !valid_name(name) {
        return Err(ScaffoldError::BadName(name.to_string()));
    }
    let repo = match &request.repo {
        Some(r) => {
            let r = absolute(r)?;
            if !is_repository(&r) {
                return Err(ScaffoldError::NotARepository(r.display().to_string()));
            }
            r
        }
        None => find_repository().ok_or(ScaffoldError::NoRepository)?,
    };
    let wit = latest_wit(&repo)
        .ok_or_else(|| ScaffoldError::NotARepository(repo.display().to_string()))?;
    let dir = match &request.dir {
        Some(d) => d.clone(),
        None => PathBuf::from(name),
    };
    if let Ok(mut entries) = std::fs::read_dir(&dir)
        && entries.next().is_some()
    {
        return Err(ScaffoldError::NotEmpty(dir.display().to_string()));
    }
    let crate_name = name.replace('-', "_");
    let values = [
        ("{{name}}", name.to_string()),
        ("{{crate}}", crate_name.clone()),
        ("{{type}}", type_name(name)),
        ("{{sdk}}", repo.join("plugins/sdk").display().to_string()),
        ("{{repo}}", repo.display().to_string()),
        ("{{wit}}", wit.clone()),
        ("{{componentize}}", COMPONENTIZE_PY.to_string()),
    ];
    let templates = match request.lang {
        Lang::Rust => RUST,
        Lang::Python => PYTHON,
    };
    let mut files = Vec::new();
    for t in templates.iter().chain(FIXTURES) {
        let mut text = t.text.to_string();
        for (placeholder, value) in &values {
            text = text.replace(placeholder, value);
        }
        let path = dir.join(t.path);
        write_file(&path, &text)?;
        files.push(path);
    }
    if request.lang == Lang::Rust {
        // The versions the Vivres plugins are built with: known to work, and
        // already in the cargo cache of whoever built them.
        let lock = repo.join("plugins/Cargo.lock");
        if let Ok(text) = std::fs::read_to_string(&lock) {
            let path = dir.join("Cargo.lock");
            write_file(&path, &text)?;
            files.push(path);
        }
    }
    let (wasm, build) = match request.lang {
        Lang::Rust => (
            dir.join(format!("target/wasm32-wasip2/release/{crate_name}.wasm")),
            "cargo build --target wasm32-wasip2 --release".to_string(),
        ),
        Lang::Python => (
            dir.join(format!("{crate_name}.wasm")),
            "sh build.sh".to_string(),
        ),
    };
    Ok(Written {
        dir,
        files,
        wasm,
        build,
    })
}

fn write_file(path: &Path, text: &str) -> Result<(), ScaffoldError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| ScaffoldError::Io {
            context: format!("cannot create {}", parent.display()),
            source,
        })?;
    }
    std::fs::write(path, text).map_err(|source| ScaffoldError::Io {
        context: format!("cannot write {}", path.display()),
        source,
    })
}

fn absolute(path: &Path) -> Result<PathBuf, ScaffoldError> {
    std::fs::canonicalize(path).map_err(|source| ScaffoldError::Io {
        context: format!("--repo {}", path.display()),
        source,
    })
}

pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--")
}

/// `food-parcels` → `FoodParcels`.
fn type_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn is_repository(dir: &Path) -> bool {
    dir.join("plugins/sdk/Cargo.toml").is_file() && latest_wit(dir).is_some()
}

/// `wit/since_vX.Y.Z` of the newest contract in the checkout.
fn latest_wit(repo: &Path) -> Option<String> {
    let mut versions: Vec<(Vec<u64>, String)> = std::fs::read_dir(repo.join("wit"))
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let version = name.strip_prefix("since_v")?;
            let parts = version
                .split('.')
                .map(|p| p.parse().ok())
                .collect::<Option<Vec<u64>>>()?;
            Some((parts, name))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, name)| format!("wit/{name}"))
}

fn find_repository() -> Option<PathBuf> {
    let from_cwd = std::env::current_dir().ok();
    let from_exe = std::env::current_exe().ok();
    [from_cwd, from_exe]
        .into_iter()
        .flatten()
        .find_map(|start| {
            start
                .ancestors()
                .find(|d| is_repository(d))
                .map(Path::to_path_buf)
        })
        .and_then(|d| std::fs::canonicalize(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_types() {
        assert!(valid_name("food-parcels"));
        assert!(valid_name("a2"));
        for bad in ["", "Food", "2a", "a_b", "a-", "a--b", "a b"] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert_eq!(type_name("food-parcels"), "FoodParcels");
    }

    #[test]
    fn the_python_template_uses_the_componentize_py_of_the_build() {
        let xtask = include_str!("../../xtask/src/python.rs");
        assert!(
            xtask.contains(&format!("COMPONENTIZE_PY: &str = \"{COMPONENTIZE_PY}\"")),
            "scaffold::COMPONENTIZE_PY differs from xtask/src/python.rs"
        );
    }

    #[test]
    fn writes_every_file_with_its_placeholders_filled_and_refuses_a_full_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for lang in [Lang::Rust, Lang::Python] {
            let dir = tmp.path().join(format!("{lang:?}"));
            let request = NewConnector {
                name: "food-parcels".into(),
                lang,
                dir: Some(dir.clone()),
                repo: Some(repo.clone()),
            };
            let written = write(&request).unwrap();
            assert!(written.files.len() >= 7, "{:?}", written.files);
            for f in &written.files {
                let text = std::fs::read_to_string(f).unwrap();
                assert!(!text.contains("{{"), "{} keeps a placeholder", f.display());
            }
            let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
            for f in &written.files {
                let rel = f.strip_prefix(&dir).unwrap().to_string_lossy().to_string();
                let named =
                    rel.starts_with("fixtures/inbox/") && readme.contains("fixtures/inbox/*.csv");
                assert!(
                    named || readme.contains(&format!("`{rel}`")),
                    "README does not explain {rel}"
                );
            }
            assert!(matches!(write(&request), Err(ScaffoldError::NotEmpty(_))));
        }
    }
}
