//! Turn methods, events, tool hosts, scheduling and shutdown against a real
//! `synapsed serve` and a scripted Messages API. Every wait is bounded.

#[path = "../common/mod.rs"]
mod common;

mod events;
mod methods;
mod scheduling;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use synapse_protocol::code;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
