//! [`AnthropicClient`]: `POST {base_url}/v1/messages` with `stream: true`.
//!
//! Each attempt is raced against the cancel token: a cancel drops the
//! request or the response body at once, which closes the connection.
//! A connect timeout is set on the client; the wait for the response head
//! and every wait between two body chunks are bounded by the stream idle
//! timeout. A stream that ends before `message_stop` is a connection error.
//! Failures are retried per [`super::retry`], each wait reported to the
//! sink and itself cancellable. The credential is sent in a header marked
//! sensitive and never appears in logs or error messages.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;
use synapse_protocol::{ErrorKind, TurnError};
use tokio_util::sync::CancellationToken;

use super::message::{MessageAssembler, Step};
use super::sse::{SseEvent, SseParser};
use super::{request, retry, ANTHROPIC_VERSION};
use crate::config::{ConfigError, Settings};
use crate::credentials::{Credential, CredentialResolver, FixedCredential};
use crate::provider::{Provider, ProviderError, ProviderRequest, ProviderResponse, StreamSink};

/// Largest error body read from a failed response.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Client of the Anthropic Messages API.
#[derive(Clone)]
pub struct AnthropicClient {
    pub(super) http: reqwest::Client,
    pub(super) base_url: String,
    url: String,
    /// `anthropic-version`, content type, accept (no credential).
    headers: HeaderMap,
    pub(super) credentials: Arc<dyn CredentialResolver>,
    max_retries: u32,
    pub(super) idle_timeout: Duration,
    /// Models list and availability, per client (per daemon run).
    pub(super) models: Arc<super::models::ModelsCache>,
}

impl std::fmt::Debug for AnthropicClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnthropicClient")
            .field("url", &self.url)
            .field("max_retries", &self.max_retries)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

/// One failed attempt.
#[derive(Debug)]
enum Failure {
    Cancelled,
    Http {
        status: u16,
        headers: HeaderMap,
        error_type: Option<String>,
        message: String,
    },
    Transport {
        kind: ErrorKind,
        message: String,
        forwarded: bool,
    },
    InBand {
        error_type: String,
        message: String,
        forwarded: bool,
    },
    Malformed {
        message: String,
    },
}

impl Failure {
    /// Whether to retry, and the headers that may suggest a wait.
    fn retryable(&self) -> bool {
        match self {
            Failure::Cancelled | Failure::Malformed { .. } => false,
            Failure::Http {
                status, headers, ..
            } => retry::should_retry_status(*status, headers),
            Failure::Transport { forwarded, .. } => !forwarded,
            Failure::InBand {
                error_type,
                forwarded,
                ..
            } => !forwarded && error_type == "overloaded_error",
        }
    }

    fn reason(&self) -> String {
        match self {
            Failure::Cancelled => "cancelled".into(),
            Failure::Http {
                status, error_type, ..
            } => match error_type {
                Some(t) => format!("HTTP {status} {t}"),
                None => format!("HTTP {status}"),
            },
            Failure::Transport { kind, message, .. } => format!("{}: {message}", kind.as_str()),
            Failure::InBand { error_type, .. } => format!("in-band {error_type}"),
            Failure::Malformed { message } => message.clone(),
        }
    }

    /// What the provider reports for this failure (not retried, or out of
    /// retries): [`ProviderError::Cancelled`] for a cancel, else the API error.
    fn into_provider_error(self) -> ProviderError {
        let error = match self {
            Failure::Cancelled => return ProviderError::Cancelled,
            Failure::Http {
                status,
                headers,
                error_type,
                message,
            } => {
                let rid = request_id(&headers);
                let kind = retry::kind_of(status, error_type.as_deref());
                let mut msg = format!("Messages API returned HTTP {status}");
                if let Some(t) = &error_type {
                    msg.push_str(&format!(" {t}"));
                }
                if !message.is_empty() {
                    msg.push_str(&format!(": {message}"));
                }
                if let Some(r) = rid {
                    msg.push_str(&format!(" (request-id {r})"));
                }
                TurnError { kind, message: msg }
            }
            Failure::Transport { kind, message, .. } => TurnError { kind, message },
            Failure::InBand {
                error_type,
                message,
                forwarded,
            } => TurnError {
                kind: retry::kind_of_error_type(&error_type).unwrap_or(ErrorKind::Stream),
                message: format!(
                    "the response stream failed{}: {error_type}: {message}",
                    if forwarded {
                        " after text was sent"
                    } else {
                        ""
                    }
                ),
            },
            Failure::Malformed { message } => TurnError {
                kind: ErrorKind::Stream,
                message,
            },
        };
        ProviderError::Api(error)
    }

    fn headers(&self) -> Option<&HeaderMap> {
        match self {
            Failure::Http { headers, .. } => Some(headers),
            _ => None,
        }
    }
}

fn request_id(headers: &HeaderMap) -> Option<&str> {
    headers.get("request-id").and_then(|v| v.to_str().ok())
}

