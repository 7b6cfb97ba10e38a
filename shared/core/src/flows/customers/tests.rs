use super::*;
use crate::commerce::CommercePlatform;
use crate::error::Retryable;
use crate::ports::CustomerLinks;
use crate::testkit::{harness, Harness};

fn magento(id: &str) -> CustomerRef {
    CustomerRef {
        platform: "magento".into(),
        store: "default".into(),
        customer_id: id.into(),
    }
}

fn sync(h: &Harness) -> &CustomerSync {
    &h.handler.order_to_cash.customers
}

fn stripe_event(id: &str, customer: &str, created: i64, key: Option<&str>) -> CustomerEvent {
    CustomerEvent {
        event_id: id.into(),
        event_type: "customer.updated".into(),
        created,
        customer_id: customer.into(),
        idempotency_key: key.map(str::to_string),
    }
}

/// A customer saved on the platform and synced once: (harness, Stripe id).
async fn linked(id: &str) -> (Harness, String) {
    let h = harness();
    h.platform
        .save_customer(id, "Amy@Example.com", "Amy", "Lee");
    let CustomerOutcome::Linked {
        stripe_customer,
        created: true,
    } = sync(&h)
        .on_platform_customer_changed(&magento(id))
        .await
        .unwrap()
    else {
        panic!("not linked")
    };
    (h, stripe_customer)
}

#[tokio::test]
async fn a_platform_customer_becomes_one_stripe_customer_however_often_announced() {
    let (h, id) = linked("5").await;
    for _ in 0..3 {
        assert_eq!(
            sync(&h)
                .on_platform_customer_changed(&magento("5"))
                .await
                .unwrap(),
            CustomerOutcome::Unchanged("platform customer already in Stripe")
        );
    }
    let all = h.stripe.customers.all();
    assert_eq!(all.len(), 1);
    let c = &all[0];
    assert_eq!(c.id, id);
    assert_eq!(c.email.as_deref(), Some("amy@example.com"));
    assert_eq!(c.name.as_deref(), Some("Amy Lee"));
    assert_eq!(
        (
            c.metadata["platform"].as_str(),
            c.metadata["store"].as_str(),
            c.metadata["customer_id"].as_str()
        ),
        ("magento", "default", "5")
    );
    assert_eq!(
        h.platform.customer("5").stripe_customer_id.as_deref(),
        Some(id.as_str())
    );
    assert_eq!(
        h.stripe.customers.writes_to(&id).len(),
        1,
        "created once, never rewritten"
    );
}

#[tokio::test]
async fn concurrent_announcements_of_a_new_customer_make_one() {
    let h = harness();
    h.platform.save_customer("6", "bo@example.com", "Bo", "Ek");
    let s = sync(&h);
    let c = magento("6");
    let runs =
        futures_util::future::join_all((0..4).map(|_| s.on_platform_customer_changed(&c))).await;
    // a worker that found the link being made retries (Busy); none makes another
    assert!(runs.iter().all(|r| match r {
        Ok(_) => true,
        Err(e) => e.is_retryable(),
    }));
    assert_eq!(h.stripe.customers.all().len(), 1);
}

#[tokio::test]
async fn a_customer_already_in_stripe_by_email_is_adopted_and_several_are_for_review() {
    let h = harness();
    let profile = CustomerProfile::new("cy@example.com", Some("Cy Old"), None, None);
    let existing = h.stripe.customers.insert(&profile);
    h.platform.save_customer("7", "cy@example.com", "Cy", "New");
    let out = sync(&h)
        .on_platform_customer_changed(&magento("7"))
        .await
        .unwrap();
    assert_eq!(
        out,
        CustomerOutcome::Linked {
            stripe_customer: existing.clone(),
            created: false
        }
    );
    let adopted = h.stripe.customers.get(&existing).unwrap();
    assert_eq!(adopted.name.as_deref(), Some("Cy New"));
    assert_eq!(adopted.metadata["customer_id"], "7");

    let twice = CustomerProfile::new("di@example.com", None, None, None);
    let (a, b) = (
        h.stripe.customers.insert(&twice),
        h.stripe.customers.insert(&twice),
    );
    h.platform.save_customer("8", "di@example.com", "Di", "Two");
    let err = sync(&h)
        .on_platform_customer_changed(&magento("8"))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(
        text.contains(&a) && text.contains(&b) && text.contains("customer_id=8"),
        "{text}"
    );
    assert_eq!(h.stripe.customers.all().len(), 3, "nothing merged or made");
}

