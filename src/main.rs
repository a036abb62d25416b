fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = pidone::app::main(args);
    pidone::log::flush_blocking();
    std::process::exit(code);
}
