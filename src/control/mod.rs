//! How the daemon's parts steer one another and report: [`Trigger`] is everything that
//! wakes the reconcile loop (timers, inotify, webhooks, store requests, pull requests),
//! [`DaemonStatus`] the live status the loop writes and HTTP, MCP and the cluster
//! heartbeat read, and [`notify`] speaks `sd_notify` to systemd. A leaf: the loop
//! (`daemon`) and its readers meet here without importing one another.

pub mod notify;
pub mod status;
pub mod trigger;

pub use status::{DaemonStatus, StatusSnapshot};
pub use trigger::Trigger;
