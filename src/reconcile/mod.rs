//! Reconcile: turns a pipeline [`Outcome`](crate::pipeline::Outcome) and the stored state
//! into actions ([`plan`], pure), and defines the executor interface the loop hands
//! rendered resources to ([`Executor`]). The loop itself lives in `daemon`.

pub mod backoff;
mod executor;
pub mod plan;

pub use backoff::Backoff;
pub use executor::{ApplyOutcome, Executor, NoExecutor};
pub use plan::{Action, Desired, Step, plan, plan_desired, state};
