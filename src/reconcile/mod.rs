//! Reconcile: the pure decisions of the loop. [`plan`] turns a pipeline
//! [`Outcome`](crate::pipeline::Outcome) and the stored state into render actions;
//! [`apply_plan`] decides per resource whether to apply, wait (with the reason shown to
//! the user) or prune. No IO here: the loop that carries the decisions out lives in
//! `daemon`, the tools in `apply`.

pub mod apply_plan;
pub mod backoff;
pub mod drift;
pub mod endpoint;
pub mod flapping;
pub mod health;
pub mod order;
pub mod plan;
pub mod policy;
pub mod record;
pub mod rollback;
pub mod state;
pub mod window;

pub use apply_plan::{ApplyDecision, ApplyInputs, PrunePlan, SecretState, decide, prune};
pub use backoff::Backoff;
pub use plan::{Action, Desired, DesiredRender, Step, plan, plan_desired};
pub use policy::EffectivePolicy;
pub use record::ResourceRecord;
pub use state::ResourceState;
