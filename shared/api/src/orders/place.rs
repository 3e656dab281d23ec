//! Placing an order: the quote it is charged from, one transaction that reserves everything,
//! then the payment opened with the provider; and the first answer kept, so a retry with the
//! same key gets exactly it.

use cy_data::idempotency::{self as claims, Scope, StoredAnswer};
use cy_data::orders::{self as records, CouponLimits, PlaceLimits, PlaceRefused};
use cy_data::payments as payment_records;
use cy_data::{WriteOp, accounts, catalog};
use cy_domain::order::{Actor, Order, OrderStatus, RESERVATION_SECS, fulfilment};
use cy_domain::payment::PaymentProvider;
use cy_domain::{Address, AddressId, Error, ErrorCode, OrderId, Timestamp};
use cy_http::Caller;
use cy_payments::{PaymentError, PaymentIntent};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Orders;
use crate::idempotency::key_reused;
use crate::pricing::{QuoteBody, QuoteItem, SignedQuote};

/// `POST /orders`: `quote_token` or `items`, an address, a provider.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceBody {
    /// From `POST /quotes`: the order is charged exactly the quote (else give `items`).
    quote_token: Option<String>,
    items: Option<Vec<QuoteItem>>,
    coupon: Option<String>,
    #[schema(value_type = cy_domain::AddressId)]
    address_id: String,
    #[schema(value_type = cy_domain::payment::PaymentProvider)]
    payment_provider: String,
}

/// The answer to `POST /orders`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Placed {
    order: Order,
    payment: PaymentIntent,
}

/// An answer to replay or to give: its status and JSON body.
pub(crate) struct Answer {
    pub status: u16,
    pub body: Value,
}

/// What an earlier request with the same key did.
enum Earlier {
    Nothing,
    Answered(Answer),
    Placed(OrderId),
}

/// The context a kept answer is sealed under (bound to its order).
fn answer_context(order: &OrderId) -> String {
    format!("idempotency-answer:{order}")
}

impl Orders {
    /// The sealed quote an order is placed from: the client's token (verified, theirs, bound to
    /// an address) or a quote made now from items, through the very same pricing. Also returns
    /// the delivery address when the quote was made now (read in its batch).
    async fn quote_for(&self, caller: &Caller, body: &PlaceBody) -> Result<(SignedQuote, Option<Address>), Error> {
        match (&body.quote_token, &body.items) {
            (Some(token), None) => {
                if body.coupon.is_some() {
                    return Err(Error::invalid("coupon", "is part of the quote; ask for a new quote to change it"));
                }
                let quote = self.quoting.signer.verify(token, Timestamp::now())?;
                if quote.customer_id != caller.user_id {
                    return Err(Error::invalid("quote_token", "was issued to someone else"));
                }
                // Tax depends on the destination: a quote is only as good as the address it priced.
                if quote.address_id.as_deref() != Some(body.address_id.as_str()) {
                    return Err(Error::invalid(
                        "address_id",
                        "must be the address the quote was made for (quote with address_id)",
                    ));
                }
                Ok((quote, None))
            }
            (None, Some(items)) => {
                let parsed =
                    QuoteBody::new(items.clone(), body.coupon.clone(), Some(body.address_id.clone())).parse()?;
                let (quote, _, address) = self.quoting.quote(caller, parsed).await?;
                Ok((quote, address))
            }
            _ => Err(Error::invalid("quote_token", "send either quote_token or items")),
        }
    }

    /// What an earlier request with this key and body did: its answer, kept as it was (status
    /// and body, whatever the order is now), or the order it placed before its answer was kept.
    /// 409 for the key used with another body or on another endpoint.
    async fn earlier(&self, caller: &Caller, key: &str, request_sha256: &str) -> Result<Earlier, Error> {
        let Some(claim) = claims::claim(self.store.as_ref(), &caller.user_id, key).await? else {
            return Ok(Earlier::Nothing);
        };
        claim.check_scope(Scope::Order)?;
        if claim.request_sha256 != request_sha256 {
            return Err(key_reused());
        }
        let order = OrderId::parse(&claim.created).map_err(|_| key_reused())?;
        match claim.answer {
            Some(kept) => Ok(Earlier::Answered(self.open_answer(&order, kept)?)),
            None => Ok(Earlier::Placed(order)),
        }
    }

    /// Answers a retry from what the earlier request did: its kept answer; or, for an order
    /// placed whose answer was never kept (the first attempt died opening the payment), the
    /// payment opened for it now — never a new quote, which might say otherwise (a coupon used
    /// up by this very order, a quote expired since).
    async fn answer_earlier(&self, caller: &Caller, key: &str, earlier: Earlier) -> Result<Option<Answer>, Error> {
        match earlier {
            Earlier::Nothing => Ok(None),
            Earlier::Answered(answer) => Ok(Some(answer)),
            Earlier::Placed(id) => {
                let order = records::get_order(self.store.as_ref(), &id).await?.ok_or_else(Error::internal)?;
                Ok(Some(self.open_payment(caller, key, order).await?))
            }
        }
    }

