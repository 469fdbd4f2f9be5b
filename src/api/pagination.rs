//! Cursor pagination: `?cursor=OPAQUE&limit=N` in, `{"items": [...], "next_cursor": ...}` out.

use super::error::ApiError;
use base64::Engine;
use serde::{Deserialize, Serialize};

const MAX_LIMIT: i64 = 500;
const DEFAULT_LIMIT: i64 = 50;

#[derive(Debug, Deserialize)]
pub struct Cursor {
    pub cursor: Option<String>,
    pub limit: Option<String>,
}

fn encode(id: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("id:{id}"))
}

impl Cursor {
    /// The id to start after, and the page size.
    pub fn parse(&self) -> Result<(i64, i64), ApiError> {
        let limit = match self.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(s) => s.parse::<i64>().ok().filter(|l| (1..=MAX_LIMIT).contains(l)).ok_or_else(|| {
                ApiError::bad_field("limit", format!("limit must be an integer from 1 to {MAX_LIMIT}"))
            })?,
        };
        let after = match self.cursor.as_deref() {
            None | Some("") => 0,
            Some(c) => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.strip_prefix("id:").and_then(|n| n.parse::<i64>().ok()))
                .ok_or_else(|| {
                    ApiError::bad_field("cursor", "the cursor is not one this server gave out; start without it")
                })?,
        };
        Ok((after, limit))
    }
}

/// One page; `next_cursor` is set when more items follow.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// From up to `limit + 1` fetched items.
    pub fn new(mut items: Vec<T>, limit: i64, id: impl Fn(&T) -> i64) -> Page<T> {
        let more = items.len() as i64 > limit;
        items.truncate(limit as usize);
        let next_cursor = if more { items.last().map(|t| encode(id(t))) } else { None };
        Page { items, next_cursor }
    }
}
