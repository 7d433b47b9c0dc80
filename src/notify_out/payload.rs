//! What a sink receives for one event: the body and headers (pure, no IO).
//!
//! Generic webhook: the event as JSON, signed like GitHub's webhooks
//! (`X-Homelabd-Signature-256: sha256=<HMAC-SHA256 of the body>`), with the event id in
//! `X-Homelabd-Delivery` and the type in `X-Homelabd-Event`. Slack: `text` (the fallback
//! shown in notifications) and `blocks`. Discord: `content` and one embed coloured by
//! severity. Every kind carries the event id in `X-Homelabd-Delivery`, so a receiver can
//! drop a repeated delivery.

use super::settings::SinkKind;
use crate::store::NotificationRecord;
use serde_json::json;

/// The deduplication header: the event id.
pub const DELIVERY_HEADER: &str = "X-Homelabd-Delivery";
/// The signature header of generic webhooks.
pub const SIGNATURE_HEADER: &str = "X-Homelabd-Signature-256";
/// The event type header.
pub const EVENT_HEADER: &str = "X-Homelabd-Event";

/// One HTTP request to make.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub body: Vec<u8>,
    /// Header name and value pairs besides `Content-Type: application/json`.
    pub headers: Vec<(&'static str, String)>,
}

/// The generic JSON document of an event.
pub fn event_json(n: &NotificationRecord) -> serde_json::Value {
    json!({
        "id": n.id.to_string(),
        "type": n.event_type,
        "severity": n.severity,
        "subject": n.subject,
        "summary": n.summary,
        "details": n.details,
        "occurred_at": n.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "source": "homelabd",
    })
}

fn icon(severity: &str) -> &'static str {
    match severity {
        "critical" => "🔴",
        "warning" => "🟠",
        _ => "🟢",
    }
}

/// Discord embed colours (decimal RGB).
fn colour(severity: &str) -> u32 {
    match severity {
        "critical" => 0xD0_30_30,
        "warning" => 0xE0_A0_20,
        _ => 0x30_A0_50,
    }
}

/// Slack's and Discord's markdown would read `*`, `_`, `~`, `` ` `` and `<` in a
/// resource name or error as formatting or links; escape them.
fn escape_markdown(text: &str, discord: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' if !discord => out.push_str("&amp;"),
            '<' if !discord => out.push_str("&lt;"),
            '>' if !discord => out.push_str("&gt;"),
            '*' | '_' | '~' | '`' | '|' if discord => {
                out.push('\\');
                out.push(c);
            }
            '@' if discord => out.push_str("@\u{200b}"),
            _ => out.push(c),
        }
    }
    out
}

/// At most `max` characters of `text`, with an ellipsis when cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

fn slack(n: &NotificationRecord) -> serde_json::Value {
    let summary = escape_markdown(&n.summary, false);
    let text = format!("{} [{}] {}", icon(&n.severity), n.event_type, summary);
    json!({
        "text": cut(&text, 3000),
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": cut(&format!("{} *{}*\n{}", icon(&n.severity), n.event_type, summary), 3000)},
            },
            {
                "type": "context",
                "elements": [{
                    "type": "mrkdwn",
                    "text": cut(&format!(
                        "severity: {} · subject: {} · {} · id {}",
                        n.severity,
                        escape_markdown(&n.subject, false),
                        n.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        n.id
                    ), 3000),
                }],
            },
        ],
    })
}

fn discord(n: &NotificationRecord) -> serde_json::Value {
    let summary = escape_markdown(&n.summary, true);
    json!({
        "content": cut(&format!("{} {}", icon(&n.severity), summary), 2000),
        // Nobody is pinged by a notification, whatever its text says.
        "allowed_mentions": {"parse": []},
        "embeds": [{
            "title": cut(&format!("{} — {}", n.event_type, n.subject), 256),
            "description": cut(&summary, 4096),
            "color": colour(&n.severity),
            "timestamp": n.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "fields": [
                {"name": "severity", "value": n.severity, "inline": true},
                {"name": "subject", "value": cut(&escape_markdown(&n.subject, true), 1024), "inline": true},
            ],
            "footer": {"text": format!("homelabd · {}", n.id)},
        }],
    })
}

