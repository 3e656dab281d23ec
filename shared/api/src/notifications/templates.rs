//! What each notification says, per event type: a title (the email's subject and the push's
//! title), a short body (in-app, push and SMS) and an email body. Templates are minijinja, kept
//! here as text so a change of wording is a change of one line, and rendered strictly: a
//! variable the event does not carry is an error, not an empty gap in a customer's mail.

use std::sync::LazyLock;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// `(name, template)`: `<kind>.title`, `<kind>.body`, `<kind>.email` for every kind noticed.
const TEMPLATES: &[(&str, &str)] = &[
    ("order.created.title", "New order {{ order_id }}"),
    ("order.created.body", "A customer ordered from you ({{ total }}). It is yours to prepare once paid."),
    (
        "order.created.email",
        "Hello {{ name }},\n\nA customer placed order {{ order_id }} with your products ({{ total }}).\n\
         You will be told when it is paid; then prepare and ship your part from your dashboard.\n\n— CustomiseYou",
    ),
    ("order.status_changed.title", "{{ headline }}"),
    (
        "order.status_changed.body",
        "Order {{ order_id }}: {{ headline | lower }}.{% if tracking %} Tracking: {{ tracking }}.{% endif %}",
    ),
    (
        "order.status_changed.email",
        "Hello {{ name }},\n\n{{ headline }} — order {{ order_id }}.\n\
         {% if tracking %}Tracking: {{ tracking }}\n{% endif %}\
         You can follow it any time in your orders.\n\n— CustomiseYou",
    ),
    ("order.refunded.title", "A refund is on its way"),
    ("order.refunded.body", "{{ amount }} of order {{ order_id }} is being refunded to you."),
    (
        "order.refunded.email",
        "Hello {{ name }},\n\nWe are refunding {{ amount }} of order {{ order_id }} to the way you paid.\n\
         Banks usually show it within 5–10 working days.\n\n— CustomiseYou",
    ),
    (
        "seller.kyc_decided.title",
        "{% if approved %}You are verified{% else %}Your verification needs another look{% endif %}",
    ),
    (
        "seller.kyc_decided.body",
        "{% if approved %}Your shop is verified: you can list products and receive payouts.\
         {% else %}It was not approved: {{ reason }}. Please submit it again.{% endif %}",
    ),
    (
        "seller.kyc_decided.email",
        "Hello {{ name }},\n\n{% if approved %}Your shop is verified: you can list products and receive payouts.\
         {% else %}Your verification was not approved: {{ reason }}.\nPlease correct it and submit it again from \
         your dashboard.{% endif %}\n\n— CustomiseYou",
    ),
    ("payout.paid.title", "Payout sent: {{ amount }}"),
    ("payout.paid.body", "{{ amount }} is on its way to your bank account (payout of {{ period }})."),
    (
        "payout.paid.email",
        "Hello {{ name }},\n\nWe have sent {{ amount }} to your bank account (payout of {{ period }}).\n\
         The lines it pays are in your payouts.\n\n— CustomiseYou",
    ),
    ("payout.failed.title", "A payout did not go through"),
    (
        "payout.failed.body",
        "Your payout of {{ amount }} ({{ period }}) did not go through; it is tried again with your next payout. \
         Check your payout account.",
    ),
    (
        "payout.failed.email",
        "Hello {{ name }},\n\nYour payout of {{ amount }} ({{ period }}) did not go through. The money is kept \
         for your next payout; please check the bank account in your shop's profile.\n\n— CustomiseYou",
    ),
    ("chat.message.title", "New message"),
    ("chat.message.body", "{{ excerpt }}"),
    (
        "chat.message.email",
        // The text stays out of mail: it is another user's words, read where they can be answered.
        "Hello {{ name }},\n\nYou have a new message in one of your conversations on CustomiseYou.\n\
         Read and reply in your conversations.\n\n— CustomiseYou",
    ),
];

static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Plain text out (mail bodies, SMS), so no HTML escaping.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    for (name, source) in TEMPLATES {
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "a notification template does not parse");
        }
    }
    env
});

/// One notification's words.
#[derive(Clone, Debug, PartialEq)]
pub struct Words {
    pub title: String,
    pub body: String,
    pub email: String,
}

/// Renders the words for `kind` with `context`; `None` if this kind is not noticed or a
/// template fails (logged: a bug, caught by the tests that render every kind).
pub fn render(kind: &str, context: &impl Serialize) -> Option<Words> {
    let one = |part: &str| {
        let name = format!("{kind}.{part}");
        let template = ENVIRONMENT.get_template(&name).ok()?;
        template.render(context).map_err(|e| tracing::error!(template = name, error = %e, "rendering failed")).ok()
    };
    Some(Words { title: one("title")?, body: one("body")?, email: one("email")? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_renders_and_a_missing_variable_is_an_error() {
        let order = json!({"order_id": "ord_1", "total": "INR 1299.00", "name": "Asha"});
        assert!(render("order.created", &order).is_some());
        let refund = json!({"order_id": "ord_1", "amount": "INR 50.00", "name": "A"});
        assert!(render("order.refunded", &refund).unwrap().body.starts_with("INR 50.00 of order ord_1"));
        let moved =
            json!({"order_id": "ord_1", "headline": "Your order has shipped", "tracking": "DHL 123", "name": "A"});
        let words = render("order.status_changed", &moved).unwrap();
        assert_eq!(words.title, "Your order has shipped");
        assert!(words.body.contains("Tracking: DHL 123"), "{}", words.body);
        let chat = render("chat.message", &json!({"excerpt": "hi <b>", "name": "A"})).unwrap();
        assert!(chat.body.contains("<b>"), "plain text, not escaped");
        assert!(!chat.email.contains("hi <b>"), "another user's words stay out of mail");
        assert!(render("order.created", &json!({"order_id": "ord_1"})).is_none(), "strict: total is missing");
        assert!(render("order.payment_updated", &order).is_none());
        let rejected = render("seller.kyc_decided", &json!({"approved": false, "reason": "blurry PAN", "name": "S"}));
        assert!(rejected.unwrap().body.contains("blurry PAN"));
        let approved = render("seller.kyc_decided", &json!({"approved": true, "reason": "", "name": "S"}));
        assert_eq!(approved.unwrap().title, "You are verified");
        let paid = render("payout.paid", &json!({"amount": "INR 180.00", "period": "2026-12-01", "name": "S"}));
        assert_eq!(paid.unwrap().title, "Payout sent: INR 180.00");
        assert!(render("payout.failed", &json!({"amount": "INR 1.00", "period": "2026-12-01", "name": "S"})).is_some());
    }
}
