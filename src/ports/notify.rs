//! The [`Notifier`] port and the outbox a [`Store`](super::Store) keeps for it: notices wait in
//! the outbox (written in the same step as the record whose reasons changed) until a
//! dispatcher claims them by compare-and-swap, delivers them and settles them.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::model::Notice;

/// Where an outbox entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutboxState {
    /// Waiting for a dispatcher (new, claimed, or waiting to be retried).
    Pending,
    /// Delivered.
    Delivered,
    /// Given up on after too many failed tries (dead-lettered).
    Dead,
}

impl OutboxState {
    /// `pending`, `delivered` or `dead`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Delivered => "delivered",
            OutboxState::Dead => "dead",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s names.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "pending" => Some(OutboxState::Pending),
            "delivered" => Some(OutboxState::Delivered),
            "dead" => Some(OutboxState::Dead),
            _ => None,
        }
    }
}

/// A notice as the outbox holds it, with its delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The notice.
    pub notice: Notice,
    /// Where it stands.
    pub state: OutboxState,
    /// Tries so far (a claim counts as a try).
    pub attempts: u32,
    /// Not to be tried before this moment.
    pub next_attempt_at: OffsetDateTime,
    /// The dispatcher holding it, and until when (a claim that lapses can be taken over).
    pub claim: Option<(String, OffsetDateTime)>,
    /// Why the last try failed.
    pub last_error: Option<String>,
    /// When it was delivered or dead-lettered.
    pub settled_at: Option<OffsetDateTime>,
}

impl OutboxEntry {
    /// A new pending entry for `notice`, due at once.
    pub fn new(notice: Notice) -> Self {
        let at = notice.at;
        Self {
            notice,
            state: OutboxState::Pending,
            attempts: 0,
            next_attempt_at: at,
            claim: None,
            last_error: None,
            settled_at: None,
        }
    }

    /// Whether a dispatcher may claim it at `now`: pending, due, and not claimed (or the
    /// claim has lapsed).
    pub fn claimable(&self, channel: &str, now: OffsetDateTime) -> bool {
        self.state == OutboxState::Pending
            && self.notice.channel == channel
            && self.next_attempt_at <= now
            && self.claim.as_ref().is_none_or(|(_, until)| *until <= now)
    }

    /// Applies `settlement` (what [`Store::settle_notice`](super::Store::settle_notice)
    /// stores): the claim ends.
    pub fn settle(&mut self, settlement: &Settlement) {
        self.claim = None;
        match settlement {
            Settlement::Delivered { at } => {
                self.state = OutboxState::Delivered;
                self.settled_at = Some(*at);
                self.last_error = None;
            }
            Settlement::Retry { at, error } => {
                self.next_attempt_at = *at;
                self.last_error = Some(error.clone());
            }
            Settlement::Dead { at, error } => {
                self.state = OutboxState::Dead;
                self.settled_at = Some(*at);
                self.last_error = Some(error.clone());
            }
        }
    }
}

/// What became of a claimed notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Delivered at this moment.
    Delivered {
        /// When.
        at: OffsetDateTime,
    },
    /// Failed; try again at `at`.
    Retry {
        /// The next try.
        at: OffsetDateTime,
        /// Why it failed.
        error: String,
    },
    /// Failed too often: dead-lettered.
    Dead {
        /// When.
        at: OffsetDateTime,
        /// Why the last try failed.
        error: String,
    },
}

/// A claim a dispatcher makes on due notices.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    /// The channel whose notices to claim.
    pub channel: &'a str,
    /// Who claims (a dispatcher's id, unique per process).
    pub holder: &'a str,
    /// What time it is.
    pub now: OffsetDateTime,
    /// Until when the claim holds; after it another dispatcher may take the notices over.
    pub until: OffsetDateTime,
    /// At most this many notices, oldest first.
    pub limit: usize,
}

/// Why a notice could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotifyError(pub String);

/// Delivers notices somewhere: a webhook, the MSP's operators by email, the log.
///
/// A dispatcher hands a notifier up to [`max_batch`](Notifier::max_batch) notices of one
/// channel at a time; the batch is delivered or fails as a whole, and a failed batch is tried
/// again later. A notifier should be idempotent on [`Notice::id`]: a dispatcher that dies
/// after delivering but before recording it delivers again.
#[async_trait]
pub trait Notifier: Send + Sync + fmt::Debug {
    /// Delivers `notices` (at least one).
    async fn deliver(&self, notices: &[Notice]) -> Result<(), NotifyError>;

    /// The most notices one delivery takes (default 1: one request per notice).
    fn max_batch(&self) -> usize {
        1
    }
}

/// How a dispatcher claims, retries and gives up.
#[derive(Debug, Clone)]
pub struct DispatchPolicy {
    /// The channel to deliver (default `default`).
    pub channel: String,
    /// Notices claimed per run (default 100).
    pub batch: usize,
    /// How long a claim holds before another dispatcher may take over (default 5 minutes).
    pub claim_for: Duration,
    /// The wait after the first failed try; it doubles with each try (default 30 s).
    pub backoff: Duration,
    /// The longest wait between tries (default 1 hour).
    pub max_backoff: Duration,
    /// Tries before a notice is dead-lettered (default 8).
    pub max_attempts: u32,
}

impl Default for DispatchPolicy {
    fn default() -> Self {
        Self {
            channel: "default".to_owned(),
            batch: 100,
            claim_for: Duration::from_secs(300),
            backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(3600),
            max_attempts: 8,
        }
    }
}

impl DispatchPolicy {
    /// The policy for `channel`, otherwise the defaults.
    pub fn channel(channel: impl Into<String>) -> Self {
        Self {
            channel: channel.into(),
            ..Self::default()
        }
    }

    /// The wait after the `attempts`-th failed try: `backoff × 2^(attempts−1)`, at most
    /// `max_backoff`.
    pub fn backoff_after(&self, attempts: u32) -> Duration {
        let factor = 1u32 << attempts.saturating_sub(1).min(20);
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// A page of the outbox for the admin pages.
#[derive(Debug, Clone)]
pub struct OutboxQuery {
    /// Only entries in this state.
    pub state: OutboxState,
    /// At most this many, newest first.
    pub limit: usize,
}

/// The outbox entries of `entries` (oldest first, as written) in `query.state`, newest first,
/// at most `query.limit`: how a store that holds entries in memory answers
/// [`Store::outbox`](super::Store::outbox).
pub fn newest_first<'a>(
    entries: impl DoubleEndedIterator<Item = &'a OutboxEntry>,
    query: &OutboxQuery,
) -> Vec<OutboxEntry> {
    entries
        .rev()
        .filter(|e| e.state == query.state)
        .take(query.limit)
        .cloned()
        .collect()
}
