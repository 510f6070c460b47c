//! Every option, declared once: its `docker-flow.yml` key, flag, `FLOW_*` variable, the seed's
//! fallback variable, kind, default, help heading and help. clap's arguments are built from
//! these declarations, `resolve` layers the sources by them, and `config` lists them; adding an
//! option is adding a `Key` and its arm in `Key::spec` (and its typed field in `Settings`).

use clap::{Arg, ArgAction};

/// `--proxy-image`'s default: the Caddy driver's image (the docker-flow-proxy driver starts its
/// own pinned image unless another is given).
pub(crate) const DEFAULT_PROXY_IMAGE: &str = "caddy:2";

/// How a raw value is read and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `--flag`, `--flag=true|false`.
    Bool,
    Text,
    /// Repeatable, and comma-separated in one flag or variable.
    List,
    Number,
    Duration,
    /// A command: a list of words in docker-flow.yml, one string split into words as a shell
    /// would (no shell runs it) in a flag or variable.
    Argv,
}

const PROJECT: &str = "Project";
const RELEASE: &str = "Release";
const PROXY: &str = "Proxy";
const HTTPS: &str = "HTTPS (routes with --service-domain, Caddy driver)";
const TIMING: &str = "Health and timing";
const CONNECTION: &str = "Docker connection";
const SEED: &str = "Docker Flow 1.x compatibility (Docker Flow Proxy, Consul)";
const OUTPUT: &str = "Output";

// Which commands offer an option in their help and arguments. Every option is also accepted
// before the command and, with `--flow`, without one, as the seed accepted them; `config` takes
// every option, to show what it would resolve to.
const EVERY_PROJECT: &[&str] = &[
    "deploy",
    "promote",
    "abort",
    "scale",
    "proxy",
    "stop-old",
    "rollback",
    "status",
    "history",
    "logs",
    "exec",
    "unlock",
    "down",
    "maintenance",
    "config",
];
const EVERY_TARGET: &[&str] = &[
    "deploy", "promote", "abort", "scale", "proxy", "stop-old", "rollback", "status", "history",
    "logs", "exec", "config",
];
/// The commands whose result has a JSON form (`--format json`).
const FORMATTED: &[&str] = &[
    "deploy",
    "promote",
    "abort",
    "scale",
    "proxy",
    "stop-old",
    "rollback",
    "status",
    "history",
    "config",
    "version",
    "down",
    "maintenance",
];
const CHANGING: &[&str] = &[
    "deploy", "promote", "abort", "scale", "proxy", "stop-old", "rollback", "config",
];
const ROUTING: &[&str] = &[
    "deploy",
    "promote",
    "abort",
    "scale",
    "proxy",
    "stop-old",
    "rollback",
    "status",
    "down",
    "maintenance",
    "config",
];
/// The commands that change the project, `down` among them: how they run and show.
const RUNNING: &[&str] = &[
    "deploy",
    "promote",
    "abort",
    "scale",
    "proxy",
    "stop-old",
    "rollback",
    "down",
    "maintenance",
    "config",
];
const STARTING: &[&str] = &["deploy", "promote", "scale", "rollback", "config"];
const DEPLOYING: &[&str] = &["deploy", "config"];
const SEED_ONLY: &[&str] = &["config"];

/// The settings a service may have of its own, under `services:` in `docker-flow.yml`: what
/// describes one service's release (its route, health, drain, mode), not the project's (the
/// proxy, the engine) nor a run's (`--dry-run`, `--scale`).
pub(crate) const PER_SERVICE: &[Key] = &[
    Key::SideTargets,
    Key::BlueGreen,
    Key::TestCmd,
    Key::KeepOld,
    Key::Pull,
    Key::ServicePath,
    Key::ServicePort,
    Key::ServiceDomain,
    Key::Tls,
    Key::TlsCert,
    Key::TlsKeyFile,
    Key::AcmeEmail,
    Key::AcmeCa,
    Key::AcmeCaRoot,
    Key::HttpsRedirect,
    Key::HealthTimeout,
    Key::HealthPath,
    Key::DrainTimeout,
];

/// The options of the proxy's container (or service) itself, rather than of a route: a
/// command's help lists them only where the proxy is the subject (`proxy`, `config`).
const PROXY_HOST: &[Key] = &[
    Key::ProxyImage,
    Key::ProxyName,
    Key::ProxyHttpPort,
    Key::ProxyHttpsPort,
    Key::ProxyReplicas,
    Key::ProxyRegistry,
    Key::ProxyPublish,
    Key::ProxyTrustedProxies,
];

