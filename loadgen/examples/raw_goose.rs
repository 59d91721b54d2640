//! Raw Goose 0.19 with one GET transaction, the baseline of the benchmark suite
//! (bench/generators.py): `raw_goose URL USERS SECONDS`.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, users, seconds] = &args[..] else {
        eprintln!("usage: raw_goose URL USERS SECONDS");
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(loadgen::calibration::raw_goose(
            url,
            users.parse().expect("USERS is a number"),
            seconds.parse().expect("SECONDS is a number"),
        ))
        .unwrap();
}