    fn open_answer(&self, order: &OrderId, kept: StoredAnswer) -> Result<Answer, Error> {
        let text = if kept.sealed { self.data_key.open(&kept.body, &answer_context(order))? } else { kept.body.into() };
        let body = serde_json::from_slice(&text).map_err(|_| Error::internal())?;
        Ok(Answer { status: kept.status, body })
    }

    /// Places an order (see the module's doc). `key` is the client's `Idempotency-Key`; without
    /// one, the quote's id is the key, so one quote makes at most one order.
    pub(crate) async fn place(
        &self,
        caller: &Caller,
        body: PlaceBody,
        request_sha256: String,
        key: Option<String>,
    ) -> Result<Answer, Error> {
        // A retry gets the first answer before anything is decided again (a product archived
        // since, a coupon used up since: the order was placed, and the retry says so).
        if let Some(key) = &key {
            let earlier = self.earlier(caller, key, &request_sha256).await?;
            if let Some(answer) = self.answer_earlier(caller, key, earlier).await? {
                return Ok(answer);
            }
        }
        let provider = PaymentProvider::parse(&body.payment_provider)
            .map_err(|e| Error::invalid("payment_provider", e.message))?;
        let address_id = AddressId::parse(&body.address_id)
            .map_err(|_| Error::invalid("address_id", "is not one of your addresses"))?;
        let (quote, address) = match self.quote_for(caller, &body).await {
            Ok(quoted) => quoted,
            // An expired token whose order was placed: the retry answers what it got.
            Err(e) if key.is_none() && body.quote_token.is_some() => {
                let token = body.quote_token.as_deref().unwrap_or_default();
                let Ok(sealed) = self.quoting.signer.verify_signature(token) else { return Err(e) };
                let key = format!("quote:{}", sealed.quote_id);
                let earlier = self.earlier(caller, &key, &request_sha256).await?;
                return self.answer_earlier(caller, &key, earlier).await?.ok_or(e);
            }
            Err(e) => return Err(e),
        };
        // Without a key of its own, the quote is the key: one quote makes at most one order (a
        // retry of a quote's order finds its claim in the transaction, below).
        let key = key.unwrap_or_else(|| format!("quote:{}", quote.quote_id));
        let address = match address {
            Some(address) => address,
            None => accounts::get_address(self.store.as_ref(), &caller.user_id, &address_id)
                .await?
                .ok_or_else(|| Error::invalid("address_id", "is not one of your addresses"))?,
        };
        let coupon = match &quote.coupon {
            Some(code) => Some(
                catalog::get_coupon(self.store.as_ref(), code)
                    .await?
                    .ok_or_else(|| Error::invalid("coupon", "does not exist"))?,
            ),
            None => None,
        };
        let now = Timestamp::now();
        let fulfilments = fulfilment::split(&quote.lines, &quote.shipping_by_seller, OrderStatus::PendingPayment, now)?;
        let order = Order {
            id: OrderId::generate(),
            customer_id: caller.user_id.clone(),
            status: OrderStatus::PendingPayment,
            lines: quote.lines.clone(),
            fulfilments,
            subtotal: quote.subtotal,
            discount: quote.discount,
            shipping: quote.shipping,
            tax: quote.tax,
            total: quote.total,
            address,
            payment_provider: provider,
            quote_id: Some(quote.quote_id.clone()),
            coupon: quote.coupon.clone(),
            payment: None,
            reserved_until: now.plus_secs(RESERVATION_SECS),
            holds_unpaid_slot: true,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let limits = PlaceLimits {
            max_unpaid: self.rules.max_unpaid_orders,
            coupon: coupon
                .map(|c| CouponLimits { max_redemptions: c.max_redemptions, per_customer_limit: c.per_customer_limit }),
        };
        let placed = records::place_order(self.store.as_ref(), &order, Some((&key, &request_sha256)), &limits).await?;
        let order = match placed {
            Ok(()) => order,
            Err(PlaceRefused::OutOfStock(product)) => {
                return Err(Error::conflict(
                    ErrorCode::OutOfStock,
                    "A product does not have enough stock for this order.",
                )
                .with_detail("product_id", product.as_str()));
            }
            Err(PlaceRefused::TooManyUnpaid { limit }) => {
                return Err(Error::conflict(
                    ErrorCode::TooManyUnpaidOrders,
                    format!("You have {limit} unpaid orders; pay or cancel one before placing another."),
                )
                .with_detail("limit", limit));
            }
            Err(PlaceRefused::CouponExhausted { per_customer }) => {
                let why =
                    if per_customer { "has been used as often as one customer may" } else { "has been fully redeemed" };
                return Err(Error::conflict(ErrorCode::CouponExhausted, format!("The coupon {why}."))
                    .with_detail("coupon", why));
            }
            Err(PlaceRefused::KeyUsed { order_id, same_request: true }) => {
                if let Earlier::Answered(answer) = self.earlier(caller, &key, &request_sha256).await? {
                    return Ok(answer);
                }
                // A retry of a request that already made its order, before its answer was kept
                // (the first attempt is still opening the payment, or died doing so): finish it.
                records::get_order(self.store.as_ref(), &order_id).await?.ok_or_else(Error::internal)?
            }
            Err(PlaceRefused::KeyUsed { same_request: false, .. }) => return Err(key_reused()),
        };
        self.open_payment(caller, &key, order).await
    }

    /// Opens the order's payment (idempotent per order with the provider), records its reference
    /// and keeps the answer on the key's claim in the same transaction.
    async fn open_payment(&self, caller: &Caller, key: &str, order: Order) -> Result<Answer, Error> {
        if order.payment.is_none() && order.status != OrderStatus::PendingPayment {
            // A retry of a request whose payment the provider refused to open: its order was
            // cancelled then, and no payment may be opened for it now.
            return Err(Error::conflict(
                ErrorCode::InvalidTransition,
                "This order was cancelled: the payment provider refused to open its payment.",
            )
            .with_detail("order_id", order.id.as_str()));
        }
        let payment = match (&order.payment, order.payment_provider) {
            // Razorpay orders take no idempotency key: a replay answers the one recorded.
            (Some(recorded), PaymentProvider::Razorpay) => recorded_intent(&order, &recorded.reference),
            // Stripe and PayPal creations are idempotent per order (their idempotency keys),
            // so a replay gets the same payment back, with its client secret or approval link.
            _ => match self.payments.create_payment(order.payment_provider, &order.id, order.total).await {
                Ok(payment) => payment,
                Err(declined @ PaymentError::Declined { .. }) => return Err(self.call_off(&order, declined).await),
                Err(e) => {
                    tracing::warn!(order_id = %order.id, error = %e, "creating the payment failed; the client may retry with the same key");
                    return Err(Error::unavailable(2).with_detail("order_id", order.id.as_str()));
                }
            },
        };
        let answer_of = |order: &Order| -> Result<(Value, StoredAnswer), Error> {
            // Two first attempts at once (a double submit with one key) may each have opened a
            // Razorpay order; only the recorded one is found by webhooks, so every answer names
            // it — never an orphan the customer could pay but we would not recognise.
            let payment = match &order.payment {
                Some(recorded) if recorded.reference != payment.reference => {
                    recorded_intent(order, &recorded.reference)
                }
                _ => payment.clone(),
            };
            let body = serde_json::to_value(Placed { order: order.clone(), payment }).map_err(|_| Error::internal())?;
            let text = serde_json::to_vec(&body).map_err(|_| Error::internal())?;
            let sealed = self.data_key.seal(&text, &answer_context(&order.id))?;
            Ok((body, StoredAnswer { status: 201, body: sealed, sealed: true }))
        };
        let keep = |recorded: &Order| -> Result<Vec<WriteOp>, Error> {
            Ok(vec![claims::answer_write(&caller.user_id, key, &answer_of(recorded)?.1)?])
        };
        // Which order the provider's reference belongs to, so its webhooks find it; the answer
        // is kept in the same transaction.
        let (order, recorded_now) =
            payment_records::record_payment_reference(self.store.as_ref(), &order, &payment.reference, &keep).await?;
        let (body, answer) = answer_of(&order)?;
        if recorded_now {
            return Ok(Answer { status: 201, body });
        }
        // The payment was recorded by another attempt, which may not have lived to keep its
        // answer: keep ours unless one is kept, then answer whichever was kept first.
        claims::record_answer(self.store.as_ref(), &caller.user_id, key, &answer).await?;
        let claim = claims::claim(self.store.as_ref(), &caller.user_id, key).await?.ok_or_else(Error::internal)?;
        self.open_answer(&order.id, claim.answer.ok_or_else(Error::internal)?)
    }

    /// The provider will never take this order's payment (an amount under its minimum, a
    /// currency it does not take): the order is cancelled at once, giving its stock back now
    /// rather than when its reservation ends, and the answer is the provider's refusal (409).
    async fn call_off(&self, order: &Order, declined: PaymentError) -> Error {
        tracing::warn!(order_id = %order.id, error = %declined, "the provider refused to open the payment; cancelling the order");
        if order.status == OrderStatus::PendingPayment {
            let note = format!("the payment could not be opened: {declined}");
            let moved = records::move_order(
                self.store.as_ref(),
                order,
                OrderStatus::Cancelled,
                Actor::System,
                None,
                Some(note),
            )
            .await;
            if let Err(e) = moved {
                // The reservation sweep cancels it when its time is up.
                tracing::warn!(order_id = %order.id, error = %e, "cancelling the order failed");
            }
        }
        Error::from(declined).with_detail("order_id", order.id.as_str())
    }
}

/// The payment already recorded for an order, answered without asking the provider again
/// (Razorpay's checkout needs only its order id).
fn recorded_intent(order: &Order, reference: &str) -> PaymentIntent {
    PaymentIntent {
        provider: order.payment_provider,
        reference: reference.to_owned(),
        amount: order.total,
        client_secret: None,
        redirect_url: None,
    }
}
