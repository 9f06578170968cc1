//! # sotto-net — the async driver: sockets, timers, audio devices
//!
//! The only async crate: tokio UDP/TCP sockets, timers and audio devices that drive a
//! `sotto_call::Call`. It has no protocol logic of its own.
