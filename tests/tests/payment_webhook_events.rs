//! The `payment-webhook` samples in `events/` (one per provider and event type) go through the
//! function's router exactly as the Lambda receives them (API Gateway REST proxy JSON →
//! `lambda_http` request). Their bodies name a sample order and are signed with sample secrets;
//! here each is pointed at a real order of the test runtime (its ids and amount substituted)
//! and signed again with the runtime's secrets, as the provider would sign a delivery to it.
//!
//! Regenerate the samples with
//! `cargo test -p cy-tests --test payment_webhook_events -- --ignored write_samples`.

use std::path::{Path, PathBuf};

use axum::body::Body;
use cy_domain::order::OrderStatus;
use cy_domain::payment::PaymentProvider;
use cy_domain::{Currency, Money, OrderId, RefundId};
use cy_payments::events::{SampleFacts, event_types, sample_event};
use cy_tests::TestApp;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};

const SAMPLE_ORDER: &str = "ord_01JDX5Q6Z7W8V9T0R1S2P3N4M5";
const SAMPLE_REFUND: &str = "rfd_01JDX5Q6Z7W8V9T0R1S2P3N4M6";
const SAMPLE_AMOUNT: i64 = 424_242;

fn sample_ids(provider: PaymentProvider) -> (&'static str, &'static str, &'static str) {
    // (reference, payment id, provider refund id), shaped like each provider's.
    match provider {
        PaymentProvider::Stripe => ("pi_3QSample0Reference01", "pi_3QSample0Reference01", "re_3QSample0Refund0001"),
        PaymentProvider::Razorpay => ("order_SampleRef00001", "pay_SamplePay000001", "rfnd_SampleRfnd00001"),
        PaymentProvider::Paypal => ("5O190127TN364715T", "3C679366HH908993F", "1JU08902781691411"),
    }
}

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn file_name(provider: PaymentProvider, event_type: &str) -> String {
    let provider = provider.as_str();
    format!("payment-webhook-{provider}-{}.json", event_type.to_lowercase().replace('.', "-"))
}

const PROVIDERS: [PaymentProvider; 3] = PaymentProvider::ALL;

fn headers_of(provider: PaymentProvider) -> Vec<(&'static str, &'static str)> {
    let agent = match provider {
        PaymentProvider::Stripe => "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        PaymentProvider::Razorpay => "Razorpay-Webhook/v1",
        PaymentProvider::Paypal => "PayPal/AUHR-214.0-58692683",
    };
    vec![("Content-Type", "application/json; charset=utf-8"), ("User-Agent", agent)]
}

/// An API Gateway REST proxy event carrying `body` to `/webhooks/<provider>`.
fn api_gateway_event(provider: PaymentProvider, body: &str, signed: &[(String, String)]) -> Value {
    let path = format!("/webhooks/{}", provider.as_str());
    let mut headers = serde_json::Map::new();
    for (k, v) in headers_of(provider) {
        headers.insert(k.to_owned(), json!(v));
    }
    for (k, v) in signed {
        headers.insert(k.clone(), json!(v));
    }
    headers.insert("Host".into(), json!("abc123defg.execute-api.eu-west-1.amazonaws.com"));
    headers.insert("X-Forwarded-Proto".into(), json!("https"));
    let multi: serde_json::Map<String, Value> = headers.iter().map(|(k, v)| (k.clone(), json!([v]))).collect();
    json!({
        "resource": path, "path": path, "httpMethod": "POST",
        "headers": headers, "multiValueHeaders": multi,
        "queryStringParameters": null, "multiValueQueryStringParameters": null,
        "pathParameters": null, "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012", "resourceId": "wh0k5x", "path": format!("/v1{path}"), "stage": "v1",
            "domainName": "abc123defg.execute-api.eu-west-1.amazonaws.com", "domainPrefix": "abc123defg",
            "requestId": "0f6c3c61-5b1e-4d8e-9f2a-5c3b8e7d9a10", "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "54.187.174.169", "userAgent": headers_of(provider)[1].1},
            "resourcePath": path, "httpMethod": "POST",
            "requestTime": "25/Nov/2026:08:15:09 +0000", "requestTimeEpoch": 1_795_594_509_000_i64,
            "apiId": "abc123defg"
        },
        "body": body, "isBase64Encoded": false
    })
}

