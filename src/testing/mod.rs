//! What test suites use instead of the real parts: a [`CaptureMailer`] that keeps what it is
//! given, a [`ManualClock`] that moves only when told, and with their features the scripted
//! mock provider (`mock`), FakeEntra, a fake Entra ID served over HTTP on loopback
//! (`testing`), and the store conformance kit (`conformance`).
//!
//! Nothing in the rest of the crate depends on this module.

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod assertion;
mod capture;
mod clock;
#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod fake_entra;
#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub mod mock;
#[cfg(any(all(test, feature = "seal"), feature = "conformance"))]
pub(crate) mod testdata;

pub use capture::CaptureMailer;
pub use clock::ManualClock;
