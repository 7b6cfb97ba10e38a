//! The platform side: a canonical order every platform adapter produces, and
//! the `CommercePlatform` port. Platform specifics (Magento's JSON, its
//! webhook signature) live in submodules; flows only see the canonical shapes.

pub mod amounts;
mod change_key;
#[cfg(any(test, feature = "testkit"))]
pub mod contract;
pub mod kentico;
pub mod magento;
mod order;
mod platform;
mod registry;
pub mod znode;

pub use change_key::ChangeKey;
pub use order::{Address, Order, OrderCustomer, OrderLine, OrderPayment, OrderRef, PaymentState};
pub use platform::{
    stripe_refund_id_in, AwaitingRefunds, CommercePlatform, OrderComment, PaymentCapture,
    PlatformError, PlatformRefund, PolledOrder, PolledRefund, RefundIntake, RefundRecord,
    UnreadableRefund,
};
pub use registry::{NotEnabled, Platforms};
