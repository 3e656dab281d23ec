//! The providers' HTTP APIs (to be written: Stripe, Razorpay, PayPal).
