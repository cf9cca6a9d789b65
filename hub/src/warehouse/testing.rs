//! Fresh databases for tests, on whichever backend `VIVRES_TEST_DATABASE_URL`
//! names: unset (or `sqlite`), a new SQLite file; `postgres://…/db`, a new
//! database created beside `db` on that server and dropped afterwards. The
//! same behaviour tests thus run on both backends (`.ci/run` runs the suite
//! twice).

use std::path::{Path, PathBuf};

use super::{Warehouse, WarehouseError};

/// The variable naming the test backend.
pub const VAR: &str = "VIVRES_TEST_DATABASE_URL";

/// A database that lives as long as this value.
pub struct TestDb {
    pub url: String,
    pub warehouse: Warehouse,
    _guard: Guard,
}

impl TestDb {
    /// A fresh, migrated warehouse.
    pub async fn new() -> TestDb {
        let dir = std::env::temp_dir().join(format!(
            "vivres-test-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let guard = Guard::create(&dir).await;
        let warehouse = match Warehouse::migrate(&guard.url).await {
            Ok((w, _)) => w,
            Err(e) => panic!("cannot open the test warehouse {}: {e}", guard.url),
        };
        TestDb {
            url: guard.url.clone(),
            warehouse,
            _guard: guard,
        }
    }
}

/// Creates and removes a test database. For SQLite the file goes in `dir`
/// (which the caller owns); for PostgreSQL a database is created and dropped.
pub struct Guard {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Postgres { admin: String, name: String },
}

impl Guard {
    /// A new empty database on the PostgreSQL server `server` names (a
    /// `postgres://` URL of an existing database to connect to), or a SQLite
    /// file in `dir` when `server` is `sqlite`.
    pub async fn create_on(server: &str, dir: &Path) -> Result<Guard, WarehouseError> {
        if server.starts_with("postgres") {
            Guard::postgres(server.to_string()).await
        } else if server.starts_with("sqlite") {
            Ok(Guard::sqlite(dir))
        } else {
            Err(WarehouseError::UnsupportedUrl(server.to_string()))
        }
    }

    fn sqlite(dir: &Path) -> Guard {
        let _ = std::fs::create_dir_all(dir);
        let file = dir.join("vivres.sqlite");
        Guard {
            url: format!("sqlite://{}", file.display()),
            cleanup: Cleanup::File(file),
        }
    }

    async fn postgres(admin: String) -> Result<Guard, WarehouseError> {
        let name = format!(
            "vivres_test_{}_{:012x}",
            std::process::id(),
            rand::random::<u64>() >> 16
        );
        admin_statement(&admin, &format!("CREATE DATABASE {name}")).await?;
        let mut url =
            url::Url::parse(&admin).map_err(|_| WarehouseError::UnsupportedUrl(admin.clone()))?;
        url.set_path(&format!("/{name}"));
        Ok(Guard {
            url: url.to_string(),
            cleanup: Cleanup::Postgres { admin, name },
        })
    }

    /// A new empty database for a test whose files live in `dir`, on the
    /// backend `VIVRES_TEST_DATABASE_URL` names.
    pub async fn create(dir: &Path) -> Guard {
        match std::env::var(VAR)
            .ok()
            .filter(|u| u.starts_with("postgres"))
        {
            None => Guard::sqlite(dir),
            Some(admin) => match Guard::postgres(admin.clone()).await {
                Ok(g) => g,
                Err(e) => panic!("cannot create a test database on {admin}: {e}"),
            },
        }
    }
}

async fn admin_statement(admin: &str, sql: &str) -> Result<(), WarehouseError> {
    use sqlx::{ConnectOptions as _, Connection as _};
    // Creating and dropping databases is slow on a loaded machine: that is
    // debug news, not a warning on the terminal.
    let options: sqlx::postgres::PgConnectOptions = admin.parse()?;
    let mut conn = options
        .log_slow_statements(log::LevelFilter::Debug, std::time::Duration::from_secs(1))
        .connect()
        .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// Records a migration this binary does not have, as if a newer vivres had
/// migrated the database `url` names (tests of the refusal).
pub async fn pretend_newer_schema(url: &str, version: i64) -> Result<(), WarehouseError> {
    use sqlx::Connection as _;
    let sql = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
               VALUES ($1, 'from a newer vivres', TRUE, $2, 0)";
    let checksum = vec![0u8; 48];
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        sqlx::query(sql)
            .bind(version)
            .bind(checksum)
            .execute(&mut conn)
            .await?;
        conn.close().await?;
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        sqlx::query(sql)
            .bind(version)
            .bind(checksum)
            .execute(&mut conn)
            .await?;
        conn.close().await?;
    }
    Ok(())
}

/// `VACUUM INTO`: the online backup of a SQLite warehouse that
/// deploy/README.md gives operators (`sqlite3 FILE "VACUUM INTO 'OUT'"`), a
/// consistent snapshot even while a sync writes.
pub async fn sqlite_vacuum_into(url: &str, out: &Path) -> Result<(), WarehouseError> {
    use sqlx::Connection as _;
    let mut conn = sqlx::SqliteConnection::connect(url).await?;
    sqlx::query("VACUUM INTO $1")
        .bind(out.display().to_string())
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// The tables of the warehouse's schema (the job queue's included on
/// SQLite; on PostgreSQL apalis keeps them in a schema of its own).
pub async fn tables(w: &Warehouse) -> Result<Vec<String>, WarehouseError> {
    let sql = match w.backend() {
        super::Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        super::Backend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1"
        }
    };
    Ok(w.inspect(sql)
        .await?
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect())
}

impl Drop for Guard {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(file) => {
                for suffix in ["", "-wal", "-shm", ".migrate-lock"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
                }
            }
            Cleanup::Postgres { admin, name } => {
                // Drop may run inside a runtime: drop the database from a
                // thread of its own.
                let admin = admin.clone();
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let done = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    if let Ok(rt) = rt {
                        let _ = rt.block_on(admin_statement(&admin, &sql));
                    }
                });
                let _ = done.join();
            }
        }
    }
}

/// A fact row of `kind` from named columns, as tests write them straight
/// into the warehouse: a column not named is null, or a zero of its type
/// (2000-01-01 for a date, `-` for text) when it may not be null.
pub fn row(
    kind: crate::model::EntityKind,
    key: [u8; 16],
    cols: &[(&'static str, super::Value)],
    children: Vec<super::Child>,
) -> super::Row {
    use super::{Value, schema};
    let table = schema::table(kind);
    let values = table
        .columns
        .iter()
        .map(|c| {
            let given = cols
                .iter()
                .find(|(n, _)| *n == c.name)
                .map(|(_, v)| v.clone());
            let v = match given {
                Some(v) => v,
                None if c.nullable => Value::Null,
                None => match c.ty {
                    schema::Type::Int => Value::Int(0),
                    schema::Type::Real => Value::Real(0.0),
                    schema::Type::Bool => Value::Bool(false),
                    schema::Type::Date => Value::Date(time::macros::date!(2000 - 01 - 01)),
                    _ => Value::Text("-".to_string()),
                },
            };
            (c.name, v)
        })
        .collect();
    super::Row {
        kind,
        key,
        origin: None,
        hash: 1,
        values,
        children,
    }
}