impl AnthropicClient {
    /// A client for `settings.base_url` with the settings' credential,
    /// timeouts and retry bound.
    pub fn new(settings: &Settings) -> Result<Self, ConfigError> {
        Self::with_credentials(settings, Arc::new(FixedCredential::from_settings(settings)))
    }

    /// A client that asks `credentials` for the credential before each
    /// request (a key stored after start is used at the next request).
    pub fn with_credentials(
        settings: &Settings,
        credentials: Arc<dyn CredentialResolver>,
    ) -> Result<Self, ConfigError> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .user_agent(concat!("synapse/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::Http(e.to_string()))?;
        let mut headers = HeaderMap::new();
        headers.insert(
            "anthropic-version",
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        let base_url = settings.base_url.trim_end_matches('/').to_owned();
        Ok(Self {
            http,
            url: format!("{base_url}/v1/messages"),
            base_url,
            headers,
            credentials,
            max_retries: settings.max_retries,
            idle_timeout: settings.stream_idle_timeout,
            models: Arc::default(),
        })
    }

    /// The headers of a request: the fixed ones plus the credential resolved
    /// now, marked sensitive. The error never contains the credential.
    pub(super) fn request_headers(&self) -> Result<HeaderMap, TurnError> {
        let resolved = self.credentials.resolve().map_err(|e| TurnError {
            kind: ErrorKind::Authentication,
            message: format!("cannot read the API key: {e}"),
        })?;
        let Some(resolved) = resolved else {
            return Err(no_credential());
        };
        let bad = |_| TurnError {
            kind: ErrorKind::Authentication,
            message: format!(
                "the API key from {} contains characters not allowed in an HTTP header",
                resolved.source
            ),
        };
        let mut headers = self.headers.clone();
        match &resolved.credential {
            Credential::ApiKey(key) => {
                let mut v = HeaderValue::from_str(key.expose()).map_err(bad)?;
                v.set_sensitive(true);
                headers.insert("x-api-key", v);
            }
            Credential::AuthToken(token) => {
                let mut v =
                    HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(bad)?;
                v.set_sensitive(true);
                headers.insert(reqwest::header::AUTHORIZATION, v);
            }
        }
        Ok(headers)
    }

    /// Stream one request with retries.
    pub async fn call(
        &self,
        req: &ProviderRequest,
        sink: &dyn StreamSink,
        cancel: &CancellationToken,
    ) -> Result<ProviderResponse, ProviderError> {
        tracing::trace!(target: "synapse::hot", "request: building");
        let headers = self.request_headers().map_err(ProviderError::Api)?;
        let body = match request::body_bytes(req) {
            Ok(b) => Bytes::from(b),
            Err(e) => {
                return Err(ProviderError::Api(TurnError {
                    kind: ErrorKind::Internal,
                    message: format!("cannot serialize the request: {e}"),
                }))
            }
        };
        let mut retries_done = 0u32;
        loop {
            let failure = match self.attempt(&headers, body.clone(), sink, cancel).await {
                Ok(resp) => {
                    self.models.set_available(&req.model, true);
                    return Ok(resp);
                }
                Err(f) => f,
            };
            // A cancel is never retried.
            if !failure.retryable() || retries_done >= self.max_retries {
                let model_missing = matches!(&failure, Failure::Http { status: 404, .. });
                let err = failure.into_provider_error();
                return match err {
                    ProviderError::Api(e) if model_missing => Err(ProviderError::Api(
                        self.model_not_found(&req.model, e, cancel).await,
                    )),
                    other => Err(other),
                };
            }
            let delay = retry::delay(retries_done, failure.headers());
            retries_done += 1;
            let reason = failure.reason();
            tracing::info!(attempt = retries_done, delay_ms = delay.as_millis() as u64, %reason, "retrying Messages API call");
            sink.retry(retries_done, delay.as_millis() as u64, &reason);
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(ProviderError::Cancelled),
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn attempt(
        &self,
        headers: &HeaderMap,
        body: Bytes,
        sink: &dyn StreamSink,
        cancel: &CancellationToken,
    ) -> Result<ProviderResponse, Failure> {
        let mut assembler = MessageAssembler::new();
        let result = self
            .attempt_inner(headers, body, sink, cancel, &mut assembler)
            .await;
        let usage = assembler.usage();
        if !usage.is_zero() {
            sink.usage(&usage);
        }
        match result {
            Ok(()) => match assembler.finish() {
                Ok(resp) => Ok(resp),
                Err(e) => Err(Failure::Malformed {
                    message: e.to_string(),
                }),
            },
            Err(f) => Err(f),
        }
    }

    async fn attempt_inner(
        &self,
        headers: &HeaderMap,
        body: Bytes,
        sink: &dyn StreamSink,
        cancel: &CancellationToken,
        assembler: &mut MessageAssembler,
    ) -> Result<(), Failure> {
        let idle = self.idle_timeout;
        tracing::debug!(url = %self.url, bytes = body.len(), "Messages API request");
        let send = self
            .http
            .post(&self.url)
            .headers(headers.clone())
            .body(body)
            .send();
        tracing::trace!(target: "synapse::hot", "request: sending");
        let resp = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(Failure::Cancelled),
            r = tokio::time::timeout(idle, send) => match r {
                Err(_) => return Err(Failure::Transport {
                    kind: ErrorKind::Timeout,
                    message: format!("no response from the Messages API within {:.1} s", idle.as_secs_f64()),
                    forwarded: false,
                }),
                Ok(Err(e)) => return Err(transport_failure(&e, false)),
                Ok(Ok(resp)) => resp,
            },
        };
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(self.http_failure(resp, cancel).await);
        }
        let mut stream = resp.bytes_stream();
        let mut parser = SseParser::new();
        let mut events: Vec<SseEvent> = Vec::new();
        loop {
            let next = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(Failure::Cancelled),
                n = tokio::time::timeout(idle, stream.next()) => n,
            };
            let chunk = match next {
                Err(_) => {
                    return Err(Failure::Transport {
                        kind: ErrorKind::Timeout,
                        message: format!(
                            "the response stream was idle for {:.1} s",
                            idle.as_secs_f64()
                        ),
                        forwarded: assembler.forwarded(),
                    })
                }
                Ok(None) => {
                    return Err(Failure::Transport {
                        kind: ErrorKind::Connection,
                        message: "the response stream ended before message_stop".into(),
                        forwarded: assembler.forwarded(),
                    })
                }
                Ok(Some(Err(e))) => return Err(transport_failure(&e, assembler.forwarded())),
                Ok(Some(Ok(chunk))) => chunk,
            };
            parser.push(&chunk, &mut events);
            for ev in events.drain(..) {
                match assembler.on_event(&ev, sink) {
                    Err(e) => {
                        return Err(Failure::Malformed {
                            message: e.to_string(),
                        })
                    }
                    Ok(Step::Continue) => {}
                    Ok(Step::Done) => {
                        // Let the body end so the connection can be reused;
                        // bounded, and the message is complete anyway.
                        let _ = tokio::time::timeout(Duration::from_millis(50), async {
                            while let Some(Ok(_)) = stream.next().await {}
                        })
                        .await;
                        return Ok(());
                    }
                    Ok(Step::Error {
                        error_type,
                        message,
                    }) => {
                        tracing::warn!(%error_type, %message, "in-band error in the response stream");
                        return Err(Failure::InBand {
                            error_type,
                            message,
                            forwarded: assembler.forwarded(),
                        });
                    }
                }
            }
        }
    }

    async fn http_failure(&self, resp: reqwest::Response, cancel: &CancellationToken) -> Failure {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut stream = resp.bytes_stream();
        let mut body = Vec::new();
        let read = async {
            while let Some(Ok(chunk)) = stream.next().await {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_ERROR_BODY {
                    break;
                }
            }
        };
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Failure::Cancelled,
            _ = tokio::time::timeout(self.idle_timeout, read) => {}
        }
        let parsed: Option<Value> = serde_json::from_slice(&body).ok();
        let error_type = parsed
            .as_ref()
            .and_then(|v| v.pointer("/error/type"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let message = parsed
            .as_ref()
            .and_then(|v| v.pointer("/error/message"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_default();
        tracing::warn!(
            status,
            request_id = request_id(&headers).unwrap_or("-"),
            error_type = error_type.as_deref().unwrap_or("-"),
            %message,
            "Messages API call failed"
        );
        Failure::Http {
            status,
            headers,
            error_type,
            message,
        }
    }
}

fn transport_failure(e: &reqwest::Error, forwarded: bool) -> Failure {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Connection
    };
    // reqwest's message names the URL (no credential in it) and the cause.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    tracing::warn!(%message, "Messages API connection failed");
    Failure::Transport {
        kind,
        message,
        forwarded,
    }
}

impl Provider for AnthropicClient {
    fn ready(&self) -> Result<(), TurnError> {
        self.request_headers().map(|_| ())
    }

    fn model_available(&self, model: &str) -> Option<bool> {
        self.models.available(model)
    }

    fn with_credential(
        &self,
        credential: crate::credentials::Resolved,
    ) -> Option<Box<dyn Provider>> {
        Some(Box::new(Self {
            credentials: Arc::new(FixedCredential(Some(credential))),
            ..self.clone()
        }))
    }

    fn stream<'a>(
        &'a self,
        request: &'a ProviderRequest,
        sink: &'a dyn StreamSink,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<ProviderResponse, ProviderError>> {
        Box::pin(self.call(request, sink, cancel))
    }
}

/// What a user runs to store a key.
pub const LOGIN_HINT: &str =
    "run `synapsed auth login`, or set ANTHROPIC_API_KEY before starting synapsed";

/// The error of a request without any credential.
pub(super) fn no_credential() -> TurnError {
    TurnError {
        kind: ErrorKind::Authentication,
        message: format!("no API key: {LOGIN_HINT}"),
    }
}
