//! A pool's prices: `properties.pricing`, inherited down the pool tree like every other
//! property (a child pool's own `pricing` replaces its parent's whole).

use crate::place::ResolvedPool;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The key in a pool's `properties`.
pub const KEY: &str = "pricing";

/// The key in a node's own `properties` that overrides the pool's `node_watts`.
pub const NODE_WATTS_KEY: &str = "watts";

/// What a pool charges (cloud prices, or a homelab's internal rates) and what its
/// machines draw. Every price is in `currency`; every field but `currency` is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    /// ISO 4217 code, e.g. `EUR`, `USD`.
    pub currency: String,
    /// Price of one vCPU for an hour.
    #[serde(default)]
    pub vcpu_hour: Option<f64>,
    /// Price of one GB of memory for an hour.
    #[serde(default)]
    pub memory_gb_hour: Option<f64>,
    /// Price of one GB of disk for a month.
    #[serde(default)]
    pub disk_gb_month: Option<f64>,
    /// Price of one GPU for an hour.
    #[serde(default)]
    pub gpu_hour: Option<f64>,
    /// Cloud instance types by name: the cheapest one that holds a replica is priced
    /// instead of the per-unit rates.
    #[serde(default)]
    pub instance_types: BTreeMap<String, InstanceType>,
    /// Average power draw of each node in watts (a node's own `properties.watts` wins).
    #[serde(default)]
    pub node_watts: Option<f64>,
    /// Price of a kWh of electricity.
    #[serde(default)]
    pub kwh_price: Option<f64>,
}

/// One cloud instance type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceType {
    /// Price per hour.
    pub hourly: f64,
    pub cpu: u32,
    pub memory_gb: f64,
    #[serde(default)]
    pub gpus: u32,
}

/// Why a pool's `pricing` cannot be used (the schema catches most of this first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pool {pool}: properties.pricing: {message}")]
pub struct PricingError {
    pub pool: String,
    pub message: String,
}

impl Pricing {
    /// The pricing `pool` carries (inherited or its own), `None` when it has none.
    pub fn of(pool: &ResolvedPool) -> Result<Option<Pricing>, PricingError> {
        let Some(value) = pool.properties.get(KEY) else {
            return Ok(None);
        };
        let err = |message: String| PricingError {
            pool: pool.path.clone(),
            message,
        };
        let pricing: Pricing =
            serde_json::from_value(value.clone()).map_err(|e| err(e.to_string()))?;
        pricing.check().map_err(err)?;
        Ok(Some(pricing))
    }

    /// Prices are finite and not negative, the currency is three capital letters, and
    /// electricity comes with both its halves.
    // String error: the text of a diagnostic or settings error that names the file and key.
    pub fn check(&self) -> Result<(), String> {
        let c = &self.currency;
        if c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_uppercase()) {
            return Err(format!(
                "currency {c:?} is not an ISO 4217 code such as EUR or USD"
            ));
        }
        let mut prices = vec![
            ("vcpu_hour", self.vcpu_hour),
            ("memory_gb_hour", self.memory_gb_hour),
            ("disk_gb_month", self.disk_gb_month),
            ("gpu_hour", self.gpu_hour),
            ("node_watts", self.node_watts),
            ("kwh_price", self.kwh_price),
        ];
        for (name, t) in &self.instance_types {
            prices.push((name.as_str(), Some(t.hourly)));
            if t.cpu == 0 || !(t.memory_gb.is_finite() && t.memory_gb > 0.0) {
                return Err(format!(
                    "instance type {name}: cpu and memory_gb must be above 0"
                ));
            }
        }
        for (name, value) in prices {
            if let Some(v) = value
                && !(v.is_finite() && v >= 0.0)
            {
                return Err(format!("{name} = {v} is not a price (0 or more)"));
            }
        }
        if self.node_watts.is_some() != self.kwh_price.is_some() {
            return Err(
                "node_watts and kwh_price go together: electricity is watts × hours × price per kWh"
                    .into(),
            );
        }
        Ok(())
    }

    /// Does this pricing charge anything for running resources (beyond electricity)?
    pub fn has_usage_rates(&self) -> bool {
        self.vcpu_hour.is_some()
            || self.memory_gb_hour.is_some()
            || self.disk_gb_month.is_some()
            || self.gpu_hour.is_some()
            || !self.instance_types.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sensible_pricing_passes_and_mistakes_are_named() {
        let ok = Pricing {
            currency: "EUR".into(),
            vcpu_hour: Some(0.01),
            node_watts: Some(90.0),
            kwh_price: Some(0.3),
            ..Pricing::default()
        };
        assert_eq!(ok.check(), Ok(()));
        let bad = Pricing {
            currency: "euro".into(),
            ..ok.clone()
        };
        assert!(bad.check().unwrap_err().contains("ISO 4217"));
        let bad = Pricing {
            vcpu_hour: Some(-1.0),
            ..ok.clone()
        };
        assert!(bad.check().unwrap_err().contains("vcpu_hour"));
        let bad = Pricing {
            kwh_price: None,
            ..ok
        };
        assert!(bad.check().unwrap_err().contains("go together"));
    }
}
