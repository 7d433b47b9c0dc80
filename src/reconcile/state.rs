//! The states a stored resource can be in.
//!
//! The store keeps a state as its name (`deployment_instances.state`) and, for a failed
//! resource, which step failed (`deployment_instances.failure`): a failed render is
//! rendered again, a failed apply is applied again after its backoff. Everything outside
//! the store sees only [`ResourceState`].

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The state of one stored resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceState {
    /// Rendered; not applied (yet, or waiting: the reason says why).
    Rendered,
    /// The render on disk is the one last applied successfully.
    Applied,
    /// The definition is invalid; the last good state is kept.
    Invalid,
    /// The definition is gone from a clean commit; not pruned (yet).
    Orphaned,
    /// Rendering or writing the resource failed: it is rendered again.
    RenderFailed,
    /// The executor failed: the same render is applied again after a backoff.
    ApplyFailed,
    /// Automatic applies hit the flapping limit: nothing is tried again until the
    /// definition changes or an operator asks (`homelabd apply NAME`).
    Degraded,
}

impl ResourceState {
    /// Every state.
    pub const ALL: [ResourceState; 7] = [
        ResourceState::Rendered,
        ResourceState::Applied,
        ResourceState::Invalid,
        ResourceState::Orphaned,
        ResourceState::RenderFailed,
        ResourceState::ApplyFailed,
        ResourceState::Degraded,
    ];

    /// The stored and shown name (both failures are `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceState::Rendered => "rendered",
            ResourceState::Applied => "applied",
            ResourceState::Invalid => "invalid",
            ResourceState::Orphaned => "orphaned",
            ResourceState::Degraded => "degraded",
            ResourceState::RenderFailed | ResourceState::ApplyFailed => "failed",
        }
    }

    /// For a failure, which step failed, as stored in `deployment_instances.failure`.
    pub fn failure(self) -> Option<&'static str> {
        match self {
            ResourceState::RenderFailed => Some("render"),
            ResourceState::ApplyFailed => Some("apply"),
            _ => None,
        }
    }

    /// The state stored as `state` with `failure`; `None` for a name homelabd never
    /// writes. A `failed` row without a failure step is read as a failed render, which
    /// is retried by rendering (and so applying) again.
    pub fn from_stored(state: &str, failure: Option<&str>) -> Option<ResourceState> {
        match (state, failure) {
            ("failed", Some("apply")) => Some(ResourceState::ApplyFailed),
            ("failed", _) => Some(ResourceState::RenderFailed),
            _ => ResourceState::ALL
                .into_iter()
                .find(|s| s.failure().is_none() && s.as_str() == state),
        }
    }

    /// Did the last render or apply fail?
    pub fn is_failed(self) -> bool {
        self.failure().is_some()
    }
}

impl std::fmt::Display for ResourceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// JSON (`homelabd status --json`, MCP) shows the stored name.
impl Serialize for ResourceState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Reads the stored name; JSON does not say which step failed, so `failed` reads as
/// [`ResourceState::RenderFailed`] (see [`ResourceState::from_stored`]).
impl<'de> Deserialize<'de> for ResourceState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        ResourceState::from_stored(&name, None)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown resource state {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_as_stored() {
        for state in ResourceState::ALL {
            assert_eq!(
                ResourceState::from_stored(state.as_str(), state.failure()),
                Some(state)
            );
        }
        assert_eq!(ResourceState::from_stored("destroyed", None), None);
    }

    #[test]
    fn both_failures_show_as_failed() {
        assert_eq!(ResourceState::ApplyFailed.as_str(), "failed");
        assert_eq!(ResourceState::RenderFailed.as_str(), "failed");
        assert_eq!(
            serde_json::to_value(ResourceState::ApplyFailed).ok(),
            Some(serde_json::json!("failed"))
        );
    }
}
