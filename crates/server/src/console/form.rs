//! A posted console form (`application/x-www-form-urlencoded`), accepted only
//! with the session's token: a page of another site cannot know it.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};

use super::ctx::Ctx;
use super::layout;

/// The form's fields, in the order sent (a field may repeat: checkboxes).
#[derive(Debug, Default)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// The field's first value, trimmed; `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.raw(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// The field's first value exactly as sent.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated field.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Compares two tokens in time independent of where they differ: both are
/// hashed first, so the comparison sees only digests.
fn same_token(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let Some(ctx) = req.extensions().get::<Ctx>().cloned() else {
            return Err(layout::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
                "",
            ));
        };
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            layout::error_page(e.status(), "The form could not be read", &e.body_text())
        })?;
        let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
        let form = Form { pairs };
        match form.raw("csrf") {
            Some(token) if same_token(token, &ctx.csrf) => Ok(form),
            _ => {
                tracing::info!("a console form without this session's token was refused");
                Err(layout::error_page(
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    "This form did not carry your session's token, so it was not acted on. \
                     Reload the page and try again.",
                )
                .into_response())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_trimmed_and_repeated() {
        let form = Form {
            pairs: form_urlencoded::parse(b"name=+Acme+&p=read&p=write&empty=+")
                .into_owned()
                .collect(),
        };
        assert_eq!(form.get("name"), Some("Acme"));
        assert_eq!(form.raw("name"), Some(" Acme "));
        assert_eq!(form.all("p"), vec!["read", "write"]);
        assert_eq!(form.get("empty"), None);
        assert_eq!(form.get("missing"), None);
    }

    #[test]
    fn tokens_match_only_exactly() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", ""));
    }
}
