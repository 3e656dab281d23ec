//! Routers built from the handlers' OpenAPI annotations: [`route!`](crate::route) routes a
//! handler at the path and methods its `#[utoipa::path]` declares, so the document and the
//! router cannot disagree about where an operation lives. Only the path and methods are read
//! (strings): building a router costs what a plain axum router does, which matters at a Lambda
//! cold start (building `utoipa_axum`'s routers, which collect every schema, took 30× longer:
//! `cargo bench -p cy-benches --bench router_build`). The operations routed are kept, so a test
//! can check them against each function's documented `Api`.

use std::convert::Infallible;

use axum::Router;
use axum::extract::Request;
use axum::handler::Handler;
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, Route, on};
use tower::{Layer, Service};
use utoipa::openapi::path::HttpMethod;

/// A router and the (METHOD, path) of every operation routed on it.
pub struct Routes<S = ()> {
    router: Router<S>,
    operations: Vec<(&'static str, String)>,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Routes { router: Router::new(), operations: Vec::new() }
    }
}

fn method(m: &HttpMethod) -> (MethodFilter, &'static str) {
    match m {
        HttpMethod::Get => (MethodFilter::GET, "GET"),
        HttpMethod::Post => (MethodFilter::POST, "POST"),
        HttpMethod::Put => (MethodFilter::PUT, "PUT"),
        HttpMethod::Delete => (MethodFilter::DELETE, "DELETE"),
        HttpMethod::Options => (MethodFilter::OPTIONS, "OPTIONS"),
        HttpMethod::Head => (MethodFilter::HEAD, "HEAD"),
        HttpMethod::Patch => (MethodFilter::PATCH, "PATCH"),
        HttpMethod::Trace => (MethodFilter::TRACE, "TRACE"),
    }
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `handler` where its operation `P` (the `__path_<handler>` type `#[utoipa::path]`
    /// generates) says; use [`route!`](crate::route).
    pub fn operation<P: utoipa::Path, H: Handler<T, S>, T: 'static>(mut self, handler: H) -> Self {
        let path = P::path();
        for m in P::methods() {
            let (filter, name) = method(&m);
            self.router = self.router.route(&path, on(filter, handler.clone()));
            self.operations.push((name, path.clone()));
        }
        self
    }

    /// As [`Router::route_layer`]: the layer runs for the routes added so far.
    pub fn route_layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<Route> + Clone + Send + Sync + 'static,
        L::Service: Service<Request> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as Service<Request>>::Error: Into<Infallible> + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        self.router = self.router.route_layer(layer);
        self
    }

    /// As [`Router::merge`] (operations of one path with other methods join it).
    pub fn merge(mut self, other: Routes<S>) -> Self {
        self.router = self.router.merge(other.router);
        self.operations.extend(other.operations);
        self
    }

    pub fn with_state<S2>(self, state: S) -> Routes<S2> {
        Routes { router: self.router.with_state(state), operations: self.operations }
    }

    /// The (METHOD, path) of every operation routed, in the order they were added.
    pub fn operations(&self) -> &[(&'static str, String)] {
        &self.operations
    }

    pub fn into_router(self) -> Router<S> {
        self.router
    }
}

/// `route!(routes, handler, …)`: routes each handler at the path and methods of its
/// `#[utoipa::path]` annotation.
#[macro_export]
macro_rules! route {
    ($routes:expr, $($handler:ident),+ $(,)?) => {
        $crate::__paste! { $routes $(.operation::<[<__path_ $handler>], _, _>($handler))+ }
    };
}
