//! Znode returns (`rmareturn/*`, `RMAReturnModel`), the refunds a Znode
//! merchant makes: a return is approved (state 50, or 70 partially approved)
//! and then "refund processed" (80) once the money is returned, by re-posting
//! the whole return to `rmareturn/submitorderreturn`, which saves its `Notes`
//! in the same transaction. Tally's note names the Stripe refund, so a return
//! that names one is never refunded again. Facts: `../shared/platforms/znode.md` §1.7.

use serde::Deserialize;
use serde_json::Value;

use super::refund_json::parse_refund_note;
use crate::commerce::amounts::{self, FieldError};
use crate::commerce::PlatformRefund;
use crate::money::{Currency, MinorUnit};

/// `ZnodeRmaReturnState` ids.
pub const RETURN_APPROVED: i64 = 50;
pub const RETURN_PARTIALLY_APPROVED: i64 = 70;
pub const RETURN_REFUND_PROCESSED: i64 = 80;
/// The state names `rmareturn/list` filters on (`ReturnStatus` is the state's
/// `ReturnStateName`, CamelCased by Znode's post-deploy script).
pub const AWAITING_RETURN_STATUSES: [&str; 2] = ["Approved", "Partially Approved"];

/// One return as `GET rmareturn/getreturndetails/{number}?expand=returnnotes` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ZnodeReturn {
    pub details_id: i64,
    pub number: String,
    pub oms_order_id: String,
    pub order_number: String,
    pub state_id: i64,
    pub currency: Currency,
    /// What the return gives back in money: `TotalReturnAmount` less the
    /// part Znode returns as a voucher (`VoucherAmount`), as its admin does.
    pub amount: MinorUnit,
    /// The Stripe refund a Tally note on the return names.
    pub stripe_refund_id: Option<String>,
    pub return_date: String,
    /// The whole model, re-posted with a new state to change it.
    pub model: Value,
}

impl ZnodeReturn {
    pub fn is_approved(&self) -> bool {
        matches!(self.state_id, RETURN_APPROVED | RETURN_PARTIALLY_APPROVED)
    }

    /// A return that is a refund at all: approved, or its refund processed.
    pub fn is_refund(&self) -> bool {
        self.is_approved() || self.state_id == RETURN_REFUND_PROCESSED
    }

    pub fn as_refund(&self) -> PlatformRefund {
        PlatformRefund {
            id: self.number.clone(),
            amount: self.amount,
            stripe_refund_id: self.stripe_refund_id.clone(),
            // processed without a Tally note: Znode's own payment app returned the money;
            // a return worth nothing (an exchange, all of it a voucher) asks for no refund
            awaiting: self.is_approved()
                && self.stripe_refund_id.is_none()
                && self.amount > MinorUnit::ZERO,
        }
    }
}

/// Reads an `RMAReturnResponse`; `None` when it carries no return.
pub fn parse_return(body: &[u8]) -> Result<Option<ZnodeReturn>, FieldError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Note {
        #[serde(default)]
        notes: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Return {
        rma_return_details_id: i64,
        return_number: String,
        oms_order_id: Value,
        #[serde(default)]
        order_number: Option<String>,
        rma_return_state_id: i64,
        currency_code: String,
        total_return_amount: Value,
        #[serde(default)]
        voucher_amount: Option<Value>,
        #[serde(default)]
        return_notes: Option<Vec<Note>>,
        #[serde(default)]
        return_date: Option<String>,
    }
    let envelope: Value =
        serde_json::from_slice(body).map_err(|e| amounts::invalid("Return", e.to_string()))?;
    let model = match envelope.get("Return") {
        None | Some(Value::Null) => return Ok(None),
        Some(m) => m.clone(),
    };
    let r: Return = serde_json::from_value(model.clone())
        .map_err(|e| amounts::invalid("Return", e.to_string()))?;
    let currency = amounts::currency("CurrencyCode", &r.currency_code)?;
    let total = amounts::minor("TotalReturnAmount", &r.total_return_amount, currency)?;
    let voucher = match r.voucher_amount.filter(|v| !v.is_null()) {
        Some(v) => amounts::minor("VoucherAmount", &v, currency)?,
        None => MinorUnit::ZERO,
    };
    let stripe_refund_id = r
        .return_notes
        .into_iter()
        .flatten()
        .filter_map(|n| n.notes)
        .find_map(|text| parse_refund_note(&text, currency).map(|(id, _)| id));
    Ok(Some(ZnodeReturn {
        details_id: r.rma_return_details_id,
        number: r.return_number,
        oms_order_id: amounts::id_text(&r.oms_order_id)
            .ok_or_else(|| amounts::invalid("OmsOrderId", "missing"))?,
        order_number: r.order_number.unwrap_or_default(),
        state_id: r.rma_return_state_id,
        currency,
        amount: MinorUnit::new(total.get() - voucher.get()),
        stripe_refund_id,
        return_date: r.return_date.unwrap_or_default(),
        model,
    }))
}