#[tokio::test]
async fn a_stripe_edit_reaches_the_platform_once_and_its_echo_stops() {
    let (h, id) = linked("5").await;
    let home = PostalAddress {
        line1: Some("1 Main St".into()),
        country: Some("US".into()),
        ..Default::default()
    };
    let edited = CustomerProfile::new(
        "amy@example.com",
        Some("Amy Lee-Park"),
        Some("+1 555 0100"),
        Some(&home),
    );
    h.stripe.customers.edit(&id, &edited);
    let event = stripe_event("evt_1", &id, 1_795_700_000, None);
    let out = sync(&h).on_stripe_customer_event(&event).await.unwrap();
    assert!(
        matches!(out, CustomerOutcome::SentToPlatform { .. }),
        "{out:?}"
    );
    // the same event again, and the platform's own save event for Tally's write
    sync(&h).on_stripe_customer_event(&event).await.unwrap();
    assert_eq!(
        sync(&h)
            .on_platform_customer_changed(&magento("5"))
            .await
            .unwrap(),
        CustomerOutcome::Unchanged("platform customer already in Stripe")
    );
    let c = h.platform.customer("5");
    assert_eq!(
        (c.first_name.as_deref(), c.last_name.as_deref()),
        (Some("Amy"), Some("Lee-Park"))
    );
    assert_eq!(c.phone.as_deref(), Some("+1 555 0100"));
    let profile_writes = h
        .platform
        .customer_writes("5")
        .iter()
        .filter(|u| u.profile.is_some())
        .count();
    assert_eq!(profile_writes, 1);
    assert_eq!(
        h.stripe.customers.writes_to(&id).len(),
        2,
        "created, then the dashboard edit; no echo"
    );
}

#[tokio::test]
async fn what_the_platform_cannot_hold_stays_in_stripe_and_does_not_bounce() {
    let (h, id) = linked("5").await;
    let with_phone = CustomerProfile::new(
        "amy@example.com",
        Some("Amy Lee"),
        Some("+1 555 0100"),
        None,
    );
    h.stripe.customers.edit(&id, &with_phone);
    let out = sync(&h)
        .on_stripe_customer_event(&stripe_event("evt_5", &id, 1_795_700_000, None))
        .await
        .unwrap();
    assert!(
        matches!(out, CustomerOutcome::SentToPlatform { .. }),
        "{out:?}"
    );
    assert_eq!(
        h.platform.customer("5").phone,
        None,
        "no address to hold it"
    );
    // the platform's save event for that write is an echo: Stripe keeps its phone
    assert_eq!(
        sync(&h)
            .on_platform_customer_changed(&magento("5"))
            .await
            .unwrap(),
        CustomerOutcome::Unchanged("platform customer already in Stripe")
    );
    assert_eq!(
        h.stripe.customers.get(&id).unwrap().phone.as_deref(),
        Some("+1 555 0100")
    );
    // a later edit on the platform still goes to Stripe (the link knows each side's state)
    h.platform.advance_clock(60);
    h.platform
        .save_customer("5", "amy@example.com", "Amy", "Ng");
    let out = sync(&h)
        .on_platform_customer_changed(&magento("5"))
        .await
        .unwrap();
    assert_eq!(
        out,
        CustomerOutcome::SentToStripe {
            stripe_customer: id.clone()
        }
    );
}

