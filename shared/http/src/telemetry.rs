//! Logs as JSON lines (one object per event), filtered by `RUST_LOG` (default `info`).

use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt;
use tracing_subscriber::prelude::*;

/// Installs the JSON subscriber. Safe to call twice (the second call does nothing), so tests
/// and binaries can both call it.
///
/// `RUST_LOG` takes a level and `target=level` pairs (`warn,cy_api=debug`); a value that does
/// not parse logs at `info`. `Targets` rather than `EnvFilter`: the latter's span and regex
/// directives brought the `regex` engine into every function's binary, which we never used.
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let json = fmt::layer().json().flatten_event(true).with_current_span(false).with_target(true);
    let _ = tracing_subscriber::registry().with(json).with(filter).try_init();
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::filter::Targets;

    #[test]
    fn rust_log_directives_name_a_level_per_target() {
        let targets: Targets = "warn,cy_api=debug".parse().expect("directives");
        assert!(targets.would_enable("cy_api::orders", &tracing::Level::DEBUG));
        assert!(!targets.would_enable("aws_smithy_runtime", &tracing::Level::INFO));
    }
}