/// The order a return body names, read without the rest (for reporting a
/// return that cannot be read whole).
pub fn return_order_id(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    amounts::id_text(v.get("Return")?.get("OmsOrderId")?)
}

/// A row of `GET rmareturn/list` (`Znode_GetRmaReturnHistoryList`): its key and number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnRow {
    pub details_id: i64,
    pub number: String,
}

/// Reads an `RMAReturnListResponse` (`{"ReturnList": {"Returns": [...]}}`).
pub fn parse_return_list(body: &[u8]) -> Result<Vec<ReturnRow>, FieldError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Row {
        rma_return_details_id: i64,
        return_number: String,
    }
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "PascalCase")]
    struct List {
        #[serde(default)]
        returns: Option<Vec<Row>>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Response {
        #[serde(default)]
        return_list: Option<List>,
    }
    let list = serde_json::from_slice::<Response>(body)
        .map_err(|e| amounts::invalid("ReturnList", e.to_string()))?
        .return_list
        .unwrap_or_default();
    Ok(list
        .returns
        .unwrap_or_default()
        .into_iter()
        .map(|r| ReturnRow {
            details_id: r.rma_return_details_id,
            number: r.return_number,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commerce::znode::refund_note;
    use crate::money::Money;

    #[test]
    fn a_return_reads_its_money_less_the_voucher_and_the_refund_its_note_names() {
        let note = refund_note(
            "re_R1",
            Money::from_major("7.500".parse().unwrap(), Currency::Kwd).unwrap(),
            "Refunded in Stripe.",
        );
        let body = serde_json::json!({"Return": {
            "RmaReturnDetailsId": 9, "ReturnNumber": "RET-1", "OmsOrderId": 1001, "OrderNumber": "ZN-1",
            "RmaReturnStateId": 80, "CurrencyCode": "KWD", "TotalReturnAmount": "10.500000",
            "VoucherAmount": 3.0, "ReturnDate": "2026-11-27 10:00:00",
            "ReturnNotes": [{"Notes": "customer called"}, {"Notes": note}]},
            "HasError": false});
        let r = parse_return(body.to_string().as_bytes()).unwrap().unwrap();
        assert_eq!((r.amount.get(), r.currency), (7_500, Currency::Kwd));
        assert_eq!(r.stripe_refund_id.as_deref(), Some("re_R1"));
        assert_eq!(r.oms_order_id, "1001");
        let shown = r.as_refund();
        assert!(!shown.awaiting && r.is_refund());
    }

    #[test]
    fn an_approved_return_awaits_and_amounts_finer_than_the_currency_are_refused() {
        let approved = serde_json::json!({"Return": {
            "RmaReturnDetailsId": 9, "ReturnNumber": "RET-2", "OmsOrderId": "1002",
            "RmaReturnStateId": 70, "CurrencyCode": "JPY", "TotalReturnAmount": 1200, "VoucherAmount": null}});
        let r = parse_return(approved.to_string().as_bytes())
            .unwrap()
            .unwrap();
        assert!(r.as_refund().awaiting);
        assert_eq!(r.amount.get(), 1_200);
        let all_voucher = serde_json::json!({"Return": {
            "RmaReturnDetailsId": 9, "ReturnNumber": "RET-5", "OmsOrderId": "1002",
            "RmaReturnStateId": 50, "CurrencyCode": "JPY", "TotalReturnAmount": 1200, "VoucherAmount": 1200}});
        let r = parse_return(all_voucher.to_string().as_bytes())
            .unwrap()
            .unwrap();
        assert!(!r.as_refund().awaiting, "nothing to refund in money");
        let fine = serde_json::json!({"Return": {
            "RmaReturnDetailsId": 9, "ReturnNumber": "RET-3", "OmsOrderId": 1,
            "RmaReturnStateId": 50, "CurrencyCode": "JPY", "TotalReturnAmount": "12.5"}});
        assert!(parse_return(fine.to_string().as_bytes()).is_err());
        assert_eq!(
            return_order_id(fine.to_string().as_bytes()).as_deref(),
            Some("1")
        );
        assert_eq!(parse_return(br#"{"Return": null}"#).unwrap(), None);
        let list = parse_return_list(
            br#"{"ReturnList":{"Returns":[{"RmaReturnDetailsId":4,"ReturnNumber":"RET-4"}]}}"#,
        )
        .unwrap();
        assert_eq!(
            list,
            [ReturnRow {
                details_id: 4,
                number: "RET-4".into()
            }]
        );
    }
}
