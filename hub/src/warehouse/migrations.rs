//! The schema's version, and migrating it safely from several nodes.
//!
//! Only `vivres migrate` changes the schema ([`super::Warehouse::migrate`]);
//! every other command opens the warehouse with [`super::Warehouse::open`],
//! which checks that the schema is exactly this binary's and says what to run
//! when it is not. Migrating takes a lock first, so that nodes upgraded at the
//! same time migrate one after the other: a PostgreSQL advisory lock held by a
//! connection of its own, or on SQLite an exclusive lock on a file beside the
//! database. A database a newer binary migrated is refused, naming both
//! versions: an older binary must never write to it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sqlx::migrate::Migrator;

use super::{Db, WarehouseError};

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// The key of the advisory lock `vivres migrate` takes on PostgreSQL
/// ("vivresmg" in ASCII). Advisory locks are per database.
pub const ADVISORY_LOCK_KEY: i64 = 0x7669_7672_6573_6d67;

/// This binary's schema version: its newest migration.
pub fn binary_version() -> i64 {
    SQLITE.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Where the schema of a database stands against this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// No migration applied: a new, empty database.
    Empty,
    /// Every migration of this binary, and nothing else.
    Current(i64),
    /// Migrations of this binary remain to apply.
    Older { database: i64, binary: i64 },
    /// The database holds migrations this binary does not know.
    Newer { database: i64, binary: i64 },
    /// A migration started and did not finish.
    Dirty(i64),
}

/// Classifies the applied migrations (version, succeeded) against the
/// binary's versions.
pub fn classify(applied: &[(i64, bool)], binary: &[i64]) -> SchemaState {
    let newest_binary = binary.iter().copied().max().unwrap_or(0);
    if let Some((v, _)) = applied.iter().find(|(_, ok)| !ok) {
        return SchemaState::Dirty(*v);
    }
    let Some(newest_applied) = applied.iter().map(|(v, _)| *v).max() else {
        return SchemaState::Empty;
    };
    if applied.iter().any(|(v, _)| !binary.contains(v)) {
        return SchemaState::Newer {
            database: newest_applied,
            binary: newest_binary,
        };
    }
    if binary.iter().any(|v| !applied.iter().any(|(a, _)| a == v)) {
        return SchemaState::Older {
            database: newest_applied,
            binary: newest_binary,
        };
    }
    SchemaState::Current(newest_applied)
}

/// What `vivres migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The schema version before (`None`: an empty database).
    pub before: Option<i64>,
    pub after: i64,
    /// Migrations applied now: (version, description).
    pub applied: Vec<(i64, String)>,
    /// How long another migrator held the lock.
    pub waited: Duration,
}

/// The lock only one migrator holds at a time; released when dropped (or
/// when its process dies: the server drops a closed session's advisory
/// locks, the kernel a dead process's file locks).
pub struct MigrationLock {
    held: Held,
    pub waited: Duration,
}

enum Held {
    Postgres(sqlx::PgConnection),
    Sqlite(std::fs::File),
    /// An in-memory SQLite database: no other process can see it.
    Nothing,
}

