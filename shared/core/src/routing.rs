//! Which flow handles which Stripe event type. One table, so adding a flow
//! is its lines here, its queue and its handler in the template. A route is
//! added with its consumer: until a flow has a handler, its events are
//! acknowledged and counted as ignored, never parked on a queue nobody reads.

use std::fmt;

/// A flow with its own SQS queue and handler Lambda.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flow {
    Payments,
    Payouts,
}

impl Flow {
    pub const ALL: [Flow; 2] = [Flow::Payments, Flow::Payouts];

    pub const fn name(self) -> &'static str {
        match self {
            Flow::Payments => "payments",
            Flow::Payouts => "payouts",
        }
    }

    /// Environment variable holding this flow's queue URL in the webhook Lambdas.
    pub const fn queue_url_env(self) -> &'static str {
        match self {
            Flow::Payments => "PAYMENTS_QUEUE_URL",
            Flow::Payouts => "PAYOUTS_QUEUE_URL",
        }
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// Only types a flow acts on: each routed event costs a webhook invocation, a queued
// message and its journal writes (BENCHMARKS.md, "Cost per order"), so informational
// types such as `payment_intent.created` are left unsubscribed.
const STRIPE_ROUTES: &[(&str, Flow)] = &[
    ("payment_intent.succeeded", Flow::Payments),
    ("payment_intent.payment_failed", Flow::Payments),
    ("charge.succeeded", Flow::Payments),
    ("charge.failed", Flow::Payments),
    ("charge.captured", Flow::Payments),
    // Refunds share the payments queue and handler (a refund waits for its payment).
    ("refund.created", Flow::Payments),
    ("refund.updated", Flow::Payments),
    ("refund.failed", Flow::Payments),
    ("charge.refunded", Flow::Payments),
    ("charge.refund.updated", Flow::Payments),
    // Customers share the payments handler: the same platform adapters, and an
    // order's PaymentIntent names its customer. The handler re-reads the customer.
    ("customer.created", Flow::Payments),
    ("customer.updated", Flow::Payments),
    ("customer.deleted", Flow::Payments),
    // Each is a trigger: the handler re-reads the payout. `payout.paid` covers a
    // manual payout (never itemised); a failure after posting is reversed.
    ("payout.reconciliation_completed", Flow::Payouts),
    ("payout.paid", Flow::Payouts),
    ("payout.failed", Flow::Payouts),
    ("payout.canceled", Flow::Payouts),
];

/// The flow for a Stripe event type, or `None` when no flow handles it.
pub fn route_stripe_event(event_type: &str) -> Option<Flow> {
    STRIPE_ROUTES
        .iter()
        .find(|(t, _)| *t == event_type)
        .map(|(_, flow)| *flow)
}

/// Every routed event type, for documentation and for Stripe's endpoint set-up.
pub fn routed_stripe_event_types() -> impl Iterator<Item = (&'static str, Flow)> {
    STRIPE_ROUTES.iter().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_the_main_events() {
        assert_eq!(
            route_stripe_event("payment_intent.succeeded"),
            Some(Flow::Payments)
        );
        assert_eq!(route_stripe_event("charge.succeeded"), Some(Flow::Payments));
        assert_eq!(route_stripe_event("charge.captured"), Some(Flow::Payments));
        assert_eq!(route_stripe_event("charge.refunded"), Some(Flow::Payments));
        assert_eq!(route_stripe_event("refund.failed"), Some(Flow::Payments));
        // no consumer yet: not routed
        assert_eq!(route_stripe_event("charge.dispute.created"), None);
        assert_eq!(route_stripe_event("payout.paid"), Some(Flow::Payouts));
        assert_eq!(
            route_stripe_event("payout.reconciliation_completed"),
            Some(Flow::Payouts)
        );
        assert_eq!(route_stripe_event("payout.created"), None);
        // informational: no flow acts on them, so they are not subscribed
        assert_eq!(route_stripe_event("payment_intent.created"), None);
        assert_eq!(route_stripe_event("payment_intent.processing"), None);
        assert_eq!(route_stripe_event("plan.created"), None);
        assert_eq!(route_stripe_event("PAYMENT_INTENT.SUCCEEDED"), None);
    }

    #[test]
    fn table_has_no_duplicates_and_covers_every_flow() {
        let mut seen = std::collections::HashSet::new();
        for (t, _) in routed_stripe_event_types() {
            assert!(seen.insert(t), "{t} routed twice");
        }
        for flow in Flow::ALL {
            assert!(
                routed_stripe_event_types().any(|(_, f)| f == flow),
                "{flow} has no events"
            );
        }
    }
}
