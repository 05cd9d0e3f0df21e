//! The named kinds of field, as OpenAPI components.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, Object, ObjectBuilder, OneOfBuilder, Schema,
    SchemaFormat, Type,
};

use super::{EVENT_TYPE, METRIC, NAME, NO_CONTROL, ORG_ID, TAG_NAME, digits_between};
use crate::{access_log, api_keys, configs, consumption, orgs, tags, webhooks};

/// Declares a named kind of field: a component of the OpenAPI document that
/// fields refer to with `#[schema(value_type = …)]` (`Option<…>` for `null`).
macro_rules! field_kind {
    ($(#[$doc:meta])* $name:ident => $schema:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema.into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// Text of `min` to `max` characters and no control characters.
fn plain_text(min: usize, max: usize) -> ObjectBuilder {
    let b = string().max_length(Some(max)).pattern(Some(NO_CONTROL));
    if min > 0 { b.min_length(Some(min)) } else { b }
}

field_kind!(
    /// A display name (orgs, API keys, registry items).
    DisplayName => string()
        .min_length(Some(1))
        .max_length(Some(orgs::MAX_NAME_CHARS))
        .pattern(Some(NAME))
        .description(Some(
            "1–200 characters, not only blanks, no control characters; \
             surrounding blanks are trimmed.",
        ))
        .examples(["Example Organization"])
        .build()
);

field_kind!(
    /// An organization id.
    OrgIdText => string()
        .pattern(Some(ORG_ID))
        .description(Some("An organization id: 1–64 of `[A-Za-z0-9._-]`, starting with a letter or digit."))
        .examples(["org-123"])
        .build()
);

field_kind!(
    /// A tag name.
    TagName => string()
        .pattern(Some(TAG_NAME))
        .description(Some("1–64 characters of `[A-Za-z0-9_.:-]`."))
        .examples(["confidential"])
        .build()
);

field_kind!(
    /// Tag names given at creation: distinct, at most [`tags::MAX_PER_ORG`].
    TagNames => ArrayBuilder::new()
        .items(TagName::schema())
        .max_items(Some(tags::MAX_PER_ORG))
        .unique_items(true)
        .description(Some("Distinct tag names, at most 64."))
        .examples([serde_json::json!(["confidential"])])
        .build()
);

field_kind!(
    /// An instant, RFC 3339.
    Timestamp => string()
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .build()
);

field_kind!(
    /// A free-form JSON object (customizations, metadata).
    JsonObject => ObjectBuilder::new().schema_type(Type::Object).build()
);

field_kind!(
    /// The `action` of an external access event.
    EventAction => plain_text(1, access_log::MAX_ACTION_CHARS)
        .description(Some("1–64 characters, no control characters."))
        .examples(["LOGIN"])
        .build()
);

field_kind!(
    /// `user`, `ip` and `user_agent` of an external access event.
    EventText => plain_text(0, access_log::MAX_TEXT)
        .description(Some("At most 512 characters, no control characters."))
        .build()
);

field_kind!(
    /// A usage metric: the pattern, and not one orgd counts itself.
    Metric => string()
        .pattern(Some(METRIC))
        .description(Some(
            "`^[a-z][a-z0-9_.]{0,63}$`, other than the metrics orgd counts itself \
             (`api_requests`, `applications`, `workspaces`, `usergroups`, `children`).",
        ))
        .examples(["storage.gb_hours"])
        .build()
);

field_kind!(
    /// The idempotency key of a usage event.
    IdempotencyKey => string()
        .min_length(Some(1))
        .max_length(Some(consumption::MAX_IDEMPOTENCY_KEY_CHARS))
        .description(Some("1–255 characters."))
        .build()
);

field_kind!(
    /// A key's permissions: one or more of `read`, `write`, `delete`, `admin`.
    PermissionNames => ArrayBuilder::new()
        .items(string().enum_values(Some(api_keys::Permission::ALL.map(|p| p.as_str()))))
        .min_items(Some(1))
        .examples([serde_json::json!(["read", "write"])])
        .build()
);

field_kind!(
    /// A key's rate limit, requests a minute.
    RateLimit => ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(api_keys::MAX_RATE_LIMIT_PER_MINUTE))
        .examples([600])
        .build()
);

/// One configs value: an integer in the key's bounds, or the same number
/// as canonical decimal text (the seed shows both); `null` removes the key
/// (PATCH only).
fn config_value(spec: &configs::ConfigSpec, nullable: bool) -> RefOr<Schema> {
    let number = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(spec.minimum))
        .maximum(Some(spec.maximum));
    let text = string().pattern(Some(digits_between(spec.minimum, spec.maximum)));
    let mut one = OneOfBuilder::new().item(number).item(text);
    if nullable {
        one = one.item(ObjectBuilder::new().schema_type(Type::Null));
    }
    RefOr::T(Schema::OneOf(
        one.description(Some(spec.display_text)).build(),
    ))
}

/// A configs body: known keys only ([`configs::REGISTRY`]).
fn configs_body(nullable_values: bool) -> Object {
    let mut b = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .examples([serde_json::json!({"applications.limit": 5, "workspaces.limit": "3"})]);
    for spec in configs::REGISTRY.iter() {
        b = b.property(spec.key, config_value(spec, nullable_values));
    }
    b.build()
}

field_kind!(
    /// Configs as PUT and `POST /orgs` take them: known keys only.
    ConfigsBody => configs_body(false)
);

field_kind!(
    /// Configs as PATCH takes them: known keys only; `null` removes a key.
    ConfigsPatchBody => configs_body(true)
);

field_kind!(
    /// A webhook's event types: names and `prefix.*` patterns.
    EventTypes => ArrayBuilder::new()
        .items(string().pattern(Some(EVENT_TYPE)))
        .min_items(Some(1))
        .max_items(Some(100))
        .description(Some(
            "Event types (`configs.update`) and prefixes (`org.*`), 1–100 of them.",
        ))
        .examples([serde_json::json!(["org.*", "limit.threshold"])])
        .build()
);

field_kind!(
    /// A webhook's URL.
    WebhookUrl => string()
        .format(Some(SchemaFormat::Custom("uri".into())))
        .max_length(Some(webhooks::MAX_URL_LEN))
        .description(Some(
            "An absolute `http` or `https` URL without credentials or fragment, at most \
             2048 characters, whose host is (and resolves only to) globally reachable \
             addresses, as the IANA special-purpose registries say: not loopback, private, \
             link-local, documentation, benchmarking, multicast or another special range.",
        ))
        .examples(["https://hooks.example.com/orgd"])
        .build()
);

field_kind!(
    /// A webhook's description.
    WebhookDescription => plain_text(0, webhooks::MAX_DESCRIPTION_LEN)
        .examples(["billing sync"])
        .build()
);
