//! The platform side: a canonical order every platform adapter produces, and
//! the `CommercePlatform` port. Platform specifics (Magento's JSON, its
//! webhook signature) live in submodules; flows only see the canonical shapes.

pub mod magento;
mod order;
mod platform;

pub use order::{Address, Order, OrderCustomer, OrderLine, OrderPayment, OrderRef, PaymentState};
pub use platform::{CommercePlatform, OrderComment, OrderPage, PaymentCapture, PlatformError};
