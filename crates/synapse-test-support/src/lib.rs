//! Test support for Synapse: helpers shared by the Rust test suites.
//!
//! - [`messages_api`]: a scripted Anthropic Messages API server that streams
//!   SSE exactly like the real one and can script faults.
//! - [`models_api`]: its `GET /v1/models` (paged, scriptable failures).
//! - [`daemon`]: start a real `synapsed` in a temp dir and talk to it over its socket.
//! - [`first_byte`]: a minimal Messages API that timestamps each request's first byte (benchmarks).
//! - [`rng`]: a seeded generator for randomized tests.
//! - [`stats`]: percentiles for the benchmark binaries.
//! - [`endpoint_name`]: a fresh socket path (a named pipe on Windows) for a test.
//! - [`mod@bench`]: set-up shared by the benchmark binaries (the plugin host process, figures).
//! - [`console`]: a Ctrl-C to a child process, as from its terminal.

pub mod bench;
pub mod console;
pub mod daemon;
pub mod endpoint_name;
pub mod first_byte;
pub mod messages_api;
pub mod models_api;
pub mod rng;
pub mod stats;

pub use endpoint_name::test_socket;
