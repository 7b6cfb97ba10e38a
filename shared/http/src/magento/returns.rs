//! Adobe Commerce returns (RMA) as refund records: a return processed and
//! closed with approved items of a refund resolution, which names no Stripe
//! refund yet, awaits one. Read only when `magento.rma_refund_resolutions`
//! is set (Magento Open Source has no returns); the poll looks back
//! `magento.rma_lookback_days` by request date, since closed stays closed. A return the merchant may
//! have refunded by a credit memo of their own (one made since the return
//! was requested that is not Tally's for it) is not guessed at: it cannot be
//! read, and goes to a person.

use tally_core::clock::utc_datetime;
use tally_core::commerce::magento::{
    parse_returns, return_amount, return_comment_request, rma_entity_of, rma_marker, rma_record_id,
    ReadReturn, PROCESSED_CLOSED,
};
use tally_core::commerce::{
    AwaitingRefunds, OrderRef, PlatformError, PlatformRefund, PolledRefund, RefundRecord,
    UnreadableRefund,
};

use super::{search_query, MagentoRest};

/// A return as a refund record, or why it cannot be one.
enum AsRefund {
    Record(PolledRefund),
    /// Not a refund (no refund items, not closed).
    NotOne,
    Unreadable(UnreadableRefund),
}

/// A credit memo as the return check needs it.
#[derive(serde::Deserialize)]
struct Memo {
    #[serde(default)]
    comments: Vec<MemoComment>,
}

#[derive(serde::Deserialize)]
struct MemoComment {
    #[serde(default)]
    comment: Option<String>,
}

impl MagentoRest {
    pub(super) fn reads_returns(&self) -> bool {
        !self.config.rma_refund_resolutions.is_empty()
    }

    async fn search_returns(
        &self,
        query: &[(String, String)],
    ) -> Result<Vec<ReadReturn>, PlatformError> {
        let reply = self
            .call(reqwest::Method::GET, "/returns", query, None)
            .await?;
        parse_returns(&reply.body, &self.config.rma_refund_resolutions)
            .map_err(|e| Self::invalid(format!("returns: {e}")))
    }

