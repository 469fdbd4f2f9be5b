//! Dashboard sign-in: a token typed once into a form, kept in an HttpOnly, SameSite=Strict cookie.
//! Every form that changes something carries a CSRF token derived from the session (and the
//! cookie is not sent cross-site anyway), checked in constant time.

use crate::api::AppState;
use crate::auth::hash_token;
use crate::domain::{Permission, Role};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::Pin;

/// The session cookie: the token itself (HttpOnly: no script can read it).
pub const COOKIE: &str = "genfab_session";

/// A signed-in engineer (any role) as the pages see them.
#[derive(Clone, Debug)]
pub struct Session {
    pub token_id: i64,
    pub name: String,
    pub role: Role,
    /// The CSRF token every state-changing form of this session must carry.
    pub csrf: String,
}

impl Session {
    pub fn may(&self, p: Permission) -> bool {
        self.role.allows(p)
    }

    /// Whether a submitted CSRF token is this session's. Compared in constant time (`subtle`):
    /// with `==`, how soon a wrong guess is refused would tell an attacker how many of its
    /// leading characters are right. Only the length, which is public, may end it early.
    pub fn csrf_ok(&self, given: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.csrf.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

/// The CSRF token of a session: a hash of its token's stored hash, so it is stable for the
/// session, unknown to anyone without the cookie, and needs no server-side state.
pub fn csrf_of(token_hash: &str) -> String {
    hex::encode(&Sha256::digest(format!("genfab-csrf\0{token_hash}").as_bytes())[..16])
}

/// Where a request without a valid session is sent.
fn to_login(req: &HttpRequest) -> actix_web::Error {
    let next = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let location = format!("/login?next={}", url_escape(next));
    let res = HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish();
    actix_web::error::InternalError::from_response("sign in first", res).into()
}

/// Percent-encodes everything but unreserved characters and `/`.
pub fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A local path to go to after sign-in; anything else (another host, `//host`) becomes `/`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".into(),
    }
}

impl FromRequest for Session {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Session, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| actix_web::error::ErrorInternalServerError("application state missing"))?;
            let Some(cookie) = req.cookie(COOKIE) else {
                return Err(to_login(&req));
            };
            let hash = hash_token(cookie.value());
            let info = state.store.find_token(&hash).await.map_err(|e| {
                tracing::error!(error = %format!("{e:#}"), "session lookup failed");
                actix_web::error::ErrorServiceUnavailable("the database is unreachable; try again shortly")
            })?;
            let Some(info) = info else {
                return Err(to_login(&req));
            };
            let role = info.role().ok_or_else(|| actix_web::error::ErrorInternalServerError("unknown role"))?;
            crate::api::audit::Actor::note(&req, info.id, &info.name, role);
            Ok(Session { token_id: info.id, name: info.name, role, csrf: csrf_of(&hash) })
        })
    }
}

/// The session cookie for `token`.
pub fn session_cookie(token: &str, secure: bool) -> Cookie<'static> {
    Cookie::build(COOKIE, token.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish()
}

/// A cookie that removes the session.
pub fn cleared_cookie() -> Cookie<'static> {
    let mut c = Cookie::build(COOKIE, "").path("/").http_only(true).same_site(SameSite::Strict).finish();
    c.make_removal();
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/datasets/3?x=1")), "/datasets/3?x=1");
        for bad in ["//evil.example/", "https://evil.example/", "/\\evil", "datasets"] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
        assert_eq!(url_escape("/a b?c=1&d"), "/a%20b%3Fc%3D1%26d");
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_compare_exactly() {
        let (a, b) = (csrf_of("h1"), csrf_of("h2"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        let s = Session { token_id: 1, name: "t".into(), role: Role::Viewer, csrf: a.clone() };
        assert!(s.csrf_ok(&a));
        assert!(!s.csrf_ok(&b) && !s.csrf_ok("") && !s.csrf_ok(&a[..31]));
    }
}
