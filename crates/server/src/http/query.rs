//! Query parameters an operation does not declare are refused (400, naming
//! each), as unknown body fields are: `GET /orgs?name=x` must not quietly
//! answer with every org. What each operation takes is read from the OpenAPI
//! document built from the same route declarations, so the rule and the
//! description cannot drift apart.

use std::collections::{BTreeSet, HashMap};

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use orgd_core::FieldError;
use utoipa::openapi::OpenApi;
use utoipa::openapi::path::{HttpMethod, ParameterIn};

use crate::web::problem::ApiError;

/// The query parameters of every operation, by route template and method
/// (nested, so a lookup borrows the request's route instead of copying it).
#[derive(Debug, Default)]
pub struct Declared(HashMap<String, HashMap<Method, BTreeSet<String>>>);

impl Declared {
    pub fn from_document(api: &OpenApi) -> Self {
        let mut map = HashMap::new();
        for (path, item) in &api.paths.paths {
            let operations = [
                (Method::GET, HttpMethod::Get),
                (Method::PUT, HttpMethod::Put),
                (Method::POST, HttpMethod::Post),
                (Method::DELETE, HttpMethod::Delete),
                (Method::PATCH, HttpMethod::Patch),
            ];
            for (method, which) in operations {
                let Some(op) = operation(item, &which) else {
                    continue;
                };
                let names = op
                    .parameters
                    .iter()
                    .flatten()
                    .filter(|p| p.parameter_in == ParameterIn::Query)
                    .map(|p| p.name.clone())
                    .collect();
                map.entry(path.clone())
                    .or_insert_with(HashMap::new)
                    .insert(method, names);
            }
        }
        Self(map)
    }

    /// The names in `query` that the operation does not declare, each once,
    /// in the order given.
    fn undeclared(&self, method: &Method, route: &str, query: &str) -> Vec<String> {
        let Some(known) = self.0.get(route).and_then(|m| m.get(method)) else {
            return Vec::new();
        };
        let mut out: Vec<String> = Vec::new();
        for (name, _) in form_urlencoded::parse(query.as_bytes()) {
            if !known.contains(name.as_ref()) && !out.iter().any(|n| n == name.as_ref()) {
                out.push(name.into_owned());
            }
        }
        out
    }

    fn known(&self, method: &Method, route: &str) -> Vec<String> {
        self.0
            .get(route)
            .and_then(|m| m.get(method))
            .map(|k| k.iter().cloned().collect())
            .unwrap_or_default()
    }
}

fn operation<'a>(
    item: &'a utoipa::openapi::PathItem,
    which: &HttpMethod,
) -> Option<&'a utoipa::openapi::path::Operation> {
    match which {
        HttpMethod::Get => item.get.as_ref(),
        HttpMethod::Put => item.put.as_ref(),
        HttpMethod::Post => item.post.as_ref(),
        HttpMethod::Delete => item.delete.as_ref(),
        HttpMethod::Patch => item.patch.as_ref(),
        HttpMethod::Options | HttpMethod::Head | HttpMethod::Trace => None,
    }
}

/// The 400 naming every query parameter the operation does not take; `None`
/// when it takes them all.
pub fn refuse_undeclared(declared: &Declared, req: &Request) -> Option<Response> {
    let (Some(query), Some(route)) = (req.uri().query(), req.extensions().get::<MatchedPath>())
    else {
        return None;
    };
    let unknown = declared.undeclared(req.method(), route.as_str(), query);
    if unknown.is_empty() {
        return None;
    }
    let known = declared.known(req.method(), route.as_str());
    let message = if known.is_empty() {
        "unknown query parameter: this operation takes none".to_owned()
    } else {
        format!(
            "unknown query parameter; this operation takes: {}",
            known.join(", ")
        )
    };
    let errors = unknown
        .into_iter()
        .map(|name| FieldError::new(name, message.clone()))
        .collect();
    Some(ApiError::Domain(orgd_core::Error::Validation(errors)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undeclared_names_are_listed_once_in_order() {
        let d = Declared(HashMap::from([
            (
                "/orgs".to_owned(),
                HashMap::from([(
                    Method::GET,
                    BTreeSet::from(["tag".to_owned(), "limit".to_owned()]),
                )]),
            ),
            (
                "/me".to_owned(),
                HashMap::from([(Method::GET, BTreeSet::new())]),
            ),
        ]));
        assert_eq!(
            d.undeclared(
                &Method::GET,
                "/orgs",
                "name=x&tag=a&tag=b&zz&name=y&limit=3"
            ),
            ["name", "zz"]
        );
        assert!(
            d.undeclared(&Method::GET, "/orgs", "tag=a&limit=1")
                .is_empty()
        );
        assert_eq!(d.undeclared(&Method::GET, "/me", "a%20b=1"), ["a b"]);
        // An operation the document does not know is not this layer's call.
        assert!(d.undeclared(&Method::POST, "/elsewhere", "x=1").is_empty());
    }
}
