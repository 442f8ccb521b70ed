fn main() -> std::process::ExitCode {
    recoverysim::cli::main()
}
