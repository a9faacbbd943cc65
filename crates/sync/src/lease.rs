//! Money stays bounded on the store's LAN (issue 12): the device that created a sale (its
//! owner, `created_by_device` in the signed envelope) serialises what spends it. Paying an open
//! ticket or refunding a closed sale on another device while the cloud is away needs a lease
//! from the owner over the mesh; the owner grants one lease per sale at a time, only after it
//! has applied everything the asking device knows, and answers with everything it knows, so
//! the device that spends decides on the whole history. The owner itself takes the same lease
//! for its own payments and refunds, so it never spends a sale another device is spending.
//! When the owner cannot be reached, the operation is refused with a message that says where
//! to take it. The cloud's checks stay as the backstop (ARCHITECTURE.md "Store mesh").
//!
//! This module is the owner's book of leases, with no I/O; `node` carries the requests.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::wire::WireChange;

/// How long a lease lasts when its holder never releases it (it died mid-payment): long enough
/// for a card payment, short enough that the owner is not blocked for the rest of the outage.
pub const LEASE_TTL: Duration = Duration::from_secs(90);

/// Why a device may not spend a sale now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    #[error(
        "this sale belongs to another device of the store ({owner}), which cannot be reached \
         while the cloud is offline: take the payment or refund on that device, or when the \
         cloud is back"
    )]
    OwnerUnreachable { owner: Uuid },
    #[error("this sale is being paid or refunded on another device of the store ({by}) right now: finish there first, or try again in a minute")]
    Held { by: Uuid },
    #[error("the sale's device refused: {0}")]
    Refused(String),
}

/// The owner's leases: sale → (holder, until).
#[derive(Debug, Default)]
pub struct Leases {
    held: HashMap<Uuid, (Uuid, Instant)>,
}

impl Leases {
    pub fn new() -> Leases {
        Leases::default()
    }

    /// Grants `sale` to `holder` until `now + ttl`, unless another holder's lease is live. The
    /// same holder asking again extends its lease.
    pub fn grant(
        &mut self,
        sale: Uuid,
        holder: Uuid,
        now: Instant,
        ttl: Duration,
    ) -> Result<Instant, LeaseError> {
        if let Some((by, until)) = self.held.get(&sale) {
            if *by != holder && *until > now {
                return Err(LeaseError::Held { by: *by });
            }
        }
        let until = now + ttl;
        self.held.insert(sale, (holder, until));
        Ok(until)
    }

    /// Ends `holder`'s lease of `sale` (another holder's stays).
    pub fn release(&mut self, sale: Uuid, holder: Uuid) {
        if self.held.get(&sale).is_some_and(|(by, _)| *by == holder) {
            self.held.remove(&sale);
        }
    }

    /// Who holds `sale` now, if anyone.
    pub fn holder(&self, sale: Uuid, now: Instant) -> Option<Uuid> {
        self.held
            .get(&sale)
            .filter(|(_, until)| *until > now)
            .map(|(by, _)| *by)
    }
}

/// What a device asks the owner over a link, with what it has for the owner (its changes,
/// signed, as an exchange carries them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseRequest {
    pub op: LeaseOp,
    pub sale_id: Uuid,
    pub changes: Vec<WireChange>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaseOp {
    /// A lease to pay or refund the sale.
    Ask,
    /// The payment or refund is written (its changes come with this): the lease ends.
    Release,
}

/// The owner's answer, with what it has for the asking device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseAnswer {
    pub granted: bool,
    /// Why not, when not granted.
    pub refusal: Option<LeaseRefusal>,
    pub changes: Vec<WireChange>,
}

/// Why an owner did not grant a lease, as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LeaseRefusal {
    Held { by: Uuid },
    NotOwner,
    UnknownSale,
}

impl From<LeaseRefusal> for LeaseError {
    fn from(r: LeaseRefusal) -> LeaseError {
        match r {
            LeaseRefusal::Held { by } => LeaseError::Held { by },
            LeaseRefusal::NotOwner => LeaseError::Refused("it does not own this sale".to_string()),
            LeaseRefusal::UnknownSale => {
                LeaseError::Refused("it does not know this sale yet".to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_until_release_or_expiry() {
        let mut l = Leases::new();
        let (sale, a, b) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let t0 = Instant::now();
        let ttl = Duration::from_secs(10);
        l.grant(sale, a, t0, ttl).unwrap();
        assert_eq!(l.grant(sale, b, t0, ttl), Err(LeaseError::Held { by: a }));
        // The holder asking again extends; another's release does nothing.
        l.grant(sale, a, t0 + Duration::from_secs(5), ttl).unwrap();
        l.release(sale, b);
        assert_eq!(l.holder(sale, t0 + Duration::from_secs(12)), Some(a));
        l.release(sale, a);
        assert_eq!(l.holder(sale, t0), None);
        l.grant(sale, b, t0, ttl).unwrap();
        // Expired: the next one may take it.
        l.grant(sale, a, t0 + Duration::from_secs(11), ttl).unwrap();
        assert_eq!(l.holder(sale, t0 + Duration::from_secs(11)), Some(a));
    }
}
