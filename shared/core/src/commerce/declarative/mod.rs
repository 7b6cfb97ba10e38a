//! A declarative REST platform: one adapter for any commerce API a mapping
//! document describes (`rest_platforms` in the configuration; README,
//! "Describing a platform"), with presets for Clarity eCommerce and for a
//! custom storefront. The HTTP side is `tally_http::declarative`.

pub mod fields;
pub mod mapping;
pub mod template;
mod webhook_source;

pub use mapping::RestMapping;
pub use webhook_source::RestWebhook;

#[cfg(test)]
mod tests;
