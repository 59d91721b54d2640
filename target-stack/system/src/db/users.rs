//! Users: signup and the lookup login needs.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Database, DbError};
use crate::clock::now_ms;
use crate::domain::{Email, Label};

pub struct NewUser<'a> {
    pub email: &'a Email,
    pub password_hash: &'a str,
    pub first_name: &'a Label,
    pub last_name: &'a Label,
    pub city: &'a Label,
    pub country: &'a Label,
}

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub city: String,
}

impl Database {
    /// Inserts a user; [`DbError::Conflict`] when the e-mail is taken.
    pub async fn insert_user(&self, user: &NewUser<'_>) -> Result<i64, DbError> {
        let row = sqlx::query(
            "INSERT INTO users (email, password_hash, first_name, last_name, city, city_key, country, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(user.email.as_str())
        .bind(user.password_hash)
        .bind(user.first_name.as_str())
        .bind(user.last_name.as_str())
        .bind(user.city.as_str())
        .bind(super::city_key(user.city))
        .bind(user.country.as_str())
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await
        .map_err(DbError::from_write)?;
        Ok(row.try_get("id")?)
    }

    pub async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, DbError> {
        let row = sqlx::query(
            "SELECT id, email, password_hash, first_name, last_name, city FROM users WHERE email = $1",
        )
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| user_from_row(&r)).transpose()
    }
}

fn user_from_row(row: &AnyRow) -> Result<UserRecord, DbError> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        city: row.try_get("city")?,
    })
}
