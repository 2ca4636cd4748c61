//! The `wsx` binary: all of it is in the library (`src/lib.rs`), so that the fuzz targets can
//! reach the parsers too.

fn main() -> std::process::ExitCode {
    wsx::main()
}