#[tokio::test]
async fn a_platform_edit_reaches_stripe_once_and_its_echo_stops() {
    let (h, id) = linked("5").await;
    h.platform.advance_clock(60);
    h.platform
        .save_customer("5", "amy@example.com", "Amy", "Park");
    let out = sync(&h)
        .on_platform_customer_changed(&magento("5"))
        .await
        .unwrap();
    assert_eq!(
        out,
        CustomerOutcome::SentToStripe {
            stripe_customer: id.clone()
        }
    );
    let writes = h.stripe.customers.writes_to(&id);
    assert_eq!(writes.len(), 2);
    assert!(writes[1].starts_with("tally-cus-sync-"));
    // Stripe's customer.updated for that write comes back
    let echo = stripe_event("evt_2", &id, 1_795_700_000, Some(&writes[1]));
    assert_eq!(
        sync(&h).on_stripe_customer_event(&echo).await.unwrap(),
        CustomerOutcome::Unchanged("Stripe customer already on the platform")
    );
    assert!(h
        .platform
        .customer_writes("5")
        .iter()
        .all(|u| u.profile.is_none()));
}

#[tokio::test]
async fn edits_on_both_sides_the_newer_wins_and_the_conflict_is_reported() {
    for stripe_newer in [true, false] {
        let (h, id) = linked("5").await;
        h.platform.advance_clock(100);
        let platform_edit = h
            .platform
            .save_customer("5", "amy@example.com", "Amy", "Platform");
        let platform_at = crate::clock::parse_utc_datetime(&platform_edit.updated_at).unwrap();
        let stripe_at = if stripe_newer {
            platform_at + 5
        } else {
            platform_at - 5
        };
        h.stripe.customers.edit(
            &id,
            &CustomerProfile::new("amy@example.com", Some("Amy Stripe"), None, None),
        );
        // the platform's hint waits for Stripe's event, which knows Stripe's time
        let waiting = sync(&h)
            .on_platform_customer_changed(&magento("5"))
            .await
            .unwrap_err();
        assert!(waiting.is_retryable(), "{waiting}");
        sync(&h)
            .on_stripe_customer_event(&stripe_event("evt_3", &id, stripe_at, None))
            .await
            .unwrap();
        sync(&h)
            .on_platform_customer_changed(&magento("5"))
            .await
            .unwrap();
        let winner = if stripe_newer { "Stripe" } else { "Platform" };
        assert_eq!(h.platform.customer("5").last_name.as_deref(), Some(winner));
        assert_eq!(
            h.stripe.customers.get(&id).unwrap().name,
            Some(format!("Amy {winner}"))
        );
        let report = h
            .state
            .conflict("magento/default/5")
            .expect("conflict reported");
        assert!(
            report.contains(if stripe_newer {
                "\"stripe\""
            } else {
                "\"platform\""
            }),
            "{report}"
        );
    }
}

#[tokio::test]
async fn an_invalid_email_is_a_permanent_failure_with_its_reason() {
    let h = harness();
    h.platform.save_customer("9", "not-an-email", "No", "Mail");
    let err = sync(&h)
        .on_platform_customer_changed(&magento("9"))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.to_string()
            .contains("\"not-an-email\" is not a valid address"),
        "{err}"
    );
    assert!(h.stripe.customers.all().is_empty());
}

#[tokio::test]
async fn a_deleted_stripe_customer_is_unlinked_and_the_platform_customer_kept() {
    let (h, id) = linked("5").await;
    h.stripe.customers.delete(&id);
    let mut event = stripe_event("evt_4", &id, 1_795_700_000, None);
    event.event_type = "customer.deleted".into();
    let out = sync(&h).on_stripe_customer_event(&event).await.unwrap();
    assert!(matches!(out, CustomerOutcome::Unlinked { .. }));
    assert!(h.state.customer_links().is_empty());
    assert_eq!(h.platform.customer("5").email, "Amy@Example.com");
}

#[test]
fn customer_events_are_read_with_their_request() {
    let raw = br#"{"id":"evt_9","type":"customer.updated","created":5,"data":{"object":{"id":"cus_1","object":"customer"}},"request":{"id":"req_1","idempotency_key":"tally-cus-sync-x"}}"#;
    let e = CustomerEvent::from_stripe("customer.updated", raw)
        .unwrap()
        .unwrap();
    assert_eq!((e.customer_id.as_str(), e.created), ("cus_1", 5));
    assert_eq!(e.idempotency_key.as_deref(), Some("tally-cus-sync-x"));
    assert_eq!(
        CustomerEvent::from_stripe("charge.succeeded", raw).unwrap(),
        None
    );
    assert!(CustomerEvent::from_stripe("customer.updated", b"{}").is_err());
}