/// The request for event `n` to a sink of `kind`; `secret` signs generic webhooks.
pub fn render(kind: SinkKind, n: &NotificationRecord, secret: Option<&[u8]>) -> Outgoing {
    let doc = match kind {
        SinkKind::Webhook => event_json(n),
        SinkKind::Slack => slack(n),
        SinkKind::Discord => discord(n),
    };
    let body = doc.to_string().into_bytes();
    let mut headers = vec![
        (DELIVERY_HEADER, n.id.to_string()),
        (EVENT_HEADER, n.event_type.clone()),
    ];
    if kind == SinkKind::Webhook
        && let Some(secret) = secret
    {
        headers.push((SIGNATURE_HEADER, crate::signing::sign(secret, &[&body])));
    }
    Outgoing { body, headers }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn event() -> NotificationRecord {
        NotificationRecord {
            id: uuid::Uuid::nil(),
            event_type: "apply.failed".into(),
            severity: "critical".into(),
            subject: "web_1".into(),
            summary: "apply of web_1 failed: <boom> @everyone".into(),
            details: json!({"exit_code": 3}),
            occurred_at: chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
        }
    }

    fn header<'a>(o: &'a Outgoing, name: &str) -> Option<&'a str> {
        o.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn webhook_body_is_the_event_and_is_signed() {
        let o = render(SinkKind::Webhook, &event(), Some(b"key"));
        let body: serde_json::Value = serde_json::from_slice(&o.body).unwrap();
        assert_eq!(body["type"], "apply.failed");
        assert_eq!(body["details"]["exit_code"], 3);
        assert_eq!(body["occurred_at"], "2026-01-02T03:04:05.000000Z");
        let sig = header(&o, SIGNATURE_HEADER).unwrap();
        assert!(crate::signing::verify(b"key", &[&o.body], sig).is_ok());
        assert!(crate::signing::verify(b"other", &[&o.body], sig).is_err());
        assert_eq!(
            header(&o, DELIVERY_HEADER),
            Some("00000000-0000-0000-0000-000000000000")
        );
    }

    #[test]
    fn slack_escapes_its_control_characters() {
        let o = render(SinkKind::Slack, &event(), None);
        let body: serde_json::Value = serde_json::from_slice(&o.body).unwrap();
        let text = body["text"].as_str().unwrap();
        assert!(text.contains("&lt;boom&gt;"), "{text}");
        assert_eq!(body["blocks"][0]["type"], "section");
        assert!(header(&o, SIGNATURE_HEADER).is_none());
    }

    #[test]
    fn discord_pings_nobody_and_colours_by_severity() {
        let o = render(SinkKind::Discord, &event(), Some(b"ignored"));
        let body: serde_json::Value = serde_json::from_slice(&o.body).unwrap();
        assert_eq!(body["allowed_mentions"]["parse"], json!([]));
        assert!(!body["content"].as_str().unwrap().contains("@everyone"));
        assert_eq!(body["embeds"][0]["color"], 0xD03030);
        assert_eq!(body["embeds"][0]["fields"][1]["value"], "web\\_1");
        assert!(header(&o, SIGNATURE_HEADER).is_none());
    }

    #[test]
    fn long_texts_fit_the_receivers_limits() {
        let mut e = event();
        e.summary = "x".repeat(10_000);
        let body: serde_json::Value =
            serde_json::from_slice(&render(SinkKind::Discord, &e, None).body).unwrap();
        assert!(body["content"].as_str().unwrap().chars().count() <= 2001);
        assert!(
            body["embeds"][0]["description"]
                .as_str()
                .unwrap()
                .chars()
                .count()
                <= 4097
        );
    }
}