    /// The order's credit memos made since `since` that are not Tally's for the return.
    async fn other_credit_memos_since(
        &self,
        order_id: &str,
        since: &str,
        marker: &str,
    ) -> Result<usize, PlatformError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            items: Vec<Memo>,
        }
        let query = search_query(
            &[("order_id", order_id, "eq"), ("created_at", since, "gteq")],
            &[("entity_id", "ASC")],
            1,
            100,
        );
        let reply = self
            .call(reqwest::Method::GET, "/creditmemos", &query, None)
            .await?;
        let page: Page = serde_json::from_slice(&reply.body)
            .map_err(|e| Self::invalid(format!("credit memos of order {order_id}: {e}")))?;
        Ok(page
            .items
            .iter()
            .filter(|m| {
                !m.comments
                    .iter()
                    .any(|c| c.comment.as_deref().is_some_and(|t| t.contains(marker)))
            })
            .count())
    }

    /// The return as a refund record; `order` is its order's REST JSON.
    async fn as_refund(&self, r: &ReadReturn, order: &[u8]) -> Result<AsRefund, PlatformError> {
        if r.refund_items.is_empty() || (!r.processed_closed && r.stripe_refund_id.is_none()) {
            return Ok(AsRefund::NotOne);
        }
        let id = rma_record_id(&r.entity_id);
        let unreadable = |reason: String| {
            AsRefund::Unreadable(UnreadableRefund {
                order_id: r.order_id.clone(),
                refund_id: id.clone(),
                reason,
            })
        };
        let amount = match return_amount(r, order) {
            Ok((amount, _)) => amount,
            Err(e) => return Ok(unreadable(format!("return {}: {e}", r.entity_id))),
        };
        let mut awaiting = r.stripe_refund_id.is_none();
        if awaiting {
            let others = self
                .other_credit_memos_since(&r.order_id, &r.date_requested, &rma_marker(&r.entity_id))
                .await?;
            if others > 0 {
                return Ok(unreadable(format!(
                    "return {} of order {}: the order has {others} credit memo(s) made since the return was \
                     requested; if one refunds the return nothing more is needed, otherwise refund it by credit memo",
                    r.entity_id, r.order_id
                )));
            }
            awaiting = amount.get() > 0;
        }
        Ok(AsRefund::Record(PolledRefund {
            order: OrderRef {
                platform: tally_core::commerce::magento::PLATFORM.into(),
                store: self.store_code.clone(),
                order_id: r.order_id.clone(),
            },
            refund: PlatformRefund {
                id,
                amount,
                stripe_refund_id: r.stripe_refund_id.clone(),
                awaiting,
            },
            created_at: r.date_requested.clone(),
        }))
    }

    /// Returns processed and closed, by entity id after `after`.
    pub(super) async fn returns_awaiting(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<AwaitingRefunds, PlatformError> {
        if !self.reads_returns() {
            return Ok(AwaitingRefunds::default());
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let since = utc_datetime(now - i64::from(self.config.rma_lookback_days) * 86_400);
        let query = search_query(
            &[
                ("status", PROCESSED_CLOSED, "eq"),
                ("date_requested", since.as_str(), "gteq"),
                ("entity_id", after.unwrap_or("0"), "gt"),
            ],
            &[("entity_id", "ASC")],
            1,
            limit,
        );
        let found = self.search_returns(&query).await?;
        let next = (found.len() as u32 >= limit)
            .then(|| found.last().map(|r| r.entity_id.clone()))
            .flatten();
        let mut page = AwaitingRefunds {
            next,
            ..AwaitingRefunds::default()
        };
        // one that names its Stripe refund is done: no order read for it
        for r in found.iter().filter(|r| r.stripe_refund_id.is_none()) {
            let order = self.raw_order(&r.order_id).await?;
            match self.as_refund(r, &order).await? {
                AsRefund::Record(polled) if polled.refund.awaiting => page.refunds.push(polled),
                AsRefund::Unreadable(u) => page.unreadable.push(u),
                _ => {}
            }
        }
        Ok(page)
    }

    /// The order's returns that are refund records (unreadable ones are left
    /// to the poll, which reports them); `order` is the order's REST JSON.
    pub(super) async fn returns_of(
        &self,
        order_id: &str,
        order: &[u8],
    ) -> Result<Vec<PlatformRefund>, PlatformError> {
        if !self.reads_returns() {
            return Ok(Vec::new());
        }
        let query = search_query(
            &[("order_id", order_id, "eq")],
            &[("entity_id", "ASC")],
            1,
            100,
        );
        let mut records = Vec::new();
        for r in self.search_returns(&query).await? {
            match self.as_refund(&r, order).await? {
                AsRefund::Record(polled) => records.push(polled.refund),
                AsRefund::Unreadable(u) => {
                    tracing::warn!(order_id, refund = %u.refund_id, reason = %u.reason, "return left to a person")
                }
                AsRefund::NotOne => {}
            }
        }
        Ok(records)
    }

    /// Records a return's Stripe refund: the credit memo the return did not
    /// make (offline, for the amount, marked as the return's), unless one
    /// names the refund already, then a comment on the return naming it.
    pub(super) async fn note_return_refunded(
        &self,
        order_id: &str,
        refund_id: &str,
        sent: &RefundRecord,
    ) -> Result<bool, PlatformError> {
        let Some(entity) = rma_entity_of(refund_id) else {
            return Ok(false);
        };
        let marker = rma_marker(entity);
        let memos = self.credit_memos_of(order_id).await?;
        if !memos
            .iter()
            .any(|m| m.stripe_refund_id.as_deref() == Some(sent.stripe_refund_id.as_str()))
        {
            let memo = RefundRecord {
                comment: format!("{} {marker}", sent.comment),
                ..sent.clone()
            };
            self.create_credit_memo(order_id, &memo).await?;
        }
        self.call(
            reqwest::Method::POST,
            &format!("/returns/{entity}/comments"),
            &[],
            Some(&return_comment_request(
                entity,
                &format!("{} {marker}", sent.comment),
            )),
        )
        .await?;
        Ok(true)
    }
}
