//! The deployment's configuration document: one JSON object (SAM parameter
//! `TallyConfig`, env `TALLY_CONFIG`) laid over these defaults and validated
//! when a function starts, so a bad value stops the deploy's first invocation
//! with an error naming its key instead of failing an order later.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration key {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

fn err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TallyConfig {
    pub stripe: StripeConfig,
    pub magento: MagentoConfig,
    pub znode: ZnodeConfig,
    pub kentico: KenticoConfig,
    pub erp: ErpConfig,
    pub order_to_cash: OrderToCashConfig,
    pub customers: CustomersConfig,
    /// Declarative REST platforms by name (README, "Describing a platform"):
    /// each a mapping document, checked by `rest_platform`.
    pub rest_platforms: std::collections::BTreeMap<String, serde_json::Value>,
}

/// Customers both ways (README, "Customers, both ways").
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CustomersConfig {
    /// Where a customer made in Stripe (by a person or another integration,
    /// not by Tally) becomes a platform customer: `"magento/default"`.
    /// Unset, such customers are journaled and left alone.
    pub create_from_stripe_in: Option<String>,
}

impl CustomersConfig {
    /// The (platform, store) of `create_from_stripe_in`.
    pub fn create_in(&self) -> Option<(String, String)> {
        let (platform, store) = self.create_from_stripe_in.as_deref()?.split_once('/')?;
        Some((platform.to_string(), store.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpPolicy {
    /// Attempts after the first, for network errors, 429 and 5xx.
    pub max_retries: u32,
    /// First backoff; doubles per attempt, with full jitter, capped at `max_backoff_ms`.
    pub retry_base_ms: u64,
    pub max_backoff_ms: u64,
    pub timeout_ms: u64,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        HttpPolicy {
            max_retries: 2,
            retry_base_ms: 500,
            max_backoff_ms: 5_000,
            timeout_ms: 20_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StripeConfig {
    pub api_base: String,
    /// Pinned so a Stripe account upgrade cannot change the shapes Tally parses.
    pub api_version: String,
    /// Off only for localstripe, which rejects `description` on PaymentIntents.
    pub send_description: bool,
    /// Customers both ways (and each PaymentIntent naming its customer). Off
    /// only for localstripe, which cannot list customers by email.
    pub sync_customers: bool,
    pub http: HttpPolicy,
}

impl Default for StripeConfig {
    fn default() -> Self {
        StripeConfig {
            api_base: "https://api.stripe.com".into(),
            api_version: "2024-06-20".into(),
            send_description: true,
            sync_customers: true,
            http: HttpPolicy::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MagentoConfig {
    /// The store's base URL, e.g. https://shop.example.com (REST lives under /rest/{store_code}/V1).
    pub base_url: Option<String>,
    pub store_code: String,
    /// Page size of the order poller's searches.
    pub page_size: u32,
    pub http: HttpPolicy,
    /// Adobe Commerce returns (RMA): the item `resolution` option ids that mean
    /// "refund the money" (they are the merchant's EAV options). Empty: Tally
    /// reads no returns (Magento Open Source has none); credit memos only.
    pub rma_refund_resolutions: Vec<String>,
    /// How far back (by the date a return was requested) each poll looks for
    /// processed returns: a closed return stays closed, so the scan is bounded.
    pub rma_lookback_days: u32,
    /// The website a customer Tally creates belongs to (`website_id`).
    pub website_id: u32,
    /// The code of the customer attribute the merchant created to hold the
    /// linked Stripe customer id; unset, Tally keeps the link only in its own table.
    pub stripe_customer_attribute: Option<String>,
}

impl Default for MagentoConfig {
    fn default() -> Self {
        MagentoConfig {
            base_url: None,
            store_code: "default".into(),
            page_size: 50,
            http: HttpPolicy::default(),
            rma_refund_resolutions: Vec::new(),
            rma_lookback_days: 60,
            website_id: 1,
            stripe_customer_attribute: None,
        }
    }
}

/// Znode 9.x: REST under `base_url` (no `/api` prefix), one portal per deployment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZnodeConfig {
    pub base_url: Option<String>,
    /// The portal (Znode's store) whose orders Tally collects; the store in order refs.
    pub portal_id: String,
    /// The payment state name a paid order gets (`ZnodeOmsPaymentState.Name`, checked
    /// against `orders/getpaymentstatelist` at run time).
    pub paid_payment_status: String,
    /// The payment state name a refund row carries, and a fully refunded order gets.
    pub refunded_payment_status: String,
    /// The order state name (`OrderStateName`) a declined payment sets; create it in Znode.
    pub failed_order_state: String,
    pub page_size: u32,
    /// How Znode's API wants its callers authenticated (its `Web.config`).
    pub auth: ZnodeAuthMode,
    /// Znode's `TokenExpirationTime` in minutes (token mode): a token is renewed
    /// before then, and a 401 renews it at once.
    pub token_expiration_minutes: u32,
    pub http: HttpPolicy,
    /// The `ZnodeUser` column (`Custom1`..`Custom5`) that holds the linked
    /// Stripe customer id; unset, Tally keeps the link only in its own table.
    pub stripe_customer_field: Option<String>,
    /// The Znode user the customer poll lists as (`customeraccount/list/{id}`'s
    /// `loggedUserAccountId`: an admin of the portal). Unset, Znode customers
    /// reach Tally through their orders only.
    pub customer_list_user_id: Option<u32>,
}

/// The `ZnodeUser` columns a merchant may give to the Stripe customer id.
pub const ZNODE_CUSTOM_FIELDS: [&str; 5] = ["Custom1", "Custom2", "Custom3", "Custom4", "Custom5"];

/// Znode's two authentication modes (`EnableBasicAuthorization`, the shipped
/// default, or `EnableTokenBasedAuthorization`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZnodeAuthMode {
    /// `Authorization: Basic base64("domain|key")` on every call.
    #[default]
    Basic,
    /// A token from `GET token/generatetoken` (asked for with the Basic
    /// header), sent as the `Token` header until it expires.
    Token,
}

impl Default for ZnodeConfig {
    fn default() -> Self {
        ZnodeConfig {
            base_url: None,
            portal_id: "1".into(),
            paid_payment_status: "Captured".into(),
            refunded_payment_status: "Refunded".into(),
            failed_order_state: "PAYMENT FAILED".into(),
            page_size: 50,
            auth: ZnodeAuthMode::Basic,
            token_expiration_minutes: 10,
            http: HttpPolicy::default(),
            stripe_customer_field: None,
            customer_list_user_id: None,
        }
    }
}

/// Kentico Xperience 13: its REST service under `base_url` (the administration
/// application; REST lives at `{base_url}/rest`), one site per deployment.
/// Status names are the merchant's data: these are checked against
/// `ecommerce.orderstatus` at run time.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KenticoConfig {
    pub base_url: Option<String>,
    /// The site code name (`SiteName`) whose orders Tally collects; the store in order refs.
    pub site_name: String,
    /// The status (`StatusName`) a paid order moves to: one flagged `StatusOrderIsPaid`.
    pub paid_status: String,
    /// The status a declined payment sets (not flagged paid, so a retry can still pay).
    pub failed_status: String,
    /// Statuses whose orders are not collected (canceled and the like).
    pub not_collectable_statuses: Vec<String>,
    /// Code name of the custom table holding refunds (README, "Kentico").
    pub refund_table: String,
    /// The custom field of the customer class that holds the linked Stripe
    /// customer id; unset, Tally keeps the link only in its own table.
    pub stripe_customer_field: Option<String>,
    pub page_size: u32,
    pub http: HttpPolicy,
}

impl Default for KenticoConfig {
    fn default() -> Self {
        KenticoConfig {
            base_url: None,
            site_name: "DancingGoat".into(),
            paid_status: "PaymentReceived".into(),
            failed_status: "PaymentFailed".into(),
            not_collectable_statuses: vec!["Canceled".into()],
            refund_table: "tally.refund".into(),
            stripe_customer_field: None,
            page_size: 50,
            http: HttpPolicy::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ErpAccounts {
    /// Money held by Stripe until the payout (debited on payment).
    pub stripe_clearing: String,
    /// The customer's receivable the payment settles (credited on payment).
    pub accounts_receivable: String,
    /// Money returned to customers (debited on refund; Stripe clearing is credited).
    pub refunds: String,
    /// The bank account payouts land in (debited by a payout).
    pub bank: String,
    /// Stripe's fees (debited by a payout, by the fees its transactions paid).
    pub stripe_fees: String,
    /// Where a payout's transactions that match no order go (never dropped).
    pub suspense: String,
    /// A payout's transactions by Stripe `reporting_category` (e.g. `"dispute"`),
    /// for categories not booked against Stripe clearing.
    pub by_reporting_category: std::collections::BTreeMap<String, String>,
}

impl Default for ErpAccounts {
    fn default() -> Self {
        ErpAccounts {
            stripe_clearing: "1150".into(),
            accounts_receivable: "1200".into(),
            refunds: "4500".into(),
            bank: "1000".into(),
            stripe_fees: "6150".into(),
            suspense: "1190".into(),
            by_reporting_category: Default::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ErpConfig {
    /// Which ERP `base_url` is: `http` (Tally's signed JSON interface, the default),
    /// `tryton` (Tryton's JSON-RPC, `{base_url}/{tryton.database}/`) or `netsuite`
    /// (SuiteTalk REST, `https://<account>.suitetalk.api.netsuite.com`).
    pub adapter: ErpAdapter,
    pub base_url: Option<String>,
    pub journal_path: String,
    pub accounts: ErpAccounts,
    pub tryton: TrytonConfig,
    pub netsuite: NetsuiteConfig,
    /// What a paid order (and its refunds) becomes in the ERP.
    pub paid_orders: PaidOrderPosting,
    /// Where the `http` adapter posts sales orders and credit memos.
    pub sales_order_path: String,
    pub credit_memo_path: String,
    pub http: HttpPolicy,
}

/// What a paid order becomes in the ERP: the journal entry (clearing debited,
/// receivable credited), a sales order with its lines and the payment applied
/// (its refunds then credit memos against it), or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaidOrderPosting {
    #[default]
    JournalEntry,
    SalesOrder,
    Both,
}

impl PaidOrderPosting {
    pub fn journal_entry(self) -> bool {
        self != PaidOrderPosting::SalesOrder
    }
    pub fn sales_order(self) -> bool {
        self != PaidOrderPosting::JournalEntry
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErpAdapter {
    #[default]
    Http,
    Tryton,
    Netsuite,
}

/// Where Tally posts in NetSuite. Accounts (`erp.accounts`), the subsidiary and
/// the currencies are NetSuite internal ids; the realm signs every request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetsuiteConfig {
    /// The account id as NetSuite writes it in the OAuth realm, e.g. `1234567_SB1`.
    pub account_id: String,
    pub subsidiary: String,
    /// NetSuite's internal id of each currency Tally posts in, by ISO code; an
    /// entry in a currency not listed is refused with its reason, never posted in another.
    pub currencies: std::collections::BTreeMap<String, String>,
    /// The records sales documents use (`erp.paid_orders` `sales_order`).
    pub sales: NetsuiteSalesConfig,
}

impl Default for NetsuiteConfig {
    fn default() -> Self {
        NetsuiteConfig {
            account_id: String::new(),
            subsidiary: "1".into(),
            currencies: [("USD".to_string(), "1".to_string())].into(),
            sales: NetsuiteSalesConfig::default(),
        }
    }
}

/// NetSuite internal ids for sales documents: the customer record web orders
/// are booked to, and the items their lines are sold as. The payment is a
/// customer deposit into `erp.accounts.stripe_clearing`; a refund is a credit
/// memo on `refund_item`, paid back from the same account by a customer refund.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetsuiteSalesConfig {
    pub customer: String,
    /// The item an order line is sold as unless `items` maps its SKU.
    pub item: String,
    pub items: std::collections::BTreeMap<String, String>,
    pub shipping_item: String,
    pub tax_item: String,
    pub discount_item: String,
    pub adjustment_item: String,
    pub refund_item: String,
}

impl NetsuiteSalesConfig {
    /// The first id left empty, by its configuration key.
    fn missing(&self) -> Option<&'static str> {
        [
            ("erp.netsuite.sales.customer", &self.customer),
            ("erp.netsuite.sales.item", &self.item),
            ("erp.netsuite.sales.shipping_item", &self.shipping_item),
            ("erp.netsuite.sales.tax_item", &self.tax_item),
            ("erp.netsuite.sales.discount_item", &self.discount_item),
            ("erp.netsuite.sales.adjustment_item", &self.adjustment_item),
            ("erp.netsuite.sales.refund_item", &self.refund_item),
        ]
        .into_iter()
        .find(|(_, id)| id.trim().is_empty())
        .map(|(key, _)| key)
    }

    /// The item an order line with `sku` is sold as.
    pub fn item_for(&self, sku: &str) -> &str {
        self.items.get(sku).unwrap_or(&self.item)
    }
}

/// Where Tally posts in Tryton: the database, and the journal (by code) its
/// moves go to. Accounts are found by their codes (`erp.accounts`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrytonConfig {
    pub database: String,
    pub journal: String,
}

impl Default for TrytonConfig {
    fn default() -> Self {
        TrytonConfig {
            database: "tally".into(),
            journal: "STRIPE".into(),
        }
    }
}

impl Default for ErpConfig {
    fn default() -> Self {
        ErpConfig {
            adapter: ErpAdapter::Http,
            base_url: None,
            journal_path: "/api/journal-entries".into(),
            accounts: ErpAccounts::default(),
            tryton: TrytonConfig::default(),
            netsuite: NetsuiteConfig::default(),
            paid_orders: PaidOrderPosting::JournalEntry,
            sales_order_path: "/api/sales-orders".into(),
            credit_memo_path: "/api/credit-memos".into(),
            http: HttpPolicy::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrderToCashConfig {
    /// Platform status for a declined payment. Magento: a custom status assigned
    /// to the `new` and `pending_payment` states (a comment cannot change the state,
    /// and those states stay invoiceable, so a later success still completes).
    pub failure_status: String,
    pub notify_customer_on_failure: bool,
    pub notify_customer_on_invoice: bool,
    /// The platform payment method codes whose orders Tally collects through
    /// Stripe. Orders paid any other way (check/money order, bank transfer,
    /// another gateway) are left alone. Defaults: the codes of Stripe's Magento module.
    pub payment_methods: Vec<String>,
}

impl Default for OrderToCashConfig {
    fn default() -> Self {
        OrderToCashConfig {
            failure_status: "payment_failed".into(),
            notify_customer_on_failure: true,
            notify_customer_on_invoice: true,
            payment_methods: vec!["stripe_payments".into(), "stripe_payments_checkout".into()],
        }
    }
}

impl OrderToCashConfig {
    /// Whether Tally collects an order paid with `method`.
    pub fn collects(&self, method: Option<&str>) -> bool {
        method.is_some_and(|m| self.payment_methods.iter().any(|p| p == m))
    }
}

pub(crate) fn check_url(key: &str, value: &str) -> Result<(), ConfigError> {
    let lower = value.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://"))
        || value.len() <= "http://".len()
        || value.contains(char::is_whitespace)
    {
        return Err(err(key, format!("{value:?} is not an http(s) URL")));
    }
    Ok(())
}

pub(crate) fn check_http(key: &str, p: &HttpPolicy) -> Result<(), ConfigError> {
    if p.max_retries > 10 {
        return Err(err(&format!("{key}.max_retries"), "at most 10"));
    }
    if p.retry_base_ms == 0 || p.retry_base_ms > p.max_backoff_ms {
        return Err(err(
            &format!("{key}.retry_base_ms"),
            "must be positive and not above max_backoff_ms",
        ));
    }
    if p.timeout_ms < 100 {
        return Err(err(&format!("{key}.timeout_ms"), "at least 100"));
    }
    Ok(())
}

impl TallyConfig {
    /// Parses the document (empty means all defaults) and validates it.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let text = if text.trim().is_empty() { "{}" } else { text };
        let de = &mut serde_json::Deserializer::from_str(text);
        let config: TallyConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            err(
                if path == "." { "(document)" } else { &path },
                e.inner().to_string(),
            )
        })?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        check_url("stripe.api_base", &self.stripe.api_base)?;
        let v = &self.stripe.api_version;
        let date = v.split('.').next().unwrap_or("");
        if date.len() != 10
            || !date.chars().enumerate().all(|(i, c)| {
                if i == 4 || i == 7 {
                    c == '-'
                } else {
                    c.is_ascii_digit()
                }
            })
        {
            return Err(err(
                "stripe.api_version",
                format!("{v:?} is not a Stripe API version like 2024-06-20"),
            ));
        }
        check_http("stripe.http", &self.stripe.http)?;
        if let Some(url) = &self.magento.base_url {
            check_url("magento.base_url", url)?;
        }
        if self.magento.store_code.is_empty()
            || !self
                .magento
                .store_code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(err("magento.store_code", "letters, digits and _ only"));
        }
        if !(1..=500).contains(&self.magento.page_size) {
            return Err(err("magento.page_size", "between 1 and 500"));
        }
        check_http("magento.http", &self.magento.http)?;
        if self
            .magento
            .rma_refund_resolutions
            .iter()
            .any(|r| r.trim().is_empty())
        {
            return Err(err(
                "magento.rma_refund_resolutions",
                "option ids, none empty",
            ));
        }
        if !(1..=3_650).contains(&self.magento.rma_lookback_days) {
            return Err(err("magento.rma_lookback_days", "between 1 and 3650"));
        }
        if let Some(at) = &self.customers.create_from_stripe_in {
            let key = "customers.create_from_stripe_in";
            match self.customers.create_in() {
                Some((platform, store)) if platform == "magento" => {
                    if self.magento.base_url.is_none() || store != self.magento.store_code {
                        return Err(err(
                            key,
                            format!("{at:?} is not the Magento store this deployment serves"),
                        ));
                    }
                }
                Some((platform, store)) if platform == "kentico" => {
                    if self.kentico.base_url.is_none() || store != self.kentico.site_name {
                        return Err(err(
                            key,
                            format!("{at:?} is not the Kentico site this deployment serves"),
                        ));
                    }
                }
                Some((platform, _)) => {
                    return Err(err(
                        key,
                        format!("Tally creates customers on Magento or Kentico, not on {platform}"),
                    ))
                }
                None => return Err(err(key, format!("{at:?} is not \"platform/store\""))),
            }
        }
        if let Some(url) = &self.znode.base_url {
            check_url("znode.base_url", url)?;
        }
        if self.znode.portal_id.is_empty()
            || !self.znode.portal_id.chars().all(|c| c.is_ascii_digit())
        {
            return Err(err("znode.portal_id", "a Znode portal id (digits)"));
        }
        for (key, value) in [
            ("znode.paid_payment_status", &self.znode.paid_payment_status),
            (
                "znode.refunded_payment_status",
                &self.znode.refunded_payment_status,
            ),
            ("znode.failed_order_state", &self.znode.failed_order_state),
        ] {
            if value.trim().is_empty() {
                return Err(err(key, "must not be empty"));
            }
        }
        if !(1..=500).contains(&self.znode.page_size) {
            return Err(err("znode.page_size", "between 1 and 500"));
        }
        if !(1..=1440).contains(&self.znode.token_expiration_minutes) {
            return Err(err(
                "znode.token_expiration_minutes",
                "Znode's TokenExpirationTime: 1 to 1440 minutes",
            ));
        }
        check_http("znode.http", &self.znode.http)?;
        if let Some(field) = &self.znode.stripe_customer_field {
            if !ZNODE_CUSTOM_FIELDS.contains(&field.as_str()) {
                return Err(err(
                    "znode.stripe_customer_field",
                    format!("{field:?} is not one of ZnodeUser's Custom1 to Custom5"),
                ));
            }
        }
        if self.znode.customer_list_user_id == Some(0) {
            return Err(err(
                "znode.customer_list_user_id",
                "a Znode user id (an admin of the portal), not 0",
            ));
        }
        if let Some(url) = &self.kentico.base_url {
            check_url("kentico.base_url", url)?;
        }
        let code_name = |v: &str| {
            !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        };
        for (key, value) in [
            ("kentico.site_name", &self.kentico.site_name),
            ("kentico.paid_status", &self.kentico.paid_status),
            ("kentico.failed_status", &self.kentico.failed_status),
            ("kentico.refund_table", &self.kentico.refund_table),
        ] {
            if !code_name(value) {
                return Err(err(key, format!("{value:?} is not a Kentico code name")));
            }
        }
        if !self.kentico.refund_table.contains('.') {
            return Err(err(
                "kentico.refund_table",
                "a custom table code name is namespace.name, e.g. tally.refund",
            ));
        }
        if self
            .kentico
            .paid_status
            .eq_ignore_ascii_case(&self.kentico.failed_status)
        {
            return Err(err("kentico.failed_status", "must differ from paid_status"));
        }
        if !(1..=500).contains(&self.kentico.page_size) {
            return Err(err("kentico.page_size", "between 1 and 500"));
        }
        check_http("kentico.http", &self.kentico.http)?;
        if let Some(url) = &self.erp.base_url {
            check_url("erp.base_url", url)?;
        }
        if self.erp.tryton.database.is_empty() || self.erp.tryton.database.contains('/') {
            return Err(err("erp.tryton.database", "must be a database name"));
        }
        if self.erp.tryton.journal.trim().is_empty() {
            return Err(err("erp.tryton.journal", "must name a journal's code"));
        }
        if self.erp.adapter == ErpAdapter::Netsuite {
            let id = &self.erp.netsuite.account_id;
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(err(
                    "erp.netsuite.account_id",
                    "the account id as in the OAuth realm, e.g. 1234567_SB1",
                ));
            }
            if self.erp.netsuite.subsidiary.trim().is_empty() {
                return Err(err("erp.netsuite.subsidiary", "a subsidiary's internal id"));
            }
            for (code, id) in &self.erp.netsuite.currencies {
                if code.parse::<crate::money::Currency>().is_err() || id.trim().is_empty() {
                    return Err(err(
                        "erp.netsuite.currencies",
                        "ISO currency codes to NetSuite internal ids, e.g. {\"USD\": \"1\"}",
                    ));
                }
            }
        }
        match (self.erp.adapter, self.erp.paid_orders) {
            // In a real ledger both would book the payment twice: the journal
            // entry and the sale's payment (Tryton's paid invoice, NetSuite's
            // customer deposit), each from Stripe clearing.
            (ErpAdapter::Tryton | ErpAdapter::Netsuite, PaidOrderPosting::Both) => {
                return Err(err(
                    "erp.paid_orders",
                    "with tryton or netsuite choose journal_entry or sales_order: both would book each payment twice",
                ))
            }
            (ErpAdapter::Netsuite, p) if p.sales_order() => {
                if let Some(key) = self.erp.netsuite.sales.missing() {
                    return Err(err(key, "a NetSuite internal id, needed for sales orders"));
                }
            }
            _ => {}
        }
        for (key, path) in [
            ("erp.sales_order_path", &self.erp.sales_order_path),
            ("erp.credit_memo_path", &self.erp.credit_memo_path),
        ] {
            if !path.starts_with('/') {
                return Err(err(key, "must start with /"));
            }
        }
        if !self.erp.journal_path.starts_with('/') {
            return Err(err("erp.journal_path", "must start with /"));
        }
        for (key, value) in [
            (
                "erp.accounts.stripe_clearing",
                &self.erp.accounts.stripe_clearing,
            ),
            (
                "erp.accounts.accounts_receivable",
                &self.erp.accounts.accounts_receivable,
            ),
            ("erp.accounts.refunds", &self.erp.accounts.refunds),
        ] {
            if value.trim().is_empty() {
                return Err(err(key, "must not be empty"));
            }
        }
        check_http("erp.http", &self.erp.http)?;
        for name in self.rest_platforms.keys() {
            self.rest_platform(name)?;
        }
        let status = &self.order_to_cash.failure_status;
        if status.is_empty()
            || !status
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(err(
                "order_to_cash.failure_status",
                format!("{status:?} is not a status code (lowercase letters, digits, _)"),
            ));
        }
        Ok(())
    }

    /// The declarative platform `name`, its mapping resolved and checked.
    pub fn rest_platform(
        &self,
        name: &str,
    ) -> Result<crate::commerce::declarative::RestMapping, ConfigError> {
        let document = self.rest_platforms.get(name).ok_or_else(|| {
            err(
                &format!("rest_platforms.{name}"),
                "is not configured (rest_platforms has no such entry)",
            )
        })?;
        crate::commerce::declarative::RestMapping::resolve(name, document)
    }

    /// A base URL a function needs, or an error naming the key.
    pub fn require<'a>(value: &'a Option<String>, key: &str) -> Result<&'a str, ConfigError> {
        value
            .as_deref()
            .ok_or_else(|| err(key, "is required by this function but not set"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_document_is_the_defaults() {
        let c = TallyConfig::from_json("").unwrap();
        assert_eq!(c, TallyConfig::default());
        assert_eq!(c.order_to_cash.failure_status, "payment_failed");
        assert_eq!(c.stripe.api_version, "2024-06-20");
    }

    #[test]
    fn partial_documents_override_only_their_keys() {
        let c = TallyConfig::from_json(
            r#"{"magento":{"base_url":"http://127.0.0.1:4610"},"erp":{"accounts":{"stripe_clearing":"1105"}}}"#,
        )
        .unwrap();
        assert_eq!(c.magento.base_url.as_deref(), Some("http://127.0.0.1:4610"));
        assert_eq!(c.magento.store_code, "default");
        assert_eq!(c.erp.accounts.stripe_clearing, "1105");
        assert_eq!(c.erp.accounts.accounts_receivable, "1200");
    }

    #[test]
    fn customers_are_created_only_in_a_magento_store_or_kentico_site_served() {
        let at = |doc: &str| TallyConfig::from_json(doc).map(|c| c.customers.create_in());
        let magento = r#""magento":{"base_url":"http://127.0.0.1:4610"}"#;
        assert_eq!(
            at(&format!(
                r#"{{{magento},"customers":{{"create_from_stripe_in":"magento/default"}}}}"#
            ))
            .unwrap(),
            Some(("magento".into(), "default".into()))
        );
        assert_eq!(
            at(r#"{"kentico":{"base_url":"http://127.0.0.1:4650"},"customers":{"create_from_stripe_in":"kentico/DancingGoat"}}"#)
            .unwrap(),
            Some(("kentico".into(), "DancingGoat".into()))
        );
        for (doc, says) in [
            (
                format!(r#"{{{magento},"customers":{{"create_from_stripe_in":"magento/other"}}}}"#),
                "not the Magento store",
            ),
            (
                r#"{"customers":{"create_from_stripe_in":"magento/default"}}"#.to_string(),
                "not the Magento store",
            ),
            (
                format!(
                    r#"{{{magento},"customers":{{"create_from_stripe_in":"kentico/DancingGoat"}}}}"#
                ),
                "not the Kentico site",
            ),
            (
                format!(r#"{{{magento},"customers":{{"create_from_stripe_in":"znode/1"}}}}"#),
                "Magento or Kentico",
            ),
            (
                format!(r#"{{{magento},"customers":{{"create_from_stripe_in":"magento"}}}}"#),
                "platform/store",
            ),
        ] {
            let e = at(&doc).unwrap_err();
            assert_eq!(e.key, "customers.create_from_stripe_in");
            assert!(e.message.contains(says), "{e}");
        }
    }

    #[test]
    fn bad_values_name_their_key() {
        for (doc, key) in [
            (r#"{"stripe":{"api_base":"ftp://x"}}"#, "stripe.api_base"),
            (
                r#"{"rest_platforms":{"clarity":{"preset":"clarity","base_url":"https://c.example.com","order":{"id":"id"}}}}"#,
                "rest_platforms.clarity.order.id",
            ),
            (
                r#"{"rest_platforms":{"shop":{"base_url":"https://s.example.com"}}}"#,
                "rest_platforms.shop",
            ),
            (
                r#"{"stripe":{"api_version":"latest"}}"#,
                "stripe.api_version",
            ),
            (
                r#"{"erp":{"accounts":{"stripe_clearing":" "}}}"#,
                "erp.accounts.stripe_clearing",
            ),
            (
                r#"{"order_to_cash":{"failure_status":"Payment Failed"}}"#,
                "order_to_cash.failure_status",
            ),
            (r#"{"magento":{"page_size":0}}"#, "magento.page_size"),
            (
                r#"{"magento":{"http":{"max_retries":"3"}}}"#,
                "magento.http.max_retries",
            ),
            (r#"{"magento":{"colour":"red"}}"#, "magento.colour"),
            (
                r#"{"znode":{"stripe_customer_field":"ExternalId"}}"#,
                "znode.stripe_customer_field",
            ),
            (
                r#"{"znode":{"customer_list_user_id":0}}"#,
                "znode.customer_list_user_id",
            ),
            (
                r#"{"kentico":{"paid_status":"Payment Received"}}"#,
                "kentico.paid_status",
            ),
            (
                r#"{"kentico":{"refund_table":"refunds"}}"#,
                "kentico.refund_table",
            ),
            (
                r#"{"kentico":{"failed_status":"paymentreceived"}}"#,
                "kentico.failed_status",
            ),
            (r#"{"kentico":{"base_url":"kentico"}}"#, "kentico.base_url"),
            (r#"{"erp":{"adapter":"sap"}}"#, "erp.adapter"),
            (
                r#"{"erp":{"tryton":{"database":"a/b"}}}"#,
                "erp.tryton.database",
            ),
            (
                r#"{"erp":{"tryton":{"journal":" "}}}"#,
                "erp.tryton.journal",
            ),
            (
                r#"{"erp":{"adapter":"netsuite"}}"#,
                "erp.netsuite.account_id",
            ),
            (
                r#"{"erp":{"adapter":"tryton","paid_orders":"both"}}"#,
                "erp.paid_orders",
            ),
            (r#"{"erp":{"paid_orders":"invoice"}}"#, "erp.paid_orders"),
            (
                r#"{"erp":{"adapter":"netsuite","netsuite":{"account_id":"1_SB1"},"paid_orders":"both"}}"#,
                "erp.paid_orders",
            ),
            (
                r#"{"erp":{"adapter":"netsuite","netsuite":{"account_id":"1_SB1"},"paid_orders":"sales_order"}}"#,
                "erp.netsuite.sales.customer",
            ),
            (
                r#"{"erp":{"adapter":"netsuite","paid_orders":"sales_order","netsuite":{"account_id":"1_SB1",
                    "sales":{"customer":"501","item":"20","shipping_item":"21","tax_item":"22",
                             "discount_item":"23","adjustment_item":"24"}}}}"#,
                "erp.netsuite.sales.refund_item",
            ),
            (
                r#"{"erp":{"adapter":"netsuite","netsuite":{"account_id":"123_SB1","currencies":{"XYZ":"9"}}}}"#,
                "erp.netsuite.currencies",
            ),
        ] {
            let e = TallyConfig::from_json(doc).unwrap_err();
            assert!(
                e.key.starts_with(key.split('.').next().unwrap()),
                "{doc}: {e}"
            );
            assert!(
                e.to_string().contains(key) || e.to_string().contains("colour"),
                "{doc}: {e}"
            );
        }
        let missing = TallyConfig::require(&None, "erp.base_url").unwrap_err();
        assert_eq!(missing.key, "erp.base_url");
    }

    #[test]
    fn the_erp_adapter_is_chosen_by_configuration() {
        assert_eq!(TallyConfig::default().erp.adapter, ErpAdapter::Http);
        let sales =
            TallyConfig::from_json(r#"{"erp":{"adapter":"tryton","paid_orders":"sales_order"}}"#)
                .unwrap();
        assert!(sales.erp.paid_orders.sales_order() && !sales.erp.paid_orders.journal_entry());
        let tryton = TallyConfig::from_json(
            r#"{"erp":{"adapter":"tryton","base_url":"https://books.example.com","tryton":{"database":"books"}}}"#,
        )
        .unwrap();
        assert_eq!(tryton.erp.adapter, ErpAdapter::Tryton);
        assert_eq!(
            (
                tryton.erp.tryton.database.as_str(),
                tryton.erp.tryton.journal.as_str()
            ),
            ("books", "STRIPE")
        );
    }
}