/// One option's declaration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    pub long: &'static str,
    pub short: Option<char>,
    pub env: &'static str,
    /// A variable the seed also read, for an option nobody set (`SCALE`, `DOCKER_HOST`, …).
    pub fallback_env: Option<&'static str>,
    pub kind: Kind,
    pub default: Option<&'static str>,
    pub heading: &'static str,
    pub help: &'static str,
    /// The commands that offer it (see `EVERY_PROJECT` and the others above).
    pub commands: &'static [&'static str],
    /// Another long name the flag answers to: Compose's spelling where docker flow's differs
    /// (`--file` for `--compose-path`, `--project-name` for `--project`).
    pub alias: Option<&'static str>,
}

impl Spec {
    const fn new(
        long: &'static str,
        kind: Kind,
        heading: &'static str,
        commands: &'static [&'static str],
        help: &'static str,
    ) -> Spec {
        Spec {
            long,
            short: None,
            env: "",
            fallback_env: None,
            kind,
            default: None,
            heading,
            help,
            commands,
            alias: None,
        }
    }
    const fn alias(mut self, long: &'static str) -> Spec {
        self.alias = Some(long);
        self
    }
    const fn short(mut self, c: char) -> Spec {
        self.short = Some(c);
        self
    }
    const fn env(mut self, var: &'static str) -> Spec {
        self.env = var;
        self
    }
    const fn fallback(mut self, var: &'static str) -> Spec {
        self.fallback_env = Some(var);
        self
    }
    const fn default(mut self, value: &'static str) -> Spec {
        self.default = Some(value);
        self
    }
}

macro_rules! keys {
    ($($key:ident = $name:literal),* $(,)?) => {
        /// A setting, by its `docker-flow.yml` key.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub(crate) enum Key { $($key),* }

        impl Key {
            /// Every setting, in the order `config` lists them.
            pub(crate) const ALL: &'static [Key] = &[$(Key::$key),*];

            /// The `docker-flow.yml` key, also clap's id.
            pub(crate) fn name(self) -> &'static str {
                match self { $(Key::$key => $name),* }
            }
        }
    };
}

keys! {
    ComposePath = "compose_path",
    ProjectDirectory = "project_directory",
    EnvFile = "env_file",
    Profile = "profile",
    Project = "project",
    SideTargets = "side_targets",
    Target = "target",
    Engine = "engine",
    BlueGreen = "blue_green",
    Flow = "flow",
    PullSideTargets = "pull_side_targets",
    Scale = "scale",
    SwitchMode = "switch_mode",
    TestCmd = "test_cmd",
    KeepOld = "keep_old",
    NoPromote = "no_promote",
    Canary = "canary",
    Pull = "pull",
    ServicePath = "service_path",
    ServicePort = "service_port",
    ServiceDomain = "service_domain",
    ProxyDriver = "proxy_driver",
    ProxyImage = "proxy_image",
    ProxyName = "proxy_name",
    ProxyHttpPort = "proxy_http_port",
    ProxyHttpsPort = "proxy_https_port",
    ProxyReplicas = "proxy_replicas",
    ProxyRegistry = "proxy_registry",
    ProxyPublish = "proxy_publish",
    Tls = "tls",
    TlsCert = "tls_cert",
    TlsKeyFile = "tls_key",
    AcmeEmail = "acme_email",
    AcmeCa = "acme_ca",
    AcmeCaRoot = "acme_ca_root",
    HttpsRedirect = "https_redirect",
    ProxyTrustedProxies = "proxy_trusted_proxies",
    HealthTimeout = "health_timeout",
    HealthPath = "health_path",
    DrainTimeout = "drain_timeout",
    LockWait = "lock_wait",
    CertPath = "cert_path",
    Host = "host",
    ProxyDockerCertPath = "proxy_docker_cert_path",
    ProxyDockerHost = "proxy_docker_host",
    ConsulAddress = "consul_address",
    ConsulTemplateFePath = "consul_template_fe_path",
    ConsulTemplateBePath = "consul_template_be_path",
    ProxyHost = "proxy_host",
    ProxyReconfPort = "proxy_reconf_port",
    DryRun = "dry_run",
    Format = "format",
    Progress = "progress",
    Quiet = "quiet",
    Ansi = "ansi",
}

