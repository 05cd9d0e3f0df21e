//! The one logger every line orgd writes goes through (the one-time root
//! secret excepted: it goes to stderr on a line of its own, never to a log).
//!
//! `text` is for people: colours only on a terminal, and never with
//! `NO_COLOR` set. `json` is for log shippers: one object a line with
//! `timestamp`, `level`, `target`, `message`, the request's `request_id` when
//! there is one, and every other field of the event and its spans under
//! `fields`.

use std::fmt;
use std::io::IsTerminal;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The filter used when `ORGD_LOG` is not set.
const DEFAULT_FILTER: &str = "info";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the logger. An unusable `ORGD_LOG` still installs one (with the
/// default filter) and returns why, so the caller can say so through it.
pub fn init(format: LogFormat) -> Result<(), String> {
    let (filter, problem) = match std::env::var("ORGD_LOG") {
        Ok(s) => match EnvFilter::builder().parse(&s) {
            Ok(f) => (f, None),
            Err(e) => (
                EnvFilter::new(DEFAULT_FILTER),
                Some(format!(
                    "ORGD_LOG={s:?} is not a valid log filter ({e}); \
                     use a level (error, warn, info, debug, trace) or directives such as \
                     \"info,orgd=debug\""
                )),
            ),
        },
        Err(std::env::VarError::NotPresent) => (EnvFilter::new(DEFAULT_FILTER), None),
        Err(std::env::VarError::NotUnicode(_)) => (
            EnvFilter::new(DEFAULT_FILTER),
            Some("ORGD_LOG is not valid UTF-8".to_owned()),
        ),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second call (tests start several servers in one process) keeps the first logger.
    let _ = match format {
        LogFormat::Text => builder.with_ansi(use_colour()).try_init(),
        LogFormat::Json => builder
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .try_init(),
    };
    problem.map_or(Ok(()), Err)
}

/// Colours only for a person at a terminal who has not asked for none
/// (<https://no-color.org>: `NO_COLOR` set and not empty).
fn use_colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// One JSON object a line.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Map::new();
        // Span fields first, outermost first, so the event's own and the
        // innermost span's win a clash. With `JsonFields`, a span's recorded
        // fields are a JSON object.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                if let Some(recorded) = ext.get::<FormattedFields<N>>()
                    && let Ok(Value::Object(m)) = serde_json::from_str(recorded)
                {
                    fields.extend(m);
                }
            }
        }
        event.record(&mut Collect(&mut fields));
        let line = Line {
            timestamp: timestamp(),
            level: meta.level().as_str().to_ascii_lowercase(),
            target: meta.target(),
            message: fields.remove("message").unwrap_or(Value::Null),
            request_id: fields.remove("request_id"),
            fields,
        };
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// One log line, its members in this order.
#[derive(serde::Serialize)]
struct Line<'a> {
    timestamp: String,
    level: String,
    target: &'a str,
    message: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<Value>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    fields: Map<String, Value>,
}

/// The wall clock, for log lines only: the domain reads time from its
/// injected clock, but a log line says when it was written.
#[allow(clippy::disallowed_methods)]
fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// An event's fields as JSON values.
struct Collect<'a>(&'a mut Map<String, Value>);

impl Visit for Collect<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().into(), Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::from(format!("{value:?}")));
    }
}
