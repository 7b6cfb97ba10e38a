//! Znode returns as refunds made on the platform (see
//! `tally_core::commerce::znode::return_json`). Znode's return list cannot
//! filter by modification time, and a return is approved long after it is
//! made, so the intake is Znode's own state: every return in an approved
//! state, read by `RmaReturnDetailsId` (a key, so returns leaving the state
//! during the read hide no other), each re-read with its notes. Once Tally
//! refunds one in Stripe it is recorded as Znode records money (a refund
//! payment row, the payment state, an order note) and the return is moved to
//! Refund Processed with a note naming the Stripe refund, in one call.

use serde_json::{json, Value};
use tally_core::commerce::znode::{
    parse_return, parse_return_list, refund_note, return_order_id, ReturnRow, ZnodeReturn,
    AWAITING_RETURN_STATUSES, PLATFORM, RETURN_REFUND_PROCESSED,
};
use tally_core::commerce::{
    AwaitingRefunds, OrderRef, PlatformError, PolledRefund, RefundRecord, UnreadableRefund,
};

use super::{segment, ZnodeRest, MAX_NOTE_CHARS};

/// Returns read per page when listing one order's returns.
const ORDER_RETURNS_PAGE: u32 = 50;

impl ZnodeRest {
    /// The return with its notes and lines (a re-post without its lines is
    /// refused); `None` for Znode's 204 (no such return).
    pub(super) async fn return_details(
        &self,
        number: &str,
    ) -> Result<Option<ZnodeReturn>, PlatformError> {
        match self.return_body(number).await? {
            None => Ok(None),
            Some(body) => {
                parse_return(&body).map_err(|e| Self::invalid(format!("return {number}: {e}")))
            }
        }
    }

    async fn return_body(&self, number: &str) -> Result<Option<Vec<u8>>, PlatformError> {
        let path = format!("rmareturn/getreturndetails/{}", segment(number));
        let query = [("expand", "returnnotes,returnitemlist".to_string())];
        Ok(self
            .call(reqwest::Method::GET, &path, &query, None)
            .await?
            .map(|reply| reply.body.to_vec()))
    }

