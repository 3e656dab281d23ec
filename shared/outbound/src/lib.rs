//! How a process reaches the outside, set up once per process because each setup costs cold
//! start (docs/PERFORMANCE.md, "Making init cheap"):
//!
//! - [`aws_config`]: the AWS SDK configuration every client of the process is built from;
//! - [`https_client`]: a `reqwest` builder for the payment, payout and messaging providers'
//!   APIs, trusting compiled-in roots instead of reading the system's certificate files.

mod https;
mod sdk;

pub use https::https_client;
pub use sdk::aws_config;
