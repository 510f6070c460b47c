//! The end-to-end suite: one test binary (as just and ripgrep have), one module per concern, each
//! against the real engine through the test bed in `support`. `DOCKER_FLOW_E2E=1` makes a missing
//! engine a failure.

mod support;

mod bad_input;
mod cli;
mod commands;
mod compose;
mod faults;
mod flows;
mod gates;
mod heavy;
mod history;
mod https;
mod output;
mod ownership;
mod proxy;
mod remote;
mod security;
mod staging;
mod streams;
mod swarm;
