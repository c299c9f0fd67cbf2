//! Error answers: default types and messages, and the Models API's answers.

use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::Value;

use super::{full, request_id, Body, Shared};

pub(super) async fn models_response(shared: &Shared, req: &Request<Incoming>) -> Response<Body> {
    let headers = super::header_map(req);
    let a = shared
        .models
        .answer(req.uri().path(), req.uri().query(), headers);
    if let Some(d) = a.delay {
        tokio::time::sleep(d).await;
    }
    let rid = request_id(shared);
    let mut body = a.body;
    if a.status != 200 {
        body["request_id"] = Value::String(rid.clone());
    }
    full(
        a.status,
        &[
            ("content-type", "application/json".to_owned()),
            ("request-id", rid),
        ],
        body.to_string().into_bytes(),
    )
}

pub(crate) fn default_error_type(status: u16) -> &'static str {
    match status {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

pub(crate) fn default_message(error_type: &str) -> &'static str {
    match error_type {
        "invalid_request_error" => "invalid request",
        "authentication_error" => "invalid x-api-key",
        "permission_error" => "your API key does not have permission to use the specified resource",
        "not_found_error" => "the requested resource could not be found",
        "request_too_large" => "request exceeds the maximum allowed number of bytes",
        "rate_limit_error" => "number of request tokens has exceeded your rate limit",
        "overloaded_error" => "Overloaded",
        _ => "Internal server error",
    }
}