/// Writes the samples: sample facts, signed with sample secrets (documented in README) and, for
/// PayPal, a throwaway key (a PayPal sample can only be checked by re-signing it).
#[test]
#[ignore = "writes events/; run by hand to regenerate"]
fn write_samples() {
    let inr = Currency::parse("INR").unwrap();
    let created = 1_795_594_500;
    let paypal = cy_payments::certs::TestCertificate::generate().unwrap();
    for provider in PROVIDERS {
        let (reference, payment_id, provider_refund_id) = sample_ids(provider);
        let facts = SampleFacts {
            order_id: OrderId::parse(SAMPLE_ORDER).unwrap(),
            reference: reference.into(),
            payment_id: payment_id.into(),
            amount: Money::new(SAMPLE_AMOUNT, inr).unwrap(),
            refund_id: Some(RefundId::parse(SAMPLE_REFUND).unwrap()),
            provider_refund_id: provider_refund_id.into(),
        };
        for (n, event_type) in event_types(provider).iter().enumerate() {
            let event_id = match provider {
                PaymentProvider::Stripe => format!("evt_3QSample0Event00{n:02}"),
                PaymentProvider::Razorpay => String::new(),
                PaymentProvider::Paypal => format!("WH-SAMPLE{n:02}-7Y6956404K1539105"),
            };
            let body =
                String::from_utf8(sample_event(provider, event_type, &facts, &event_id, created).unwrap()).unwrap();
            let signed: Vec<(String, String)> = match provider {
                PaymentProvider::Stripe => vec![(
                    "Stripe-Signature".into(),
                    cy_payments::events::sign_stripe(body.as_bytes(), "whsec_sample_only_not_a_real_secret", created),
                )],
                PaymentProvider::Razorpay => vec![
                    (
                        "X-Razorpay-Signature".into(),
                        cy_payments::events::sign_razorpay(body.as_bytes(), "sample_only_not_a_real_secret"),
                    ),
                    ("X-Razorpay-Event-Id".into(), format!("SampleEvt{n:05}")),
                ],
                PaymentProvider::Paypal => cy_payments::certs::sign_paypal(
                    &paypal.key_pkcs8_pem,
                    &format!("b2384410-f8d2-11ee-9bcf-{n:012}"),
                    "2026-11-25T08:15:00Z",
                    "WH-SAMPLE-WEBHOOK-ID",
                    body.as_bytes(),
                    "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77",
                )
                .unwrap()
                .into_iter()
                .map(|(k, v)| (k.to_uppercase(), v))
                .collect(),
            };
            let event = api_gateway_event(provider, &body, &signed);
            let text = serde_json::to_string_pretty(&event).unwrap() + "\n";
            std::fs::write(events_dir().join(file_name(provider, event_type)), text).unwrap();
        }
    }
}

/// What the order should be after each sample, from the state the test puts it in first.
fn expected_status(event_type: &str) -> OrderStatus {
    match event_type {
        "payment_intent.succeeded" | "payment.captured" | "PAYMENT.CAPTURE.COMPLETED" => OrderStatus::Paid,
        "payment_intent.payment_failed" | "payment.failed" | "PAYMENT.CAPTURE.DENIED" => OrderStatus::PaymentFailed,
        "charge.refunded" | "refund.processed" | "PAYMENT.CAPTURE.REFUNDED" => OrderStatus::Refunded,
        // The cancellation's refund failed: the order stays paid (and is flagged for admins).
        "refund.failed" => OrderStatus::Paid,
        // The approval asks for a capture; the simulator's is pending until its webhook.
        "CHECKOUT.ORDER.APPROVED" => OrderStatus::PendingPayment,
        other => panic!("no expectation for {other}"),
    }
}

