//! # t1c-ds: the T1C Distribution Service
//!
//! What an operator runs to manage the web applications that use connectors and the fleet of
//! connectors: organisations, labels and their API keys, short-lived tokens for web apps,
//! connector versions and their installers, trusted publisher keys, and the audit log of who
//! changed what.

pub mod api;
pub mod auth;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod devices;
pub mod installers;
pub mod modules;
pub mod ratelimit;
pub mod rotation;
pub mod server;
pub mod service;
pub mod store;
pub mod tokens;
