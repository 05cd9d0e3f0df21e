//! `/docs`: a readable API reference, rendered once from the OpenAPI
//! document into one self-contained HTML page (inline CSS, no scripts, no
//! fonts or assets from anywhere), so it works on a machine with no internet.
//!
//! Rendered here rather than by an embedded Swagger UI or Redoc: those ship
//! megabytes of JavaScript fetched at build time, and a static page says
//! everything the document says.

use std::fmt::Write as _;

use serde_json::Value;

/// The page for `doc` (an OpenAPI 3.1 document as JSON).
pub fn render(doc: &Value) -> String {
    let mut out = String::with_capacity(256 * 1024);
    let title = text(&doc["info"]["title"]);
    let version = text(&doc["info"]["version"]);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} API reference</title><style>{CSS}</style></head><body>\
         <header><h1>{t} <small>{v}</small></h1><p>{d}</p>\
         <p>Every route but <code>/healthz</code>, <code>/readyz</code>, \
         <code>/audit/keys</code>, <code>/metrics</code>, <code>/openapi.json</code> and \
         this page takes \
         <code>Authorization: Bearer &lt;key&gt;</code>. Errors are \
         <code>application/problem+json</code> (<a href=\"#schema-ProblemBody\">ProblemBody</a>). \
         The machine-readable document is <a href=\"/openapi.json\">/openapi.json</a>.</p></header>",
        t = esc(&title),
        v = esc(&version),
        d = esc(&text(&doc["info"]["description"])),
    );

    let (tags, ops) = operations_by_tag(doc);

    out.push_str("<nav><h2>Contents</h2><ul>");
    for tag in &tags {
        let _ = write!(
            out,
            "<li><a href=\"#tag-{a}\">{t}</a></li>",
            a = anchor(tag),
            t = esc(tag)
        );
    }
    out.push_str("<li><a href=\"#schemas\">Schemas</a></li></ul></nav><main>");

    for tag in &tags {
        let _ = write!(out, "<h2 id=\"tag-{}\">{}</h2>", anchor(tag), esc(tag));
        for (_, path, method, op) in ops.iter().filter(|(t, ..)| t == tag) {
            operation(&mut out, path, method, op);
        }
    }

    out.push_str("<h2 id=\"schemas\">Schemas</h2>");
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            let _ = write!(
                out,
                "<section class=\"schema\" id=\"schema-{a}\"><h3>{n}</h3>",
                a = anchor(name),
                n = esc(name)
            );
            schema_body(&mut out, schema);
            out.push_str("</section>");
        }
    }
    out.push_str("</main></body></html>");
    out
}

/// One operation: its tag, path, method and JSON.
type Operation<'a> = (String, String, String, &'a Value);

/// Every operation, and the tags in the order they first appear.
fn operations_by_tag(doc: &Value) -> (Vec<String>, Vec<Operation<'_>>) {
    let mut ops: Vec<Operation<'_>> = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for method in ["get", "post", "put", "patch", "delete"] {
                if let Some(op) = item.get(method) {
                    let tag = op["tags"][0].as_str().unwrap_or("other").to_owned();
                    ops.push((tag, path.clone(), method.to_owned(), op));
                }
            }
        }
    }
    let mut tags: Vec<String> = Vec::new();
    for (tag, ..) in &ops {
        if !tags.contains(tag) {
            tags.push(tag.clone());
        }
    }

    (tags, ops)
}

fn operation(out: &mut String, path: &str, method: &str, op: &Value) {
    let id = text(&op["operationId"]);
    let _ = write!(
        out,
        "<section class=\"op\" id=\"op-{a}\"><h3><span class=\"m {m}\">{M}</span> <code>{p}</code></h3>",
        a = anchor(&id),
        m = method,
        M = method.to_uppercase(),
        p = esc(path),
    );
    for key in ["summary", "description"] {
        let t = text(&op[key]);
        let repeats_summary = key == "description" && t == text(&op["summary"]);
        if !t.is_empty() && !repeats_summary {
            let _ = write!(out, "<p>{}</p>", esc(&t));
        }
    }
    parameters(out, op);
    request_body(out, op);
    responses(out, op);
    out.push_str("</section>");
}

