//! homelabd: a GitOps reconciliation daemon for homelab and small-fleet infrastructure.
//!
//! The pipeline runs one way: [`source`] reads a revision's files, [`model`] parses them
//! into typed documents, [`validate`] checks schemas and cross-references, [`place`]
//! chooses providers and nodes, and [`render`] turns each resource into provider configs.
//! [`pipeline`] strings the pure stages together; [`cli`] is the edge that does IO.
//! See ARCHITECTURE.md for the codemap and the invariants.
#![forbid(unsafe_code)]

pub mod apply;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod control;
pub mod cost;
pub mod daemon;
pub mod diag;
pub mod http;
pub mod limits;
pub mod mcp;
pub mod metrics;
pub mod model;
pub mod notify_out;
pub mod observe;
pub mod pipeline;
pub mod place;
pub mod preview;
pub mod propose;
pub mod reconcile;
pub mod render;
pub mod secrets;
pub mod setting;
pub mod signing;
pub mod source;
pub mod store;
pub mod target;
pub mod ui;
pub mod validate;

#[cfg(test)]
mod props;
#[cfg(test)]
mod testgen;
