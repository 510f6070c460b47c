//! The command line as clap sees it.
//!
//! Every option is read raw (strings) here, from the flag or its `FLOW_*` variable; `settings`
//! layers them over `docker-flow.yml` and the defaults and validates them, so that one place
//! knows each value's source and one place turns text into typed settings.

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "docker flow",
    version,
    about = "Zero-downtime blue-green deployment, relative scaling and proxy reconfiguration for Docker Compose projects",
    long_about = None,
    after_help = "Settings come from defaults < ./docker-flow.yml < FLOW_* environment < flags.\n\
                  Exit codes: 0 success, 1 a flow failed, 2 usage or configuration error, 3 environment error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub opts: Opts,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy the next release of the target: start it, wait for health, switch the proxy, stop the old.
    Deploy,
    /// Scale the live release: N, +N or -N instances.
    Scale {
        /// N (absolute), +N or -N (relative to the running count).
        #[arg(allow_hyphen_values = true, value_name = "N|+N|-N")]
        count: Option<String>,
    },
    /// Point the proxy at the live release (or the newest deployed one after `--flow=deploy`).
    Proxy,
    /// Stop the release the proxy no longer routes to.
    StopOld,
    /// Bring the previous release back and make it live.
    Rollback,
    /// Show the target's releases, their instances and the proxy routes.
    Status,
    /// Show the resolved settings and where each came from.
    Config,
}

