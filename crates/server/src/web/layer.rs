//! How the envelope and the guard wrap the routes: plain tower services
//! around an async function of (what it needs, the request, the inner
//! route).
//!
//! Written here rather than with axum's `from_fn` for speed: `from_fn`
//! boxes a clone of the inner service for every request and every layer.
//! Measured on the no-op endpoint of `bench/` (wrk, 2 cores), five
//! pass-through `from_fn` layers cost 2.5–4 µs of CPU a request and a
//! quarter of its throughput; two layers written this way cost 0.3 µs.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use tower::Service;

/// The route a layer wraps (with the layers inside it): what every wrapping
/// function takes, named once.
pub trait Inner:
    Service<Request, Response = Response, Error = Infallible, Future: Send> + Send + 'static
{
}

impl<S> Inner for S where
    S: Service<Request, Response = Response, Error = Infallible, Future: Send> + Send + 'static
{
}

/// What a layer does around the route it wraps; call `inner` with [`run`].
pub trait Wrap: Clone + Send + Sync + 'static {
    fn wrap<S: Inner>(
        self,
        req: Request,
        inner: S,
    ) -> impl Future<Output = Response> + Send + 'static;
}

/// The tower layer of a [`Wrap`].
#[derive(Clone)]
pub struct WrapLayer<W>(pub W);

impl<W: Wrap, S> tower::Layer<S> for WrapLayer<W> {
    type Service = Wrapped<W, S>;

    fn layer(&self, inner: S) -> Self::Service {
        Wrapped {
            wrap: self.0.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub struct Wrapped<W, S> {
    wrap: W,
    inner: S,
}

impl<W, S> Service<Request> for Wrapped<W, S>
where
    W: Wrap,
    S: Inner + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    /// Always ready: readiness is asked of the inner route when it is
    /// called (`oneshot`), on the clone that serves the request.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let served = self.wrap.clone().wrap(req, self.inner.clone());
        Box::pin(async move { Ok(served.await) })
    }
}

/// Calls the inner route with `req`.
pub async fn run<S>(inner: S, req: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    match tower::ServiceExt::oneshot(inner, req).await {
        Ok(res) => res,
        Err(never) => match never {},
    }
}
