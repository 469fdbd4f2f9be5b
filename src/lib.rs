//! genfab: generative models for the factory floor, as one service.
//! Layers (see ARCHITECTURE.md): domain, ingest, ml, store, jobs, api, web, with cli/startup on top.

pub mod anomaly_eval;
pub mod api;
pub mod auth;
pub mod bench;
pub mod bridge;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod demo;
pub mod detectors;
pub mod domain;
pub mod ingest;
pub mod jobs;
pub mod load;
pub mod ml;
pub mod offline;
pub mod optimize;
pub mod profiles;
pub mod shapes;
pub mod startup;
pub mod store;
pub mod studies;
pub mod synth;
pub mod telemetry;
pub mod web;
pub mod webhooks;