#[tokio::test]
async fn every_payment_webhook_sample_is_applied_through_the_function_router() {
    // SAFETY: set before other threads of this test binary read the environment (as in
    // sample_events.rs; the template sets it for the deployed functions).
    unsafe { std::env::set_var("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true") };
    let app = TestApp::with_demo(true).await;
    let customer = app.login("customer@demo.customiseyou.local", "demo-customer-pass").await;
    let buyer = customer.body["access_token"].as_str().unwrap().to_owned();
    let mugs = app.call(Method::GET, "/products?q=mug", None, None).await;
    let mug = mugs.body["items"][0]["id"].as_str().unwrap().to_owned();
    let product = app.call(Method::GET, &format!("/products/{mug}"), None, None).await.body;
    let option =
        |name: &str| product["options"].as_array().unwrap().iter().find(|o| o["name"] == name).unwrap().clone();
    let colour = option("Colour");
    let customizations = json!({
        option("Engraving")["id"].as_str().unwrap(): "ASHA",
        colour["id"].as_str().unwrap(): colour["choices"][0]["id"],
    });
    let addresses = app.call(Method::GET, "/me/addresses", Some(&buyer), None).await;
    let address = addresses.body["items"][0]["id"].as_str().unwrap().to_owned();
    let router = cy_http::finish(cy_api::payments::router(app.local.services.webhooks.clone()));
    let mut seen = 0;
    for provider in PROVIDERS {
        for event_type in event_types(provider) {
            let file = file_name(provider, event_type);
            let raw = std::fs::read_to_string(events_dir().join(&file)).unwrap_or_else(|_| panic!("{file} is missing"));
            let mut event: Value = serde_json::from_str(&raw).unwrap();
            // A fresh order; refunds need it paid first.
            let name = provider.as_str();
            let body = json!({"items": [{"product_id": mug, "quantity": 1, "customizations": customizations}],
                "address_id": address, "payment_provider": name});
            let placed = app.call(Method::POST, "/orders", Some(&buyer), Some(body)).await;
            assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
            let id = OrderId::parse(placed.body["order"]["id"].as_str().unwrap()).unwrap();
            let order = cy_data::orders::get_order(app.store().as_ref(), &id).await.unwrap().unwrap();
            let mut facts = customiseyou_local::webhooks::facts(&order, &app.local.simulator).unwrap();
            let refund_failure = event_type.ends_with("refund.failed");
            if expected_status(event_type) == OrderStatus::Refunded || refund_failure {
                let success = ["payment_intent.succeeded", "payment.captured", "PAYMENT.CAPTURE.COMPLETED"]
                    [PROVIDERS.iter().position(|p| *p == provider).unwrap()];
                let paid = customiseyou_local::webhooks::event_body(provider, success, &facts, None).unwrap();
                let answer =
                    cy_tests::send(app.router(), app.local.webhook_signer.request(provider, paid).unwrap()).await;
                assert_eq!(answer.body["status"], "paid", "{file}: {}", answer.body);
                if refund_failure {
                    // The customer cancels: the refund the sample reports failed.
                    let cancel = app.call(Method::POST, &format!("/orders/{id}/cancel"), Some(&buyer), None).await;
                    assert_eq!(cancel.status, StatusCode::ACCEPTED, "{file}: {}", cancel.body);
                }
                let order = cy_data::orders::get_order(app.store().as_ref(), &id).await.unwrap().unwrap();
                facts = customiseyou_local::webhooks::facts(&order, &app.local.simulator).unwrap();
            }
            let (sample_refund, ours) = match &facts.latest_refund {
                Some(r) if refund_failure => (
                    [SAMPLE_REFUND, sample_ids(provider).2],
                    [r.refund_id.as_str().to_owned(), r.provider_refund_id.clone().unwrap()],
                ),
                _ => ([SAMPLE_REFUND; 2], [SAMPLE_REFUND.to_owned(), SAMPLE_REFUND.to_owned()]),
            };
            // Point the sample at this order, then sign it as the provider would sign for us.
            let (reference, payment_id, _) = sample_ids(provider);
            let amount = order.total;
            let body = event["body"]
                .as_str()
                .unwrap()
                .replace(SAMPLE_ORDER, id.as_str())
                .replace(reference, &facts.reference)
                .replace(payment_id, &facts.payment_id)
                .replace(
                    &Money::new(SAMPLE_AMOUNT, amount.currency).unwrap().to_decimal_string(),
                    &amount.to_decimal_string(),
                )
                .replace(&SAMPLE_AMOUNT.to_string(), &amount.amount.to_string())
                .replace(sample_refund[0], &ours[0])
                .replace(sample_refund[1], &ours[1]);
            let mut headers = event["headers"].as_object().unwrap().clone();
            headers.retain(|k, _| {
                let k = k.to_lowercase();
                !(k.starts_with("paypal-") || k == "stripe-signature" || k == "x-razorpay-signature")
            });
            for (k, v) in app.local.webhook_signer.headers(provider, body.as_bytes()).unwrap() {
                headers.insert(k, json!(v));
            }
            event["multiValueHeaders"] = Value::Object(headers.iter().map(|(k, v)| (k.clone(), json!([v]))).collect());
            event["headers"] = Value::Object(headers);
            event["body"] = json!(body);
            let request = lambda_http::request::from_str(&event.to_string()).unwrap_or_else(|e| panic!("{file}: {e}"));
            let (parts, body) = request.into_parts();
            let request = http::Request::from_parts(parts, Body::from(body.to_vec()));
            let response = tower::ServiceExt::oneshot(router.clone(), request).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let answer: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(status, StatusCode::OK, "{file}: {answer}");
            assert_ne!(answer["outcome"], "flagged", "{file}: {answer}");
            let after = cy_data::orders::get_order(app.store().as_ref(), &id).await.unwrap().unwrap();
            assert_eq!(after.status, expected_status(event_type), "{file}: {answer}");
            seen += 1;
        }
    }
    assert_eq!(seen, 12, "one sample per provider and event type");
}