impl Key {
    pub(crate) fn spec(self) -> Spec {
        use Kind::*;
        match self {
            Key::ComposePath => Spec::new("compose-path", List, PROJECT, EVERY_PROJECT, "Compose file, as -f/--file (repeatable; else COMPOSE_FILE)")
                .short('f').alias("file").env("FLOW_COMPOSE_PATH").fallback("COMPOSE_FILE"),
            Key::ProjectDirectory => Spec::new("project-directory", Text, PROJECT, EVERY_PROJECT, "The project's directory, as Compose's (docker-flow.yml is there)")
                .env("FLOW_PROJECT_DIRECTORY"),
            Key::EnvFile => Spec::new("env-file", List, PROJECT, EVERY_PROJECT, "Compose's --env-file (repeatable; else COMPOSE_ENV_FILES)")
                .env("FLOW_ENV_FILE").fallback("COMPOSE_ENV_FILES"),
            Key::Profile => Spec::new("profile", List, PROJECT, EVERY_PROJECT, "Compose's --profile (repeatable; else COMPOSE_PROFILES)")
                .env("FLOW_PROFILE").fallback("COMPOSE_PROFILES"),
            Key::Project => Spec::new("project", Text, PROJECT, EVERY_PROJECT, "Compose project name, as -p/--project-name (else COMPOSE_PROJECT_NAME)")
                .short('p').alias("project-name").env("FLOW_PROJECT").fallback("COMPOSE_PROJECT_NAME"),
            Key::SideTargets => Spec::new("side-target", List, PROJECT, DEPLOYING, "A service started with the target, never recreated (repeatable)")
                .env("FLOW_SIDE_TARGETS"),
            Key::Target => Spec::new("target", Text, PROJECT, EVERY_TARGET, "The Compose service a command acts on (as its SERVICE)")
                .short('t').env("FLOW_TARGET"),
            Key::Engine => Spec::new("engine", Text, PROJECT, EVERY_TARGET, "Where the project runs: compose, swarm or auto")
                .env("FLOW_ENGINE").default("auto"),
            Key::BlueGreen => Spec::new("blue-green", Bool, RELEASE, CHANGING, "Perform a blue-green deployment [true|false]")
                .short('b').env("FLOW_BLUE_GREEN").default("false"),
            Key::Flow => Spec::new("flow", List, RELEASE, SEED_ONLY, "Steps to run in order: deploy, test, proxy, stop-old, scale (repeatable; the style of Docker Flow 1.x)")
                .short('F').env("FLOW"),
            Key::PullSideTargets => Spec::new("pull-side-targets", Bool, RELEASE, DEPLOYING, "Pull side targets too [true|false]")
                .short('S').env("FLOW_PULL_SIDE_TARGETS").default("false"),
            Key::Scale => Spec::new("scale", Text, RELEASE, DEPLOYING, "Number of instances: N, +N or -N (relative to the running count)")
                .short('s').env("FLOW_SCALE").fallback("SCALE"),
            Key::SwitchMode => Spec::new("switch-mode", Bool, RELEASE, DEPLOYING, "Convert the target between blue-green and plain with this deploy, without downtime [true|false]")
                .env("FLOW_SWITCH_MODE").default("false"),
            Key::TestCmd => Spec::new("test-cmd", Argv, RELEASE, DEPLOYING, "Command that tests the new release before it gets traffic: exit 0 promotes it (run without a shell)")
                .env("FLOW_TEST_CMD"),
            Key::KeepOld => Spec::new("keep-old", Duration, RELEASE, DEPLOYING, "Keep the replaced release warm, out of rotation, this long (e.g. 10m): a rollback then only switches")
                .env("FLOW_KEEP_OLD").default("0s"),
            Key::NoPromote => Spec::new("no-promote", Bool, RELEASE, DEPLOYING, "Deploy and health-check it without making it live (a preview, reached with its key); promote or abort decides [true|false]")
                .env("FLOW_NO_PROMOTE").default("false"),
            Key::Canary => Spec::new("canary", Text, RELEASE, DEPLOYING, "N instances (or N%) of the new release share traffic with the live ones; promote or abort decides")
                .env("FLOW_CANARY"),
            Key::Pull => Spec::new("pull", Text, RELEASE, DEPLOYING, "When to pull the target's image: always, missing or never")
                .env("FLOW_PULL").default("always"),
            Key::ServicePath => Spec::new("service-path", List, PROXY, CHANGING, "Path prefix the proxy routes to the target (repeatable)")
                .env("FLOW_SERVICE_PATH"),
            Key::ServicePort => Spec::new("service-port", Number, PROXY, CHANGING, "Container port the proxy forwards to (default: the one exposed)")
                .env("FLOW_SERVICE_PORT"),
            Key::ServiceDomain => Spec::new("service-domain", List, PROXY, CHANGING, "Host name the proxy routes to the target (repeatable)")
                .env("FLOW_SERVICE_DOMAIN"),
            Key::ProxyDriver => Spec::new("proxy-driver", Text, PROXY, ROUTING, "Proxy driver: caddy, docker-flow-proxy or none")
                .env("FLOW_PROXY_DRIVER").default("caddy"),
            Key::ProxyImage => Spec::new("proxy-image", Text, PROXY, CHANGING, "Image of the proxy docker flow starts when none runs")
                .env("FLOW_PROXY_IMAGE").default(DEFAULT_PROXY_IMAGE),
            Key::ProxyName => Spec::new("proxy-name", Text, PROXY, ROUTING, "Name of the proxy container")
                .env("FLOW_PROXY_NAME").default("docker-flow-proxy"),
            Key::ProxyHttpPort => Spec::new("proxy-http-port", Number, PROXY, CHANGING, "Host port the proxy serves HTTP on")
                .env("FLOW_PROXY_HTTP_PORT").default("80"),
            Key::ProxyHttpsPort => Spec::new("proxy-https-port", Number, PROXY, CHANGING, "Host port the proxy serves HTTPS on (set when docker flow creates the proxy)")
                .env("FLOW_PROXY_HTTPS_PORT").default("443"),
            Key::ProxyReplicas => Spec::new("proxy-replicas", Number, PROXY, CHANGING, "Swarm mode: run the proxy as a Swarm service of N replicas (at most one a node, published in host mode) instead of one container on the manager")
                .env("FLOW_PROXY_REPLICAS"),
            Key::ProxyRegistry => Spec::new("proxy-registry", Text, PROXY, CHANGING, "Swarm mode with --proxy-replicas: registry (host[:port][/path]) docker flow pushes the replicas' image to (the proxy image with its helper), so that every node can pull it")
                .env("FLOW_PROXY_REGISTRY"),
            Key::ProxyPublish => Spec::new("proxy-publish", Text, PROXY, CHANGING, "Swarm mode with --proxy-replicas: how the replicas publish the proxy's ports: host (on each replica's node, keeping the client's address) or ingress (Swarm's routing mesh, on every node)")
                .env("FLOW_PROXY_PUBLISH").default("host"),
            Key::Tls => Spec::new("tls", Text, HTTPS, CHANGING, "Where the domains' certificates come from: acme, internal (Caddy's local CA) or off; --tls-cert and --tls-key give files")
                .env("FLOW_TLS").default("acme"),
            Key::TlsCert => Spec::new("tls-cert", Text, HTTPS, CHANGING, "Certificate (PEM, with its chain) for the route's domains; with --tls-key")
                .env("FLOW_TLS_CERT"),
            Key::TlsKeyFile => Spec::new("tls-key", Text, HTTPS, CHANGING, "Private key (PEM) of --tls-cert")
                .env("FLOW_TLS_KEY"),
            Key::AcmeEmail => Spec::new("acme-email", Text, HTTPS, CHANGING, "Email address the ACME CA registers the account under")
                .env("FLOW_ACME_EMAIL"),
            Key::AcmeCa => Spec::new("acme-ca", Text, HTTPS, CHANGING, "Directory URL of another ACME CA (default: Let's Encrypt)")
                .env("FLOW_ACME_CA"),
            Key::AcmeCaRoot => Spec::new("acme-ca-root", Text, HTTPS, CHANGING, "Root certificate (PEM) the proxy trusts for --acme-ca's own HTTPS")
                .env("FLOW_ACME_CA_ROOT"),
            Key::HttpsRedirect => Spec::new("https-redirect", Bool, HTTPS, CHANGING, "Redirect HTTP requests for the route's domains to HTTPS (308) [true|false]")
                .env("FLOW_HTTPS_REDIRECT").default("true"),
            Key::ProxyTrustedProxies => Spec::new("proxy-trusted-proxies", List, PROXY, CHANGING, "Addresses or CIDR ranges of proxies in front of the proxy (a load balancer) whose X-Forwarded-For is believed (repeatable; `none` clears; unset: left as it is)")
                .env("FLOW_PROXY_TRUSTED_PROXIES"),
            Key::HealthTimeout => Spec::new("health-timeout", Duration, TIMING, STARTING, "How long new instances may take to become healthy (e.g. 60s, 2m)")
                .env("FLOW_HEALTH_TIMEOUT").default("60s"),
            Key::HealthPath => Spec::new("health-path", Text, TIMING, STARTING, "Path the probe asks of a target without a Docker healthcheck (healthy: below 500)")
                .env("FLOW_HEALTH_PATH").default("/"),
            Key::DrainTimeout => Spec::new("drain-timeout", Duration, TIMING, CHANGING, "Time to finish requests in flight (old release)")
                .env("FLOW_DRAIN_TIMEOUT").default("30s"),
            Key::LockWait => Spec::new("lock-wait", Duration, TIMING, RUNNING, "How long to wait for another run's lock")
                .env("FLOW_LOCK_WAIT").default("0s"),
            Key::CertPath => Spec::new("cert-path", Text, CONNECTION, EVERY_PROJECT, "Docker certification path (falls back to DOCKER_CERT_PATH)")
                .env("FLOW_CERT_PATH").fallback("DOCKER_CERT_PATH"),
            Key::Host => Spec::new("host", Text, CONNECTION, EVERY_PROJECT, "Docker daemon socket to connect to (falls back to DOCKER_HOST)")
                .short('H').env("FLOW_HOST").fallback("DOCKER_HOST"),
            Key::ProxyDockerCertPath => Spec::new("proxy-docker-cert-path", Text, CONNECTION, ROUTING, "Docker certification path of the proxy's host")
                .env("FLOW_PROXY_DOCKER_CERT_PATH"),
            Key::ProxyDockerHost => Spec::new("proxy-docker-host", Text, CONNECTION, ROUTING, "Docker daemon socket of the proxy's host")
                .env("FLOW_PROXY_DOCKER_HOST"),
            Key::ConsulAddress => Spec::new("consul-address", Text, SEED, CHANGING, "Address of the Consul server (optional, http(s) URL)")
                .env("FLOW_CONSUL_ADDRESS").fallback("CONSUL_ADDRESS"),
            Key::ConsulTemplateFePath => Spec::new("consul-template-fe-path", Text, SEED, CHANGING, "Consul Template snippet for the proxy's frontend (docker-flow-proxy driver)")
                .env("FLOW_CONSUL_TEMPLATE_FE_PATH"),
            Key::ConsulTemplateBePath => Spec::new("consul-template-be-path", Text, SEED, CHANGING, "Consul Template snippet for the proxy's backend (docker-flow-proxy driver)")
                .env("FLOW_CONSUL_TEMPLATE_BE_PATH"),
            Key::ProxyHost => Spec::new("proxy-host", Text, SEED, ROUTING, "Host of Docker Flow Proxy's reconfigure endpoint (--proxy-driver docker-flow-proxy)")
                .env("FLOW_PROXY_HOST").default("127.0.0.1"),
            Key::ProxyReconfPort => Spec::new("proxy-reconf-port", Number, SEED, ROUTING, "Port of Docker Flow Proxy's reconfigure endpoint (--proxy-driver docker-flow-proxy)")
                .env("FLOW_PROXY_RECONF_PORT").default("2019"),
            Key::DryRun => Spec::new("dry-run", Bool, OUTPUT, RUNNING, "Print the plan and change nothing [true|false]")
                .env("FLOW_DRY_RUN").default("false"),
            Key::Format => Spec::new("format", Text, OUTPUT, FORMATTED, "Output format: text or json")
                .env("FLOW_FORMAT").default("text"),
            Key::Progress => Spec::new("progress", Text, OUTPUT, RUNNING, "How steps show: auto, tty, plain, json or quiet")
                .env("FLOW_PROGRESS").default("auto"),
            Key::Quiet => Spec::new("quiet", Bool, OUTPUT, RUNNING, "Print nothing on success [true|false]")
                .short('q').env("FLOW_QUIET").default("false"),
            Key::Ansi => Spec::new("ansi", Text, OUTPUT, EVERY_PROJECT, "Colours and redrawn lines: never, always or auto")
                .env("FLOW_ANSI").fallback("COMPOSE_ANSI").default("auto"),
        }
    }

