//! The platform side: a canonical order every platform adapter produces, and
//! the `CommercePlatform` port. Platform specifics (Magento's JSON, its
//! webhook signature) live in submodules; flows only see the canonical shapes.

pub mod amounts;
mod change_key;
#[cfg(any(test, feature = "testkit"))]
pub mod contract;
mod customer;
#[cfg(any(test, feature = "testkit"))]
pub mod customer_contract;
pub mod declarative;
pub mod kentico;
pub mod magento;
mod order;
mod platform;
mod registry;
pub mod znode;

pub use change_key::ChangeKey;
pub use customer::{
    full_name, normalize_email, split_name, CustomerProfile, CustomerRef, CustomerUpdate,
    PlatformCustomer, PostalAddress,
};
pub use order::{Address, Order, OrderCustomer, OrderLine, OrderPayment, OrderRef, PaymentState};
pub use platform::{
    merge_customer_changes, stripe_refund_id_in, AwaitingRefunds, ChangeList, ChangedCustomer,
    CommercePlatform, OrderComment, PaymentCapture, PlatformError, PlatformRefund, PolledOrder,
    PolledRefund, RefundIntake, RefundRecord, UnreadableRefund,
};
pub use registry::{CheckoutOrder, NotEnabled, Platforms};
