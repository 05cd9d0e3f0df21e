//! What every operation of the OpenAPI document shares, added after the
//! routes are merged so no route can be declared without it: problem bodies
//! under their real media type (`application/problem+json`), and the error
//! answers any route can give (401 and 429 with a key, 503 when the database
//! is away, 400/413/415 where the request carries a body or a query), the
//! `Idempotency-Key` header of every keyed POST (and its 409), the
//! `If-None-Match` header of every operation that can answer 304 and the
//! `If-Match` header of every one that can answer 412 (whose 412 carries the
//! current `ETag`), and
//! request bodies as strict as the server reads them: objects with no
//! properties beyond those declared (unknown fields are a 400), batches of 1
//! to 1000 items.

use utoipa::openapi::Required;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, Schema};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{OpenApi, Ref, RefOr};

pub const PROBLEM_JSON: &str = "application/problem+json";

fn is_problem(content: &utoipa::openapi::content::Content) -> bool {
    matches!(&content.schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/ProblemBody"))
}

fn problem_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                PROBLEM_JSON,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ProblemBody")))
                    .build(),
            )
            .build(),
    )
}

/// The `Idempotency-Key` header every keyed POST takes (SPEC §9).
fn idempotency_key() -> Parameter {
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes the POST safe to retry: the first response is kept for 24 hours \
             and replayed to a retry with the same key and the same request.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[!-~]{1,255}$"))
                .build(),
        ))
        .build()
}

/// A conditional-request header (RFC 9110 §13), as a parameter.
fn condition(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .examples(["\"3\""])
                .build(),
        ))
        .build()
}

/// Declares the conditional headers an operation honours, read off the
/// answers it declares: 304 needs `If-None-Match`, 412 needs `If-Match`.
fn declare_conditions(op: &mut Operation) {
    let answers = |status: &str| op.responses.responses.contains_key(status);
    let mut headers = Vec::new();
    if answers("304") {
        headers.push(condition(
            "If-None-Match",
            "An ETag from an earlier read (or `*`): when it is still current, the answer \
             is 304 with no body",
        ));
    }
    if answers("412") {
        headers.push(condition(
            "If-Match",
            "The ETag (the org's `version`, quoted, e.g. `\"3\"`) the change is based on, or \
             `*`: when the resource has changed since, the answer is 412 with the current `ETag`",
        ));
        if let Some(RefOr::T(res)) = op.responses.responses.get_mut("412") {
            res.headers.insert(
                "ETag".to_owned(),
                utoipa::openapi::header::HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::String))
                    .description(Some("The resource's current ETag"))
                    .build(),
            );
        }
    }
    if !headers.is_empty() {
        op.parameters.get_or_insert_with(Vec::new).extend(headers);
    }
}

fn complete(op: &mut Operation, is_post: bool) {
    declare_conditions(op);
    for res in op.responses.responses.values_mut() {
        if let RefOr::T(res) = res
            && res.content.get("application/json").is_some_and(is_problem)
            && let Some(c) = res.content.shift_remove("application/json")
        {
            res.content.insert(PROBLEM_JSON.to_owned(), c);
        }
    }
    // Health checks declare `security(())`: no key, so no 401 or 429.
    let keyed = !op
        .security
        .as_ref()
        .is_some_and(|s| s.iter().all(|r| *r == Default::default()));
    let has_query = op
        .parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == ParameterIn::Query);
    let has_body = op.request_body.is_some();
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| problem_response(description));
    };
    if is_post && keyed {
        op.parameters
            .get_or_insert_with(Vec::new)
            .push(idempotency_key());
    }
    if has_query || has_body || (is_post && keyed) {
        add(
            "400",
            "The request could not be read, or has invalid fields",
        );
    }
    if keyed {
        add("401", "A valid API key is required");
        add(
            "429",
            "This API key has made too many requests (`Retry-After` says when to retry)",
        );
    }
    if has_body {
        add("413", "The body is larger than the limit");
        add("415", "The body is not `application/json`");
    }
    if is_post && keyed {
        add(
            "409",
            "The `Idempotency-Key` was used with another request, or its first request is still running",
        );
    }
    add(
        "503",
        "The database is unavailable or the request timed out (`Retry-After`)",
    );
}

/// Request bodies that are arrays take 1 to this many items (usage events,
/// external access events).
const MAX_BATCH: usize = 1000;

/// Completes every operation of `api` (see the module docs).
pub fn complete_operations(api: &mut OpenApi) {
    let mut body_schemas = std::collections::BTreeSet::new();
    for item in api.paths.paths.values_mut() {
        for (op, is_post) in [
            (&mut item.get, false),
            (&mut item.put, false),
            (&mut item.post, true),
            (&mut item.delete, false),
            (&mut item.patch, false),
        ] {
            let Some(op) = op else { continue };
            complete(op, is_post);
            for content in op
                .request_body
                .iter_mut()
                .flat_map(|b| b.content.values_mut())
            {
                match &mut content.schema {
                    Some(RefOr::Ref(r)) => {
                        body_schemas
                            .insert(r.ref_location.rsplit('/').next().unwrap_or("").to_owned());
                    }
                    Some(RefOr::T(Schema::Array(a))) => {
                        a.min_items.get_or_insert(1);
                        a.max_items.get_or_insert(MAX_BATCH);
                        if let ArrayItems::RefOrSchema(item) = &a.items
                            && let RefOr::Ref(r) = item.as_ref()
                        {
                            body_schemas
                                .insert(r.ref_location.rsplit('/').next().unwrap_or("").to_owned());
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    // Body objects read by AppJson, which refuses fields it does not know.
    if let Some(components) = api.components.as_mut() {
        for name in &body_schemas {
            if let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut(name)
                && o.additional_properties.is_none()
            {
                o.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
            }
        }
    }
}
