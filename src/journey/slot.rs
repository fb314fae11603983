//! Which part of a customer's record a journey is: the customer's own connection, or the
//! method switch under way beside it.

use crate::model::Version;
use crate::model::{Customer, JourneyId, PendingSwitch, Stage};
use crate::ports::Record;

/// How many times a method switch's write is applied again to a newer record after losing
/// a compare-and-swap to a change of the connection beside it.
pub(crate) const SWITCH_WRITE_RETRIES: usize = 5;

/// The part of the record a journey owns, and the other part as it was read (written back
/// unchanged).
#[derive(Debug, Clone)]
pub(crate) enum Slot {
    /// The customer's own journey; the method switch beside it, if any.
    Connection(Option<Box<PendingSwitch>>),
    /// A method switch's journey; the connection beside it.
    Switch(Box<Beside>),
}

/// What a method switch's journey keeps of the rest of its record.
#[derive(Debug, Clone)]
pub(crate) struct Beside {
    /// The switch's random id.
    pub journey: JourneyId,
    /// The switch's own write count, as read.
    pub version: Version,
    /// The connection's facts, as read.
    pub connection: Customer,
    /// The connection's stage, as read.
    pub connection_stage: Stage,
}

impl Slot {
    /// The record with `customer` in `stage` in this slot, the other part as read.
    pub(crate) fn record_with(
        &self,
        customer: &Customer,
        stage: Stage,
        version: Version,
    ) -> Record {
        match self {
            Slot::Connection(switch) => Record {
                customer: customer.clone(),
                stage,
                version,
                switch: switch.clone(),
            },
            Slot::Switch(beside) => Record {
                customer: beside.connection.clone(),
                stage: beside.connection_stage.clone(),
                version,
                switch: Some(Box::new(PendingSwitch {
                    journey: beside.journey.clone(),
                    version: beside.version.next(),
                    customer: customer.clone(),
                    stage,
                })),
            },
        }
    }

    /// The whole record, this slot holding `customer` in `stage`, unchanged.
    pub(crate) fn into_record(self, customer: Customer, stage: Stage, version: Version) -> Record {
        match self {
            Slot::Connection(switch) => Record {
                customer,
                stage,
                version,
                switch,
            },
            Slot::Switch(beside) => Record {
                customer: beside.connection,
                stage: beside.connection_stage,
                version,
                switch: Some(Box::new(PendingSwitch {
                    journey: beside.journey,
                    version: beside.version,
                    customer,
                    stage,
                })),
            },
        }
    }

    /// Whether `fresh` still holds this method switch exactly as it was read (only the
    /// connection beside it may have moved).
    pub(crate) fn same_switch(&self, fresh: &Record) -> bool {
        match (self, &fresh.switch) {
            (Slot::Switch(beside), Some(switch)) => {
                switch.journey == beside.journey && switch.version == beside.version
            }
            _ => false,
        }
    }
}