    /// Whether `command`'s help lists the option (it takes it either way, as its declaration
    /// says): each help shows what a user of that command reaches for; the Docker connection,
    /// Docker Flow 1.x's options and the proxy container's own show in `config`'s (and the
    /// proxy's in `proxy`'s), HTTPS in the commands that write a route.
    pub(crate) fn shown_in(self, command: &str) -> bool {
        if command == "config" {
            return true;
        }
        match self.spec().heading {
            CONNECTION | SEED => false,
            HTTPS => matches!(command, "deploy" | "proxy"),
            _ if PROXY_HOST.contains(&self) => command == "proxy",
            _ => true,
        }
    }

    /// What the help calls the option's value: short, so that a group's options fit one line.
    fn value_name(self) -> String {
        match self {
            Key::ComposePath | Key::EnvFile | Key::TlsCert | Key::TlsKeyFile | Key::AcmeCaRoot => {
                "FILE".into()
            }
            Key::ProjectDirectory | Key::CertPath | Key::ProxyDockerCertPath => "DIR".into(),
            Key::Project | Key::Profile | Key::ProxyName => "NAME".into(),
            Key::Target | Key::SideTargets => "SERVICE".into(),
            Key::ServicePath | Key::HealthPath => "PATH".into(),
            Key::ServicePort | Key::ProxyHttpPort | Key::ProxyHttpsPort | Key::ProxyReconfPort => {
                "PORT".into()
            }
            Key::ServiceDomain => "DOMAIN".into(),
            Key::ProxyDriver => "DRIVER".into(),
            Key::AcmeCa | Key::ConsulAddress => "URL".into(),
            Key::AcmeEmail => "EMAIL".into(),
            _ if self.spec().kind == Kind::Duration => "DURATION".into(),
            _ => self.name().to_uppercase(),
        }
    }