impl MigrationLock {
    /// Takes the lock of the database `url` names, waiting (and saying so
    /// in the log) while another migrator holds it.
    pub async fn acquire(url: &str) -> Result<MigrationLock, WarehouseError> {
        let started = Instant::now();
        let held = match super::Backend::of_url(url) {
            Some(super::Backend::Postgres) => {
                use sqlx::Connection as _;
                let mut conn = sqlx::PgConnection::connect(url).await.map_err(|source| {
                    WarehouseError::Connect {
                        url: super::redact_url(url),
                        source,
                    }
                })?;
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(ADVISORY_LOCK_KEY)
                    .fetch_one(&mut conn)
                    .await?;
                if !got {
                    tracing::warn!(
                        "another `vivres migrate` is migrating this warehouse: waiting for it to finish"
                    );
                    sqlx::query("SELECT pg_advisory_lock($1)")
                        .bind(ADVISORY_LOCK_KEY)
                        .execute(&mut conn)
                        .await?;
                }
                Held::Postgres(conn)
            }
            Some(super::Backend::Sqlite) => match sqlite_path(url) {
                None => Held::Nothing,
                Some(db) => {
                    let path = lock_path(&db);
                    if let Some(dir) = path.parent()
                        && !dir.as_os_str().is_empty()
                    {
                        std::fs::create_dir_all(dir).map_err(|source| WarehouseError::Io {
                            path: dir.display().to_string(),
                            source,
                        })?;
                    }
                    let file = std::fs::OpenOptions::new()
                        .create(true)
                        .truncate(false)
                        .write(true)
                        .open(&path)
                        .map_err(|source| WarehouseError::Io {
                            path: path.display().to_string(),
                            source,
                        })?;
                    let io = |source| WarehouseError::Io {
                        path: path.display().to_string(),
                        source,
                    };
                    match file.try_lock() {
                        Ok(()) => Held::Sqlite(file),
                        Err(std::fs::TryLockError::WouldBlock) => {
                            tracing::warn!(
                                "another `vivres migrate` is migrating this warehouse: waiting for it to finish ({})",
                                path.display()
                            );
                            let file =
                                tokio::task::spawn_blocking(move || file.lock().map(|()| file))
                                    .await
                                    .map_err(|e| io(std::io::Error::other(e)))?
                                    .map_err(io)?;
                            Held::Sqlite(file)
                        }
                        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
                    }
                }
            },
            None => return Err(WarehouseError::UnsupportedUrl(url.to_string())),
        };
        Ok(MigrationLock {
            held,
            waited: started.elapsed(),
        })
    }

    /// Releases the lock now.
    pub async fn release(self) {
        match self.held {
            Held::Postgres(mut conn) => {
                use sqlx::Connection as _;
                let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(ADVISORY_LOCK_KEY)
                    .execute(&mut conn)
                    .await;
                let _ = conn.close().await;
            }
            Held::Sqlite(file) => {
                let _ = file.unlock();
            }
            Held::Nothing => {}
        }
    }
}

/// The file a SQLite URL names (`None` for an in-memory database).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// `vivres.sqlite` → `vivres.sqlite.migrate-lock`, beside it.
fn lock_path(db: &std::path::Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".migrate-lock");
    PathBuf::from(name)
}

/// The applied migrations of a database: (version, succeeded); empty when
/// it has no migrations table yet.
async fn applied(db: &Db) -> Result<Vec<(i64, bool)>, WarehouseError> {
    Ok(match db {
        Db::Sqlite(p) => {
            let exists: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            )
            .fetch_one(p)
            .await?;
            if exists == 0 {
                return Ok(Vec::new());
            }
            sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(p)
                .await?
        }
        Db::Postgres(p) => {
            let exists: bool =
                sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                    .fetch_one(p)
                    .await?;
            if !exists {
                return Ok(Vec::new());
            }
            sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(p)
                .await?
        }
    })
}

fn migrator(db: &Db) -> &'static Migrator {
    match db {
        Db::Sqlite(_) => &SQLITE,
        Db::Postgres(_) => &POSTGRES,
    }
}

/// Where the database stands against this binary.
pub(super) async fn state(db: &Db) -> Result<SchemaState, WarehouseError> {
    let binary: Vec<i64> = migrator(db).iter().map(|m| m.version).collect();
    Ok(classify(&applied(db).await?, &binary))
}

/// `Ok` when the schema is this binary's; otherwise what to do about it.
pub(super) async fn check(db: &Db, url: &str) -> Result<(), WarehouseError> {
    match state(db).await? {
        SchemaState::Current(_) => Ok(()),
        SchemaState::Empty => Err(WarehouseError::NotMigrated {
            url: super::redact_url(url),
        }),
        SchemaState::Older { database, binary } => Err(WarehouseError::SchemaOlder {
            database,
            binary,
            vivres: env!("CARGO_PKG_VERSION"),
        }),
        SchemaState::Newer { database, binary } => Err(WarehouseError::SchemaNewer {
            database,
            binary,
            vivres: env!("CARGO_PKG_VERSION"),
        }),
        SchemaState::Dirty(version) => Err(WarehouseError::SchemaDirty(version)),
    }
}

