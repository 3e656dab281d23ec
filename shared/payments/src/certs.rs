//! PayPal webhook certificates (to be written).