fn parameters(out: &mut String, op: &Value) {
    if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        out.push_str("<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>required</th><th>description</th></tr>");
        for p in params {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&text(&p["name"])),
                esc(&text(&p["in"])),
                type_of(&p["schema"]),
                if p["required"].as_bool() == Some(true) {
                    "yes"
                } else {
                    "no"
                },
                esc(&text(&p["description"])),
            );
        }
        out.push_str("</table>");
    }
}

fn request_body(out: &mut String, op: &Value) {
    if let Some(content) = op["requestBody"]["content"].as_object() {
        out.push_str("<h4>Request body</h4>");
        for (media, body) in content {
            let _ = write!(
                out,
                "<p><code>{}</code>: {}</p>",
                esc(media),
                type_of(&body["schema"])
            );
            example(out, body);
        }
    }
}

fn responses(out: &mut String, op: &Value) {
    if let Some(responses) = op["responses"].as_object() {
        out.push_str(
            "<h4>Responses</h4><table><tr><th>status</th><th>description</th><th>body</th></tr>",
        );
        for (status, res) in responses {
            let body = res["content"]
                .as_object()
                .and_then(|c| c.values().next())
                .map(|b| type_of(&b["schema"]))
                .unwrap_or_default();
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(status),
                esc(&text(&res["description"])),
                body
            );
        }
        out.push_str("</table>");
        for res in responses.values() {
            if let Some(content) = res["content"].as_object() {
                for body in content.values() {
                    example(out, body);
                }
            }
        }
    }
}

fn example(out: &mut String, body: &Value) {
    let ex = if body["example"].is_null() {
        &body["schema"]["example"]
    } else {
        &body["example"]
    };
    if !ex.is_null() {
        // `{:#}` of a JSON value is its pretty form, and cannot fail.
        let pretty = format!("{ex:#}");
        let _ = write!(out, "<pre>{}</pre>", esc(&pretty));
    }
}

fn schema_body(out: &mut String, schema: &Value) {
    let d = text(&schema["description"]);
    if !d.is_empty() {
        let _ = write!(out, "<p>{}</p>", esc(&d));
    }
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(props) = schema["properties"].as_object() {
        out.push_str(
            "<table><tr><th>field</th><th>type</th><th>required</th><th>description</th></tr>",
        );
        for (name, p) in props {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(name),
                type_of(p),
                if required.contains(&name.as_str()) {
                    "yes"
                } else {
                    "no"
                },
                esc(&description(p)),
            );
        }
        out.push_str("</table>");
    } else {
        let _ = write!(out, "<p>{}</p>", type_of(schema));
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(parts) = schema[key].as_array() {
            let names: Vec<String> = parts.iter().map(type_of).collect();
            let _ = write!(out, "<p>{key}: {}</p>", names.join(", "));
        }
    }
}

/// A short, linked description of a schema's type.
fn type_of(s: &Value) -> String {
    if let Some(r) = s["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("<a href=\"#schema-{}\">{}</a>", anchor(name), esc(name));
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(parts) = s[key].as_array() {
            let names: Vec<String> = parts.iter().map(type_of).collect();
            return names.join(" | ");
        }
    }
    let base = match &s["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => String::new(),
    };
    if base.contains("array") {
        let mut out = format!("array of {}", type_of(&s["items"]));
        for (key, label) in [("minItems", "min items"), ("maxItems", "max items")] {
            if let Some(n) = s[key].as_u64() {
                let _ = write!(out, " <small>{label} {n}</small>");
            }
        }
        if s["uniqueItems"] == true {
            out.push_str(" <small>distinct</small>");
        }
        return out;
    }
    let mut out = esc(&base);
    if let Some(values) = s["enum"].as_array() {
        let v: Vec<String> = values.iter().map(|v| esc(&v.to_string())).collect();
        let _ = write!(out, " ({})", v.join(", "));
    }
    if let Some(f) = s["format"].as_str() {
        let _ = write!(out, " <small>{}</small>", esc(f));
    }
    for (key, label) in [
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minimum", "min"),
        ("maximum", "max"),
        ("pattern", "pattern"),
    ] {
        if let Some(v) = s.get(key).filter(|v| !v.is_null()) {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            let _ = write!(out, " <small>{label} <code>{}</code></small>", esc(&v));
        }
    }
    if out.is_empty() { "any".into() } else { out }
}