/// Applies the pending migrations; the caller holds the [`MigrationLock`].
pub(super) async fn apply(db: &Db, waited: Duration) -> Result<MigrationReport, WarehouseError> {
    let before = match state(db).await? {
        SchemaState::Newer { database, binary } => {
            return Err(WarehouseError::SchemaNewer {
                database,
                binary,
                vivres: env!("CARGO_PKG_VERSION"),
            });
        }
        SchemaState::Dirty(version) => return Err(WarehouseError::SchemaDirty(version)),
        SchemaState::Empty => None,
        SchemaState::Current(v) | SchemaState::Older { database: v, .. } => Some(v),
    };
    let done: Vec<i64> = applied(db).await?.into_iter().map(|(v, _)| v).collect();
    let migrator = migrator(db);
    // The scheduler's queue tables are apalis's: `job_store` migrates them
    // under their own history when `vivres serve` starts.
    match db {
        Db::Sqlite(p) => migrator.run(p).await?,
        Db::Postgres(p) => migrator.run(p).await?,
    }
    let applied = migrator
        .iter()
        .filter(|m| !done.contains(&m.version))
        .map(|m| (m.version, m.description.to_string()))
        .collect();
    Ok(MigrationReport {
        before,
        after: binary_version(),
        applied,
        waited,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_states() {
        let binary = [1, 2];
        assert_eq!(classify(&[], &binary), SchemaState::Empty);
        assert_eq!(
            classify(&[(1, true), (2, true)], &binary),
            SchemaState::Current(2)
        );
        assert_eq!(
            classify(&[(1, true)], &binary),
            SchemaState::Older {
                database: 1,
                binary: 2
            }
        );
        assert_eq!(
            classify(&[(1, true), (2, true), (3, true)], &binary),
            SchemaState::Newer {
                database: 3,
                binary: 2
            }
        );
        assert_eq!(
            classify(&[(1, true), (2, false)], &binary),
            SchemaState::Dirty(2)
        );
    }

    /// Each refusal says what to run, naming both versions.
    #[test]
    fn refusals_say_what_to_run() {
        let older = WarehouseError::SchemaOlder {
            database: 1,
            binary: 2,
            vivres: "0.2.0",
        }
        .to_string();
        assert!(
            older.contains("version 1")
                && older.contains("schema version 2")
                && older.contains("run `vivres migrate` with this binary"),
            "{older}"
        );
        let newer = WarehouseError::SchemaNewer {
            database: 3,
            binary: 2,
            vivres: "0.2.0",
        }
        .to_string();
        assert!(
            newer.contains("version 3") && newer.contains("vivres 0.2.0, schema version 2"),
            "{newer}"
        );
        let empty = WarehouseError::NotMigrated {
            url: "sqlite://x".into(),
        }
        .to_string();
        assert!(empty.contains("run `vivres migrate`"), "{empty}");
    }

    /// Both backends' migrations carry the same versions: one schema
    /// version names the same schema on either.
    #[test]
    fn both_backends_have_the_same_versions() {
        let sqlite: Vec<i64> = SQLITE.iter().map(|m| m.version).collect();
        let postgres: Vec<i64> = POSTGRES.iter().map(|m| m.version).collect();
        assert_eq!(sqlite, postgres);
        assert!(binary_version() >= 1);
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite:///srv/v.sqlite?mode=rwc"),
            Some(PathBuf::from("/srv/v.sqlite"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(
            lock_path(std::path::Path::new("/srv/v.sqlite")),
            PathBuf::from("/srv/v.sqlite.migrate-lock")
        );
    }
}
