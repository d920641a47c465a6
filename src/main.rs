use std::process::ExitCode;

fn main() -> ExitCode {
    git_seal::cli::main()
}