    /// One page of this portal's returns matching `filter`, after `after_id`, by id.
    async fn return_rows(
        &self,
        filter: &str,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<ReturnRow>, PlatformError> {
        let query = [
            (
                "filter",
                format!(
                    "{filter},PortalId~eq~{},RmaReturnDetailsId~gt~{after_id}",
                    self.config.portal_id
                ),
            ),
            ("sort", "RmaReturnDetailsId~asc".to_string()),
            ("page", format!("index~1,size~{limit}")),
        ];
        match self
            .call(reqwest::Method::GET, "rmareturn/list", &query, None)
            .await?
        {
            None => Ok(Vec::new()),
            Some(reply) => parse_return_list(&reply.body)
                .map_err(|e| Self::invalid(format!("rmareturn/list: {e}"))),
        }
    }

    /// The order's returns that are refunds (approved or refund processed).
    pub(super) async fn returns_of_order(
        &self,
        order_number: &str,
    ) -> Result<Vec<ZnodeReturn>, PlatformError> {
        let filter = format!("OrderNumber~eq~{order_number}");
        let mut found = Vec::new();
        let mut after = 0;
        loop {
            let rows = self.return_rows(&filter, after, ORDER_RETURNS_PAGE).await?;
            for row in &rows {
                let Some(body) = self.return_body(&row.number).await? else {
                    continue;
                };
                match parse_return(&body) {
                    Ok(Some(r)) if r.is_refund() => found.push(r),
                    Ok(_) => {}
                    // the refund poll reports it; it must not hide the order's other refunds
                    Err(e) => {
                        tracing::warn!(return_number = %row.number, error = %e, "Znode return cannot be read; left out")
                    }
                }
            }
            match rows.last() {
                Some(last) if rows.len() as u32 == ORDER_RETURNS_PAGE => after = last.details_id,
                _ => return Ok(found),
            }
        }
    }

    /// Approved returns, one status after the other, from the cursor
    /// `"{status index}:{last RmaReturnDetailsId}"`.
    pub(super) async fn approved_returns(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<AwaitingRefunds, PlatformError> {
        let (mut status, mut last) = match after {
            None => (0, 0),
            Some(cursor) => cursor
                .split_once(':')
                .and_then(|(s, l)| Some((s.parse::<usize>().ok()?, l.parse::<i64>().ok()?)))
                .ok_or_else(|| Self::rejected(format!("not a return cursor: {cursor:?}")))?,
        };
        while let Some(name) = AWAITING_RETURN_STATUSES.get(status) {
            let rows = self
                .return_rows(&format!("ReturnStatus~eq~{name}"), last, limit)
                .await?;
            if rows.is_empty() {
                (status, last) = (status + 1, 0);
                continue;
            }
            let (mut refunds, mut unreadable) = (Vec::new(), Vec::new());
            for row in &rows {
                // re-read: the list shows neither the order id nor the notes
                let Some(body) = self.return_body(&row.number).await? else {
                    continue;
                };
                match parse_return(&body) {
                    Ok(Some(r)) if r.is_approved() => refunds.push(self.polled(&r)),
                    Ok(_) => {}
                    // one return Tally cannot read must not stop the others
                    Err(e) => unreadable.push(UnreadableRefund {
                        order_id: return_order_id(&body).unwrap_or_default(),
                        refund_id: row.number.clone(),
                        reason: format!("Znode return {}: {e}", row.number),
                    }),
                }
            }
            let next = match rows.last() {
                Some(row) if rows.len() as u32 >= limit => {
                    Some(format!("{status}:{}", row.details_id))
                }
                _ if status + 1 < AWAITING_RETURN_STATUSES.len() => {
                    Some(format!("{}:0", status + 1))
                }
                _ => None,
            };
            return Ok(AwaitingRefunds {
                refunds,
                unreadable,
                next,
            });
        }
        Ok(AwaitingRefunds::default())
    }

    fn polled(&self, r: &ZnodeReturn) -> PolledRefund {
        PolledRefund {
            order: OrderRef {
                platform: PLATFORM.into(),
                store: self.config.portal_id.clone(),
                order_id: r.oms_order_id.clone(),
            },
            refund: r.as_refund(),
            created_at: r.return_date.clone(),
        }
    }

    /// Records `sent` for the return `number` of order `order_id`, each part
    /// checked first so a retry finishes what a crash left: the refund payment
    /// row and note on the order, then the return moved to Refund Processed
    /// with the note naming the Stripe refund (the last write: the mark).
    pub(super) async fn note_return_refunded(
        &self,
        order_id: &str,
        number: &str,
        sent: &RefundRecord,
    ) -> Result<(), PlatformError> {
        let r = self
            .return_details(number)
            .await?
            .ok_or_else(|| Self::rejected(format!("Znode has no return {number}")))?;
        match r.stripe_refund_id.as_deref() {
            Some(id) if id == sent.stripe_refund_id => return Ok(()),
            Some(other) => {
                return Err(Self::rejected(format!(
                    "return {number} already names Stripe refund {other}"
                )))
            }
            None => {}
        }
        if r.oms_order_id != order_id || !r.is_refund() {
            return Err(Self::rejected(format!(
                "return {number} is not an approved return of order {order_id}"
            )));
        }
        self.record_refund_on(order_id, sent).await?;
        let note: String = refund_note(&sent.stripe_refund_id, sent.amount, &sent.comment)
            .chars()
            .take(MAX_NOTE_CHARS)
            .collect();
        if r.state_id == RETURN_REFUND_PROCESSED {
            let body = json!({"RmaReturnDetailsId": r.details_id, "Notes": note});
            return self
                .command(
                    reqwest::Method::POST,
                    "rmareturn/savereturnnotes",
                    Some(&body),
                )
                .await;
        }
        // as Znode's admin does: the whole return again, with the new state
        let mut model = r.model.clone();
        if let Value::Object(fields) = &mut model {
            fields.insert("RmaReturnStateId".into(), json!(RETURN_REFUND_PROCESSED));
            fields.insert("IsRefundProcess".into(), json!(true));
            fields.insert("IsAdminRequest".into(), json!(true));
            fields.insert("Notes".into(), json!(note));
            fields.remove("ReturnNotes");
        }
        self.call(
            reqwest::Method::POST,
            "rmareturn/submitorderreturn",
            &[],
            Some(&model),
        )
        .await?
        .ok_or_else(|| Self::invalid(format!("submitorderreturn {number}: empty answer")))?;
        Ok(())
    }
}