/// Options shared by every subcommand; each also reads `FLOW_<NAME>` and `docker-flow.yml`.
#[derive(Debug, Args, Default)]
pub struct Opts {
    /// Compose file (repeatable; default: Compose's own file discovery).
    #[arg(
        help_heading = "Project",
        short = 'f',
        long,
        env = "FLOW_COMPOSE_PATH",
        value_delimiter = ',',
        global = true
    )]
    pub compose_path: Vec<String>,

    /// Compose project name (default: Compose's project name rules).
    #[arg(
        help_heading = "Project",
        short = 'p',
        long,
        env = "FLOW_PROJECT",
        global = true
    )]
    pub project: Option<String>,

    /// Side target: a service started with the target but never recreated (repeatable).
    #[arg(
        help_heading = "Project",
        short = 'T',
        long = "side-target",
        env = "FLOW_SIDE_TARGETS",
        value_delimiter = ',',
        global = true
    )]
    pub side_targets: Vec<String>,

    /// The Compose service to deploy.
    #[arg(
        help_heading = "Project",
        short = 't',
        long,
        env = "FLOW_TARGET",
        global = true
    )]
    pub target: Option<String>,

    /// Perform a blue-green deployment [true|false].
    #[arg(help_heading = "Release", short = 'b', long, env = "FLOW_BLUE_GREEN", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", global = true, value_name = "BOOL")]
    pub blue_green: Option<String>,

    /// Steps to run in order: deploy, scale, stop-old, proxy (repeatable; the seed's style).
    #[arg(
        help_heading = "Release",
        short = 'F',
        long,
        env = "FLOW",
        value_delimiter = ',',
        global = true
    )]
    pub flow: Vec<String>,

    /// Pull side targets too [true|false].
    #[arg(help_heading = "Release", short = 'S', long, env = "FLOW_PULL_SIDE_TARGETS", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", global = true, value_name = "BOOL")]
    pub pull_side_targets: Option<String>,

    /// Number of instances: N, +N or -N (relative to the running count).
    #[arg(
        help_heading = "Release",
        short = 's',
        long,
        env = "FLOW_SCALE",
        allow_hyphen_values = true,
        global = true
    )]
    pub scale: Option<String>,

    /// When to pull the target's image: always, missing or never.
    #[arg(help_heading = "Release", long, env = "FLOW_PULL", global = true)]
    pub pull: Option<String>,

    /// Path prefix the proxy routes to the target (repeatable).
    #[arg(
        help_heading = "Proxy",
        long,
        env = "FLOW_SERVICE_PATH",
        value_delimiter = ',',
        global = true
    )]
    pub service_path: Vec<String>,

    /// Container port the proxy forwards to (inferred when the target exposes exactly one).
    #[arg(help_heading = "Proxy", long, env = "FLOW_SERVICE_PORT", global = true)]
    pub service_port: Option<String>,

    /// Host name the proxy routes to the target (repeatable).
    #[arg(
        help_heading = "Proxy",
        long,
        env = "FLOW_SERVICE_DOMAIN",
        value_delimiter = ',',
        global = true
    )]
    pub service_domain: Vec<String>,

    /// Proxy driver: caddy, docker-flow-proxy or none.
    #[arg(help_heading = "Proxy", long, env = "FLOW_PROXY_DRIVER", global = true)]
    pub proxy_driver: Option<String>,

    /// Image of the proxy docker flow starts when none runs.
    #[arg(help_heading = "Proxy", long, env = "FLOW_PROXY_IMAGE", global = true)]
    pub proxy_image: Option<String>,

    /// Name of the proxy container.
    #[arg(help_heading = "Proxy", long, env = "FLOW_PROXY_NAME", global = true)]
    pub proxy_name: Option<String>,

    /// Host port the proxy serves HTTP on.
    #[arg(
        help_heading = "Proxy",
        long,
        env = "FLOW_PROXY_HTTP_PORT",
        global = true
    )]
    pub proxy_http_port: Option<String>,

    /// How long new instances may take to become healthy (e.g. 60s, 2m).
    #[arg(
        help_heading = "Health and timing",
        long,
        env = "FLOW_HEALTH_TIMEOUT",
        global = true
    )]
    pub health_timeout: Option<String>,

    /// How long in-flight requests may take to finish before the old release stops (e.g. 30s).
    #[arg(
        help_heading = "Health and timing",
        long,
        env = "FLOW_DRAIN_TIMEOUT",
        global = true
    )]
    pub drain_timeout: Option<String>,

    /// How long to wait for another run's deploy lock (e.g. 5m; default: fail at once).
    #[arg(
        help_heading = "Health and timing",
        long,
        env = "FLOW_LOCK_WAIT",
        global = true
    )]
    pub lock_wait: Option<String>,

    /// Docker certification path (falls back to DOCKER_CERT_PATH).
    #[arg(
        help_heading = "Docker connection",
        long,
        env = "FLOW_CERT_PATH",
        global = true
    )]
    pub cert_path: Option<String>,

    /// Docker daemon socket to connect to (falls back to DOCKER_HOST).
    #[arg(
        help_heading = "Docker connection",
        short = 'H',
        long,
        env = "FLOW_HOST",
        global = true
    )]
    pub host: Option<String>,

    /// Docker certification path of the proxy's host.
    #[arg(
        help_heading = "Docker connection",
        long,
        env = "FLOW_PROXY_DOCKER_CERT_PATH",
        global = true
    )]
    pub proxy_docker_cert_path: Option<String>,

    /// Docker daemon socket of the proxy's host.
    #[arg(
        help_heading = "Docker connection",
        long,
        env = "FLOW_PROXY_DOCKER_HOST",
        global = true
    )]
    pub proxy_docker_host: Option<String>,

    /// Address of the Consul server (optional, http(s) URL).
    #[arg(
        help_heading = "Seed compatibility (Docker Flow Proxy, Consul)",
        short = 'c',
        long,
        env = "FLOW_CONSUL_ADDRESS",
        global = true
    )]
    pub consul_address: Option<String>,

    /// Consul Template snippet for the proxy's frontend (docker-flow-proxy driver).
    #[arg(
        help_heading = "Seed compatibility (Docker Flow Proxy, Consul)",
        long,
        env = "FLOW_CONSUL_TEMPLATE_FE_PATH",
        global = true
    )]
    pub consul_template_fe_path: Option<String>,

    /// Consul Template snippet for the proxy's backend (docker-flow-proxy driver).
    #[arg(
        help_heading = "Seed compatibility (Docker Flow Proxy, Consul)",
        long,
        env = "FLOW_CONSUL_TEMPLATE_BE_PATH",
        global = true
    )]
    pub consul_template_be_path: Option<String>,

    /// Host of Docker Flow Proxy's reconfigure endpoint (--proxy-driver docker-flow-proxy).
    #[arg(
        help_heading = "Seed compatibility (Docker Flow Proxy, Consul)",
        long,
        env = "FLOW_PROXY_HOST",
        global = true
    )]
    pub proxy_host: Option<String>,

    /// Port of Docker Flow Proxy's reconfigure endpoint (--proxy-driver docker-flow-proxy).
    #[arg(
        help_heading = "Seed compatibility (Docker Flow Proxy, Consul)",
        long,
        env = "FLOW_PROXY_RECONF_PORT",
        global = true
    )]
    pub proxy_reconf_port: Option<String>,

    /// Print the plan and change nothing [true|false].
    #[arg(help_heading = "Output", long, env = "FLOW_DRY_RUN", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", global = true, value_name = "BOOL")]
    pub dry_run: Option<String>,

    /// Output format: text or json.
    #[arg(help_heading = "Output", long, env = "FLOW_FORMAT", global = true)]
    pub format: Option<String>,
}