/// A field's description: its own, or that of the schema it may be `null`
/// instead of (`oneOf: [null, {$ref, description}]`).
fn description(p: &Value) -> String {
    let own = text(&p["description"]);
    if !own.is_empty() {
        return own;
    }
    ["oneOf", "anyOf"]
        .iter()
        .filter_map(|k| p[*k].as_array())
        .flatten()
        .map(|s| text(&s["description"]))
        .find(|d| !d.is_empty())
        .unwrap_or_default()
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn anchor(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2430;background:#fbfcfd}\
header{padding:1.5rem 2rem;background:#1d2430;color:#eef1f5}header a{color:#9cc8ff}\
header small{font-weight:normal;opacity:.7}nav{padding:0 2rem}nav ul{columns:3;padding-left:1rem}\
main{padding:0 2rem 3rem;max-width:70rem}h2{border-bottom:2px solid #d6dde6;margin-top:2.5rem}\
.op,.schema{border:1px solid #d6dde6;border-radius:6px;padding:.5rem 1rem;margin:1rem 0;background:#fff}\
.m{display:inline-block;min-width:4.5rem;text-align:center;border-radius:4px;color:#fff;font-size:.8rem;padding:.1rem .4rem}\
.get{background:#2f7d32}.post{background:#1565c0}.put{background:#6a1b9a}.patch{background:#ef6c00}.delete{background:#c62828}\
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #e3e8ee;padding:.25rem .5rem;text-align:left;vertical-align:top}\
th{background:#f3f6f9}pre{background:#f3f6f9;padding:.75rem;overflow:auto;border-radius:4px}code{font-size:.9em}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_describes_every_operation_and_escapes_text() {
        let doc = serde_json::json!({
            "info": {"title": "t", "version": "1", "description": "<b>"},
            "paths": {"/x/{id}": {"get": {"operationId": "get_x", "tags": ["xs"],
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "ok", "content": {"application/json":
                    {"schema": {"$ref": "#/components/schemas/X"}, "example": {"a": 1}}}}}}}},
            "components": {"schemas": {"X": {"type": "object", "required": ["a"],
                "properties": {"a": {"type": "integer", "description": "an a"}}}}}
        });
        let html = render(&doc);
        assert!(html.contains("<code>/x/{id}</code>"));
        assert!(html.contains("href=\"#schema-X\""));
        assert!(html.contains("id=\"schema-X\""));
        assert!(html.contains("&lt;b&gt;"));
        assert!(!html.contains("<b>"));
        assert!(html.contains("&quot;a&quot;: 1"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("http://") && !html.contains("https://"));
    }

    #[test]
    fn fields_show_their_constraints_and_the_description_behind_a_nullable_ref() {
        let doc = serde_json::json!({
            "info": {"title": "t", "version": "1"},
            "paths": {},
            "components": {"schemas": {
                "Body": {"type": "object", "properties": {
                    "parent": {"oneOf": [{"type": "null"},
                        {"$ref": "#/components/schemas/Id", "description": "the parent"}]},
                    "tags": {"type": "array", "items": {"type": "string"},
                        "maxItems": 64, "uniqueItems": true}}},
                "Id": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 64}}}
        });
        let html = render(&doc);
        assert!(html.contains("the parent"), "{html}");
        assert!(html.contains("pattern <code>^[a-z]+$</code>"), "{html}");
        assert!(html.contains("max length <code>64</code>"), "{html}");
        assert!(
            html.contains("max items 64") && html.contains("distinct"),
            "{html}"
        );
    }
}
