//! What `maxion doctor` asks the store: which migrations are not applied.

use sqlx::Row;

use super::store::{Backend, Store};

impl Store {
    /// Versions of this build's migrations the database has not applied
    /// (all of them on a fresh database).
    pub async fn pending_migrations(&self) -> anyhow::Result<Vec<i64>> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("migrations/postgres"),
        };
        let applied: Vec<i64> =
            match sqlx::query("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(&self.pool).await {
                Ok(rows) => rows.iter().map(|r| r.try_get::<i64, _>(0)).collect::<Result<_, _>>()?,
                // No bookkeeping table yet: nothing was ever applied.
                Err(_) => Vec::new(),
            };
        Ok(migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect())
    }
}