#[tokio::test]
async fn a_side_lacking_an_address_does_not_clear_the_others() {
    let h = harness();
    let mut o = crate::testkit::order("30", crate::money::Currency::Usd, "5.00");
    o.customer.external_id = Some("5".into());
    o.customer.email = Some("amy@example.com".into());
    o.billing_address = Some(crate::commerce::Address {
        street: vec!["1 Main St".into()],
        city: Some("Austin".into()),
        country: Some("US".into()),
        ..Default::default()
    });
    let id = sync(&h)
        .stripe_customer_for_order(&o)
        .await
        .unwrap()
        .unwrap();
    // the platform customer has no address book entry; a name change goes to Stripe
    h.platform
        .save_customer("5", "amy@example.com", "Amy", "Lee-Park");
    let out = sync(&h)
        .on_platform_customer_changed(&magento("5"))
        .await
        .unwrap();
    assert_eq!(
        out,
        CustomerOutcome::SentToStripe {
            stripe_customer: id.clone()
        }
    );
    let c = h.stripe.customers.get(&id).unwrap();
    assert_eq!(c.name.as_deref(), Some("Amy Lee-Park"));
    assert_eq!(c.address.and_then(|a| a.city).as_deref(), Some("Austin"));
}

#[tokio::test]
async fn a_customer_whose_stripe_customer_was_deleted_is_linked_to_a_new_one() {
    let (h, first) = linked("5").await;
    h.stripe.customers.delete(&first);
    let mut deleted = stripe_event("evt_6", &first, 1_795_700_000, None);
    deleted.event_type = "customer.deleted".into();
    sync(&h).on_stripe_customer_event(&deleted).await.unwrap();
    h.platform.advance_clock(60);
    h.platform
        .save_customer("5", "amy@example.com", "Amy", "Lee");
    let CustomerOutcome::Linked {
        stripe_customer,
        created: true,
    } = sync(&h)
        .on_platform_customer_changed(&magento("5"))
        .await
        .unwrap()
    else {
        panic!("not linked again")
    };
    assert_ne!(stripe_customer, first);
    assert_eq!(
        h.state.customer_links()["magento/default/5"].stripe_customer_id,
        stripe_customer
    );
    assert_eq!(
        h.platform.customer("5").stripe_customer_id,
        Some(stripe_customer)
    );
}

fn created_event(id: &str, customer: &str) -> CustomerEvent {
    let mut e = stripe_event(id, customer, 1_795_700_000, None);
    e.event_type = "customer.created".into();
    e
}

#[tokio::test]
async fn a_customer_made_in_stripe_becomes_a_platform_customer_once() {
    let h = harness();
    let made = h.stripe.customers.insert(&CustomerProfile::new(
        "new@example.com",
        Some("Nia New"),
        None,
        None,
    ));
    let event = created_event("evt_7", &made);
    let CustomerOutcome::MadeOnPlatform {
        customer_key,
        created: true,
    } = sync(&h).on_stripe_customer_event(&event).await.unwrap()
    else {
        panic!("not made on the platform")
    };
    let id = customer_key.rsplit('/').next().unwrap();
    let c = h.platform.customer(id);
    assert_eq!(
        (c.email.as_str(), c.last_name.as_deref()),
        ("new@example.com", Some("New"))
    );
    assert_eq!(c.stripe_customer_id.as_deref(), Some(made.as_str()));
    assert_eq!(
        h.stripe.customers.get(&made).unwrap().metadata["customer_id"],
        id
    );
    // the same event again, and the update naming it, change nothing more
    sync(&h).on_stripe_customer_event(&event).await.unwrap();
    let again = stripe_event("evt_8", &made, 1_795_700_001, None);
    assert!(matches!(
        sync(&h).on_stripe_customer_event(&again).await.unwrap(),
        CustomerOutcome::Unchanged(_)
    ));
    assert_eq!(h.state.customer_links().len(), 1);
}

