//! Outgoing notifications: apply failed / recovered, drift detected / resolved, proposal
//! opened, daemon degraded / recovered.
//!
//! Events are rows of the store's outbox, written in the same transaction as what they
//! describe (see `store::outbox`), so an event exists exactly when its cause was
//! recorded. The delivery task ([`deliver::run`]) sends them to the configured sinks —
//! a generic HMAC-signed JSON webhook, Slack- or Discord-compatible webhooks — retrying
//! with exponential backoff until the receiver answers 2xx. Delivery is at least once;
//! every request carries the event id in `X-Homelabd-Delivery`, so a receiver that drops
//! ids it has seen gets each event exactly once.
//!
//! Pure cores: [`event`] (what each event says), [`settings`] (`[notify]`, filters),
//! [`payload`] (bodies and headers), [`health`] (degraded / recovered transitions). IO
//! shell: [`deliver`].

pub mod deliver;
pub mod event;
pub mod health;
pub mod payload;
pub mod settings;

pub use deliver::{Deliverer, NotifyError, StepReport};
pub use event::{EventType, Severity};
pub use health::HealthNotices;
pub use settings::{NotifySettings, RawNotify, SinkKind, SinkSettings};
