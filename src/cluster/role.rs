//! Who may act: the leadership a heartbeat found (pure [`assess`]) and the [`Gate`] the
//! loop asks before every pass and apply.

use crate::store::LeaseView;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Trust a renewed lease locally for this much less than the database said, so a
/// slow clock or a late heartbeat never lets a leader act past the real expiry.
const SAFETY_MARGIN: Duration = Duration::from_secs(1);

/// This daemon's part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leadership {
    /// The only daemon there can be (SQLite, or no cluster): always acts.
    Single,
    /// Another member leads (`Some` when its lease is live), or nobody does yet.
    Follower { leader: Option<String> },
    /// This daemon leads with lease `epoch`, trusted until `until`.
    Leader { epoch: i64, until: Instant },
}

impl Leadership {
    /// May this daemon reconcile, apply and observe at `now`?
    pub fn may_act(&self, now: Instant) -> bool {
        match self {
            Leadership::Single => true,
            Leadership::Leader { until, .. } => now < *until,
            Leadership::Follower { .. } => false,
        }
    }

    /// Did the role change between `self` and `next` (a new epoch counts; a renewal,
    /// which only moves `until`, does not)?
    pub fn role_changed(&self, next: &Leadership) -> bool {
        match (self, next) {
            (Leadership::Leader { epoch: a, .. }, Leadership::Leader { epoch: b, .. }) => a != b,
            (Leadership::Follower { leader: a }, Leadership::Follower { leader: b }) => a != b,
            (Leadership::Single, Leadership::Single) => false,
            _ => true,
        }
    }
}

/// What one heartbeat means for member `me`: the lease it left (`None`: no lease row),
/// and `asked_at`, when the heartbeat was sent — the database's `now()` is later, so
/// `asked_at + expires_in` is never past the real expiry.
pub fn assess(me: &str, lease: Option<&LeaseView>, asked_at: Instant) -> Leadership {
    let Some(lease) = lease else {
        return Leadership::Follower { leader: None };
    };
    let left = Duration::from_millis(u64::try_from(lease.expires_in_ms).unwrap_or(0));
    if lease.holder == me && !left.is_zero() {
        return Leadership::Leader {
            epoch: lease.epoch,
            until: asked_at + left.saturating_sub(SAFETY_MARGIN),
        };
    }
    Leadership::Follower {
        leader: (!left.is_zero()).then(|| lease.holder.clone()),
    }
}

/// What an apply checks in the database right before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub member: String,
    pub epoch: i64,
}

/// The loop's view of its leadership. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gate {
    member: Option<String>,
    rx: watch::Receiver<Leadership>,
}

impl Gate {
    /// A gate that always allows (a single daemon).
    pub fn single() -> Gate {
        let (_tx, rx) = watch::channel(Leadership::Single);
        Gate { member: None, rx }
    }

    /// A gate following `rx`, the leadership of member `member`.
    pub fn new(member: String, rx: watch::Receiver<Leadership>) -> Gate {
        Gate {
            member: Some(member),
            rx,
        }
    }

    /// True when several daemons may share the store (PostgreSQL).
    pub fn clustered(&self) -> bool {
        self.member.is_some()
    }

    /// This daemon's member id, when clustered.
    pub fn member(&self) -> Option<&str> {
        self.member.as_deref()
    }

    /// The current leadership.
    pub fn leadership(&self) -> Leadership {
        self.rx.borrow().clone()
    }

    /// May the loop reconcile, apply and observe now?
    pub fn may_reconcile(&self) -> bool {
        self.rx.borrow().may_act(Instant::now())
    }

    /// The lease to check before an apply (`None`: not clustered, nothing to check).
    pub fn fence(&self) -> Option<Fence> {
        let member = self.member.clone()?;
        match *self.rx.borrow() {
            Leadership::Leader { epoch, .. } => Some(Fence { member, epoch }),
            // Not the leader: an epoch no lease has, so the check fails.
            _ => Some(Fence { member, epoch: 0 }),
        }
    }

    /// Waits until the role changes; never returns for a single daemon.
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, epoch: i64, ms: i64) -> LeaseView {
        LeaseView {
            holder: holder.to_owned(),
            epoch,
            expires_in_ms: ms,
        }
    }

    #[test]
    fn holding_a_live_lease_leads_until_just_before_it_expires() {
        let t = Instant::now();
        let got = assess("a", Some(&lease("a", 3, 10_000)), t);
        assert_eq!(
            got,
            Leadership::Leader {
                epoch: 3,
                until: t + Duration::from_secs(9)
            }
        );
        assert!(got.may_act(t + Duration::from_millis(8_999)));
        assert!(!got.may_act(t + Duration::from_secs(9)));
    }

    #[test]
    fn another_holder_or_an_expired_lease_means_follow() {
        let t = Instant::now();
        assert_eq!(
            assess("a", Some(&lease("b", 1, 5_000)), t),
            Leadership::Follower {
                leader: Some("b".into())
            }
        );
        assert_eq!(
            assess("a", Some(&lease("a", 1, -20)), t),
            Leadership::Follower { leader: None }
        );
        assert_eq!(assess("a", None, t), Leadership::Follower { leader: None });
        assert!(!assess("a", None, t).may_act(t));
    }

    #[test]
    fn a_renewal_is_not_a_role_change_but_a_new_epoch_is() {
        let t = Instant::now();
        let a = Leadership::Leader { epoch: 2, until: t };
        let renewed = Leadership::Leader {
            epoch: 2,
            until: t + Duration::from_secs(2),
        };
        assert!(!a.role_changed(&renewed));
        assert!(a.role_changed(&Leadership::Leader { epoch: 3, until: t }));
        assert!(a.role_changed(&Leadership::Follower { leader: None }));
        assert!(
            Leadership::Follower { leader: None }.role_changed(&Leadership::Follower {
                leader: Some("b".into())
            })
        );
    }

    #[test]
    fn a_single_daemon_always_acts_and_has_no_fence() {
        let gate = Gate::single();
        assert!(gate.may_reconcile());
        assert!(!gate.clustered());
        assert_eq!(gate.fence(), None);
    }

    #[test]
    fn a_follower_fence_never_matches_a_lease() {
        let (_tx, rx) = watch::channel(Leadership::Follower { leader: None });
        let gate = Gate::new("m1".into(), rx);
        assert!(!gate.may_reconcile());
        assert_eq!(
            gate.fence(),
            Some(Fence {
                member: "m1".into(),
                epoch: 0
            })
        );
    }
}
