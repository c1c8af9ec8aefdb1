//! Guards every request before any handler runs: a URI longer than [`MAX_URI_BYTES`] is
//! refused (414), and the body must arrive within `body_timeout_secs` of the request head
//! (408), so a client trickling a body byte by byte (a slowloris) cannot hold a connection.
//!
//! actix times out only the request head (`client_request_timeout`) and idle keep-alive; a
//! body is read whenever a handler's extractor polls it, without limit. Here the payload is
//! wrapped in a stream that fails once the deadline passes, whichever extractor reads it;
//! the answer is then a 408 in the JSON error shape, and the connection is closed after it:
//! the unread payload is kept alive in the response body, and actix closes a connection
//! whose request body was neither read nor dropped (a dropped chunked body would otherwise
//! be drained, again without limit).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, ResponseError};
use futures_util::Stream;

use crate::app_state::AppState;
use crate::error::AppError;

/// Longest accepted request target (path and query). Every link i2i makes is far shorter;
/// actix itself refuses only a head over its buffer (with an empty 431).
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The middleware (see the module documentation).
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<Held>, actix_web::Error> {
    let uri_len = req.uri().path().len() + req.uri().query().map_or(0, |q| q.len() + 1);
    if uri_len > MAX_URI_BYTES {
        let refusal = AppError::UriTooLong { limit: MAX_URI_BYTES }.error_response();
        return Ok(req.into_response(refusal).map_body(|_, body| Held { body, _payload: None }));
    }
    let timeout = req
        .app_data::<web::Data<AppState>>()
        .map_or(Duration::from_secs(10), |state| Duration::from_secs(state.config.body_timeout_secs));
    let payload = Rc::new(RefCell::new(req.take_payload()));
    let expired = Rc::new(Cell::new(false));
    let deadline = Deadline {
        payload: payload.clone(),
        sleep: Box::pin(tokio::time::sleep(timeout)),
        expired: expired.clone(),
    };
    req.set_payload(Payload::Stream { payload: Box::pin(deadline) });
    let outcome = next.call(req).await;
    let response = match outcome {
        // Whatever the extractor made of the failed body (a 400, an HTML page), the answer
        // is the timeout.
        Ok(response) if expired.get() => {
            let (req, _) = response.into_parts();
            ServiceResponse::new(req, AppError::RequestTimeout.error_response())
        }
        Ok(response) => response.map_into_boxed_body(),
        Err(err) => return Err(err),
    };
    Ok(response.map_body(|_, body| Held { body, _payload: Some(payload) }))
}

/// The request body, failing with a timeout once its deadline has passed.
struct Deadline {
    payload: Rc<RefCell<Payload>>,
    sleep: Pin<Box<tokio::time::Sleep>>,
    expired: Rc<Cell<bool>>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired.get() {
            return Poll::Ready(None);
        }
        let polled = Pin::new(&mut *self.payload.borrow_mut()).poll_next(cx);
        if polled.is_ready() {
            return polled;
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.expired.set(true);
                let timed_out = std::io::Error::new(std::io::ErrorKind::TimedOut, "request body too slow");
                Poll::Ready(Some(Err(PayloadError::Io(timed_out))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A response body that keeps the request's payload alive until it is sent, so a body left
/// unread makes actix close the connection rather than drain it.
pub struct Held {
    body: BoxBody,
    _payload: Option<Rc<RefCell<Payload>>>,
}

impl MessageBody for Held {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.body).poll_next(cx)
    }
}
