//! Scripted Messages API server (in progress).