    /// clap's argument for the option: raw text, so that `resolve` sees each value's source and
    /// validation (with its errors) happens in one place.
    pub(crate) fn arg(self) -> Arg {
        let s = self.spec();
        let mut arg = Arg::new(self.name())
            .value_name(self.value_name())
            .long(s.long)
            .env(s.env)
            .help(s.help)
            .help_heading(s.heading)
            // The help names the variable, never its value (it may be a secret).
            .hide_env_values(true)
            // Named in the man pages and docs/SETTINGS.md, and by the help's last line: each
            // option's variable is FLOW_ and its name.
            .hide_env(true);
        if let Some(c) = s.short {
            arg = arg.short(c);
        }
        if let Some(a) = s.alias {
            // Compose's spelling, named in the help text rather than beside the flag.
            arg = arg.alias(a);
        }
        if let Some(d) = s.default {
            // Shown in the help only: `resolve` reads defaults from the declaration, below the
            // file, so a default never hides a `docker-flow.yml` value.
            arg = arg.default_value(d);
        }
        match s.kind {
            Kind::Bool => arg
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("true")
                .value_name("BOOL"),
            Kind::List => arg.action(ArgAction::Append).value_delimiter(','),
            // `--scale -1` is a relative count, not a flag.
            _ if self == Key::Scale => arg.allow_hyphen_values(true),
            // `--drain-timeout -1s` reaches validation, which says a duration cannot be
            // negative (clap would call `-1s` an unexpected argument).
            Kind::Duration => arg.allow_hyphen_values(true),
            _ => arg,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_has_a_distinct_flag_and_variable_named_after_its_key() {
        let mut longs = std::collections::HashSet::new();
        let mut envs = std::collections::HashSet::new();
        for &key in Key::ALL {
            let s = key.spec();
            assert!(longs.insert(s.long), "{} twice", s.long);
            assert!(envs.insert(s.env), "{} twice", s.env);
            // The yml key is the flag with `_` (side_targets and flow keep the seed's names).
            if !matches!(key, Key::SideTargets | Key::Flow) {
                assert_eq!(s.long.replace('-', "_"), key.name());
                assert_eq!(s.env, format!("FLOW_{}", key.name().to_uppercase()));
            }
            assert!(!s.help.is_empty());
        }
    }
}
