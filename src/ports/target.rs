//! [`Target`]: which customer and tenant a provider call is for.

use crate::model::{CustomerId, TenantId};

/// Which customer and tenant a provider call is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The MSP's id for the customer (providers may use it for scripting or logs).
    pub customer: CustomerId,
    /// The tenant the request goes to.
    pub tenant: TenantId,
}
