// Reference data (territories, networks, sources, EPCIs, communes) and the
// demo's summary: portable statements, compiled once per backend (included
// by `sqlite.rs` and `postgres.rs`).

use sqlx::{QueryBuilder, Row as _};

use super::{DB, Pool};
use crate::model::EntityKind;
use crate::warehouse::{WarehouseError, schema};

pub async fn seed(
    pool: &Pool,
    config: &crate::config::Config,
    gazetteer: &crate::geo::Gazetteer,
) -> Result<(), WarehouseError> {
    let mut tx = super::begin_write(pool).await?;
    for t in &config.territories {
        sqlx::query(
            "INSERT INTO territories (id, name, active) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, active = excluded.active",
        )
        .bind(&t.id)
        .bind(&t.name)
        .bind(t.active)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM territory_epcis WHERE territory = $1")
            .bind(&t.id)
            .execute(&mut *tx)
            .await?;
        for e in &t.epci {
            sqlx::query(
                "INSERT INTO territory_epcis (territory, epci_siren) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(&t.id)
            .bind(e)
            .execute(&mut *tx)
            .await?;
        }
    }
    use crate::config::Network;
    for n in [
        Network::Cocagne,
        Network::SecoursCatholique,
        Network::Vrac,
        Network::Ugess,
        Network::Civam,
        Network::Coalition,
    ] {
        sqlx::query(
            "INSERT INTO networks (id, name) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET name = excluded.name",
        )
        .bind(n.as_str())
        .bind(n.label())
        .execute(&mut *tx)
        .await?;
    }
    for s in &config.sources {
        sqlx::query(
            "INSERT INTO sources (id, connector, network, territory) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET connector = excluded.connector, network = excluded.network, \
             territory = excluded.territory",
        )
        .bind(&s.id)
        .bind(&s.connector)
        .bind(s.network.as_str())
        .bind(&s.territory)
        .execute(&mut *tx)
        .await?;
    }
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM communes")
        .fetch_one(&mut *tx)
        .await?;
    if have == 0 {
        let epcis: Vec<_> = gazetteer.epcis().collect();
        for chunk in epcis.chunks(500) {
            let mut q: QueryBuilder<DB> =
                QueryBuilder::new("INSERT INTO epcis (siren, name, kind, population) ");
            q.push_values(chunk, |mut b, e| {
                b.push_bind(e.siren.as_str())
                    .push_bind(e.name.as_str())
                    .push_bind(e.kind.as_str())
                    .push_bind(e.population.map(|p| p as i64));
            });
            q.push(" ON CONFLICT (siren) DO NOTHING");
            q.build().execute(&mut *tx).await?;
        }
        let communes: Vec<_> = gazetteer.communes().collect();
        for chunk in communes.chunks(500) {
            let mut q: QueryBuilder<DB> = QueryBuilder::new(
                "INSERT INTO communes (insee, name, kind, departement, parent_insee, epci_siren, postcodes, population) ",
            );
            q.push_values(chunk, |mut b, c| {
                b.push_bind(c.insee.as_str())
                    .push_bind(c.name.as_str())
                    .push_bind(c.kind.as_str())
                    .push_bind(c.departement.as_str())
                    .push_bind(c.parent_insee.as_deref())
                    .push_bind(c.epci_siren.as_deref())
                    .push_bind(c.postcodes.join("|"))
                    .push_bind(c.population.map(|p| p as i64));
            });
            q.push(" ON CONFLICT (insee) DO NOTHING");
            q.build().execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

pub async fn territory_summary(pool: &Pool) -> Result<Vec<(String, String, i64)>, WarehouseError> {
    let mut out = Vec::new();
    for kind in EntityKind::ALL {
        let table = schema::table(kind);
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT territory, count(*) AS n FROM {} GROUP BY territory ORDER BY territory",
            table.name
        )))
        .fetch_all(pool)
        .await?;
        for r in rows {
            out.push((r.try_get("territory")?, table.name.to_string(), r.try_get("n")?));
        }
    }
    Ok(out)
}
