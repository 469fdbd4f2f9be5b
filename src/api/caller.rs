//! The `Caller` extractor: who is asking, from the bearer token, and what they may do.

use super::error::ApiError;
use super::AppState;
use crate::auth::hash_token;
use crate::domain::{Permission, Role};
use actix_web::{dev::Payload, web, FromRequest, HttpMessage, HttpRequest};
use std::future::Future;
use std::pin::Pin;

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    pub token_id: i64,
    pub name: String,
    pub role: Role,
}

impl Caller {
    /// Refuses with 403 when the role lacks `p`.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.role.allows(p) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("the role '{}' may not do this ({p:?})", self.role.as_str())))
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // the middlewares ask before the handler does: one lookup per request
        if let Some(c) = req.extensions().get::<Caller>().cloned() {
            return Box::pin(async move { Ok(c) });
        }
        let req = req.clone();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req.headers().get("authorization").map(|h| h.to_str().map(str::to_string));
        Box::pin(async move {
            let state = state.ok_or_else(|| anyhow::anyhow!("application state missing"))?;
            let value = match header {
                None => return Err(ApiError::unauthorized("send 'Authorization: Bearer TOKEN'")),
                Some(Err(_)) => return Err(ApiError::unauthorized("the Authorization header is not text")),
                Some(Ok(v)) => v,
            };
            let token = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| ApiError::unauthorized("the Authorization header must be 'Bearer TOKEN'"))?;
            // Looked up by its SHA-256, never compared as a string: how long the lookup takes
            // tells nothing about the token, only about a hash nobody can aim at.
            let info = state
                .store
                .find_token(&hash_token(token))
                .await?
                .ok_or_else(|| ApiError::unauthorized("the token is unknown or revoked"))?;
            let role = info.role().ok_or_else(|| anyhow::anyhow!("stored token {} has an unknown role", info.id))?;
            let caller = Caller { token_id: info.id, name: info.name, role };
            super::audit::Actor::note(&req, caller.token_id, &caller.name, role);
            req.extensions_mut().insert(caller.clone());
            Ok(caller)
        })
    }
}
