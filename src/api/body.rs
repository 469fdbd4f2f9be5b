//! Reading request bodies within the configured limit, in any of the accepted upload forms.

use super::error::ApiError;
use crate::domain::SchemaOverride;
use crate::ingest::{CsvOptions, Format};
use actix_multipart::Multipart;
use actix_web::{web, HttpRequest};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

/// Collects a byte stream, refusing with 413 past `limit`.
pub(crate) async fn collect<S, E>(mut stream: S, limit: usize, what: &str) -> Result<Bytes, ApiError>
where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("could not read the {what}: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(ApiError::too_large(format!(
                "the {what} is larger than {limit} bytes, the limit (GENFAB_MAX_BODY_BYTES); split it into appends"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// A table body: its bytes, format and an optional schema override (multipart only).
pub struct TableBody {
    pub bytes: Bytes,
    pub format: Format,
    pub schema: Option<SchemaOverride>,
}

/// CSV hints from the query: `header=true|false`, `delimiter=,|;|tab|space`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CsvQuery {
    pub header: Option<bool>,
    pub delimiter: Option<String>,
}

impl CsvQuery {
    fn options(&self) -> Result<CsvOptions, ApiError> {
        let separator = match self.delimiter.as_deref() {
            None | Some("") => None,
            Some("tab") | Some("\t") => Some(b'\t'),
            Some("space") | Some(" ") => Some(b' '),
            Some(s) if s.len() == 1 && s.is_ascii() => Some(s.as_bytes()[0]),
            Some(s) => {
                return Err(ApiError::bad_field(
                    "delimiter",
                    format!("delimiter '{s}' is not one character; use ',', ';', 'tab' or 'space'"),
                ))
            }
        };
        Ok(CsvOptions { separator, header: self.header })
    }
}

fn with_csv_options(format: Format, q: &CsvQuery) -> Result<Format, ApiError> {
    Ok(match format {
        Format::Csv(_) => Format::Csv(q.options()?),
        other => other,
    })
}

pub fn parse_schema(bytes: &[u8]) -> Result<SchemaOverride, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_field(
            "schema",
            format!("the schema is not valid: {e}; expected {{\"columns\": {{\"NAME\": {{\"kind\": ..., \"role\": ..., \"min\": ..., \"max\": ..., \"levels\": [...]}}}}}}"),
        )
    })
}

const FORMATS: &str =
    "text/csv, application/vnd.apache.parquet, application/json or multipart/form-data with a 'file' part";

/// Reads a table body within `limit` bytes.
pub async fn read_table_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    q: &CsvQuery,
) -> Result<TableBody, ApiError> {
    if let Some(len) =
        req.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return Err(ApiError::too_large(format!(
                "the body is {len} bytes; the limit is {limit} (GENFAB_MAX_BODY_BYTES); split it into appends"
            )));
        }
    }
    let media = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if media.to_ascii_lowercase().starts_with("multipart/form-data") {
        return read_multipart(req, payload, limit, q).await;
    }
    if media.is_empty() {
        return Err(ApiError::unsupported(format!("the request has no Content-Type; send {FORMATS}")));
    }
    let format = Format::from_media_type(&media).ok_or_else(|| {
        ApiError::unsupported(format!("Content-Type '{media}' is not a table format; send {FORMATS}"))
    })?;
    let bytes = collect(payload, limit, "body").await?;
    Ok(TableBody { bytes, format: with_csv_options(format, q)?, schema: None })
}

async fn read_multipart(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    q: &CsvQuery,
) -> Result<TableBody, ApiError> {
    let mut mp = Multipart::new(req.headers(), payload);
    let mut file: Option<(Bytes, Format)> = None;
    let mut schema = None;
    while let Some(field) = mp.next().await {
        let field = field.map_err(|e| ApiError::bad_request(format!("the multipart body is malformed: {e}")))?;
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "file" => {
                let filename = field.content_disposition().and_then(|d| d.get_filename()).map(str::to_string);
                let ctype = field.content_type().map(|m| m.essence_str().to_string());
                let bytes = collect(field, limit, "file").await?;
                let format = ctype
                    .as_deref()
                    .filter(|c| *c != "application/octet-stream")
                    .and_then(Format::from_media_type)
                    .or_else(|| filename.as_deref().and_then(Format::from_file_name))
                    .ok_or_else(|| {
                        ApiError::unsupported(format!(
                            "the 'file' part ({}) is not a table format; name it .csv, .parquet or .json or give it a Content-Type",
                            filename.as_deref().unwrap_or("no file name")
                        ))
                    })?;
                file = Some((bytes, format));
            }
            "schema" => {
                let bytes = collect(field, 1024 * 1024, "schema part").await?;
                schema = Some(parse_schema(&bytes)?);
            }
            other => {
                return Err(ApiError::bad_field(
                    other,
                    format!("unexpected form part '{other}'; send 'file' and optionally 'schema'"),
                ));
            }
        }
    }
    let (bytes, format) = file.ok_or_else(|| ApiError::bad_field("file", "the form has no 'file' part"))?;
    Ok(TableBody { bytes, format: with_csv_options(format, q)?, schema })
}
