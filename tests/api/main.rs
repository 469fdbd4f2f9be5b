//! Black-box API tests: the real application on a random port, on Postgres and on SQLite.

mod helpers;

mod access;
mod audit;
mod browser;
mod contract;
mod datasets;
mod datasets_bad_input;
mod detectors;
mod faults;
mod jobs;
mod lifecycle;
mod limits;
mod logs;
mod models;
mod schedules;
mod shapes;
mod studies;
mod synthetic;
mod web;
mod web_generate;
mod web_plan;
mod web_train;
mod webhooks;