#[tokio::test]
async fn a_customer_made_in_stripe_with_a_platform_customers_email_is_linked_not_duplicated() {
    let h = harness();
    h.platform
        .save_customer("5", "amy@example.com", "Amy", "Lee");
    let made = h.stripe.customers.insert(&CustomerProfile::new(
        "Amy@example.com",
        Some("Amy Lee"),
        None,
        None,
    ));
    let out = sync(&h)
        .on_stripe_customer_event(&created_event("evt_9", &made))
        .await
        .unwrap();
    assert_eq!(
        out,
        CustomerOutcome::MadeOnPlatform {
            customer_key: "magento/default/5".into(),
            created: false
        }
    );
    assert_eq!(
        h.platform.customer("5").stripe_customer_id.as_deref(),
        Some(made.as_str())
    );
    // a second Stripe customer for the same person is for review
    let twin = h.stripe.customers.insert(&CustomerProfile::new(
        "amy@example.com",
        Some("Amy L"),
        None,
        None,
    ));
    let err = sync(&h)
        .on_stripe_customer_event(&created_event("evt_10", &twin))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.to_string()
            .contains("two Stripe customers for one person"),
        "{err}"
    );
}

#[tokio::test]
async fn a_customer_tally_made_is_never_taken_for_one_made_in_stripe() {
    let h = harness();
    let mut o = crate::testkit::order("31", crate::money::Currency::Usd, "5.00");
    o.customer.email = Some("guest@example.com".into());
    let guest = sync(&h)
        .stripe_customer_for_order(&o)
        .await
        .unwrap()
        .unwrap();
    h.state
        .unlink_customer("magento/default/guest:guest@example.com", &guest)
        .await
        .unwrap();
    let out = sync(&h)
        .on_stripe_customer_event(&created_event("evt_11", &guest))
        .await
        .unwrap();
    assert_eq!(
        out,
        CustomerOutcome::Unchanged("no platform customer linked")
    );
    assert!(h
        .platform
        .find_customer_by_email("guest@example.com")
        .await
        .unwrap()
        .is_none());
}

/// Found on the deployed stack: Stripe's `customer.created` and
/// `customer.updated` for one customer, handled at once, each wrote the
/// platform; the second saw the first's write before the link moved and took
/// it for a platform edit, sending it back to Stripe. One customer is synced
/// by one handler at a time; the other is told to come back.
#[tokio::test]
async fn one_customer_is_synced_by_one_handler_at_a_time() {
    let (h, id) = linked("5").await;
    let edited = CustomerProfile::new("amy@example.com", Some("Amy Park"), None, None);
    h.stripe.customers.edit(&id, &edited);
    let lock = "customer/magento/default/5/sync-lock";
    let crate::ports::Claim::Acquired(held) = h.store.claim(lock, 1_795_700_000, 60).await.unwrap()
    else {
        panic!("the lock is free")
    };
    let event = stripe_event("evt_9", &id, 1_795_700_000, None);
    for err in [
        sync(&h).on_stripe_customer_event(&event).await.unwrap_err(),
        sync(&h)
            .on_platform_customer_changed(&magento("5"))
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(err, O2cError::Busy(ref k) if k == lock), "{err:?}");
        assert!(err.is_retryable());
    }
    assert_eq!(
        h.platform.customer("5").last_name.as_deref(),
        Some("Lee"),
        "nothing written"
    );
    h.store.release(lock, &held).await.unwrap();
    let out = sync(&h).on_stripe_customer_event(&event).await.unwrap();
    assert!(
        matches!(out, CustomerOutcome::SentToPlatform { .. }),
        "{out:?}"
    );
    assert_eq!(h.platform.customer("5").last_name.as_deref(), Some("Park"));
    // released after each sync: the next change goes through
    assert_eq!(
        sync(&h)
            .on_platform_customer_changed(&magento("5"))
            .await
            .unwrap(),
        CustomerOutcome::Unchanged("platform customer already in Stripe")
    );
}
