fn main() -> std::process::ExitCode {
    docker_flow::run()
}
